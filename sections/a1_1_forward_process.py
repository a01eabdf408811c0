"""1.1 Forward process: the test image noised to t = 250, 500 and 750."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

PHOTO_FILES = {"test_image": "builtin:grace_hopper"}
DIGIT_FILES = {"test_image": "inputs/digits/seven.png"}

SECTION = Section(
    id="1.1",
    part="A",
    title="Forward process",
    template="a1_1_forward_process.md.j2",
    summary="The test image noised to t = 250, 500 and 750 with the IF schedule.",
    params={"timesteps": [250, 500, 750]},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
    uses_model=False,
)


def compute(ctx):
    from generator.diffusion.schedule import forward

    schedule = ctx.backend.schedule
    image = ctx.backend.load_image(ctx.input_path("test_image"))
    ctx.figure("original", image[0], "original test image (t = 0)", t=0)
    for t in ctx.track(ctx.params["timesteps"], "noising"):
        alpha_bar = schedule.alpha_bar(t)
        noisy = forward(image, t, schedule, ctx.noise(ctx.seeds[0], image.shape))
        ctx.figure(f"t={t}", noisy[0], f"t = {t}, ᾱ = {alpha_bar:.3f}, seed {ctx.seeds[0]}", t=t, alpha_bar=alpha_bar, seed=ctx.seeds[0])
