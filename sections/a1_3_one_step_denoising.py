"""1.3 One-step denoising: the UNet's noise estimate, removed in one step, at t = 250, 500 and 750."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# the test photo for IF; a hand-drawn 7 for the MNIST UNet; both with a neutral prompt, which names no content:
# "a high quality photo" for IF, the empty prompt (the unconditional model) for the MNIST UNet
PHOTO = [{"image": "test_image", "prompt": "a high quality photo"}]
DIGIT = [{"image": "test_digit", "prompt": ""}]

PHOTO_FILES = {"test_image": "builtin:grace_hopper"}
DIGIT_FILES = {"test_digit": "inputs/digits/seven.png"}

SECTION = Section(
    id="1.3",
    part="A",
    title="One-step denoising",
    template="a1_3_one_step_denoising.md.j2",
    summary="The noisy test images of 1.1 cleaned by one noise estimate of the UNet.",
    params={"timesteps": [250, 500, 750]},
    prompts={"deepfloyd": PHOTO, "tiny": PHOTO, "mnist": DIGIT},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
)


def compute(ctx):
    from generator.diffusion.sampling import one_step_estimate
    from generator.diffusion.schedule import forward

    backend, seed, value_range = ctx.backend, ctx.seeds[0], ctx.backend.value_range
    prompt = ctx.prompts[0]["prompt"]
    image = backend.load_image(ctx.input_path(ctx.prompts[0]["image"]))
    estimate = backend.estimator(backend.encode(prompt))
    ctx.figure("original", image[0], "original (t = 0)", value_range=value_range, t=0)
    for t in ctx.track(ctx.params["timesteps"], "one-step estimates"):
        # the same ε as in 1.1: the seed's first draw
        noisy = forward(image, t, backend.schedule, ctx.noise(seed, image.shape))
        eps, _ = estimate(noisy, t)
        clean = one_step_estimate(noisy, t, eps, backend.schedule)
        ctx.figure(f"noisy t={t}", noisy[0], f"noisy, t = {t}, seed {seed}", value_range=value_range, t=t, seed=seed)
        ctx.figure(f"one-step t={t}", clean[0], f"one-step estimate from t = {t}, “{prompt}”, seed {seed}", value_range=value_range, t=t, seed=seed, prompt=prompt)
