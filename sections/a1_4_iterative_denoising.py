"""1.4 Iterative denoising: the test image noised to t = 690 and denoised by strided DDPM steps."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# the test photo for IF; a hand-drawn 7 and its class for the MNIST UNet
PHOTO = [{"image": "test_image", "prompt": "a high quality photo"}]
DIGIT = [{"image": "test_digit", "prompt": "7"}]

PHOTO_FILES = {"test_image": "builtin:grace_hopper"}
DIGIT_FILES = {"test_digit": "inputs/digits/seven.png"}

SECTION = Section(
    id="1.4",
    part="A",
    title="Iterative denoising",
    template="a1_4_iterative_denoising.md.j2",
    summary="Strided DDPM denoising from t = 690, every 5th step shown, beside one-step and blur results.",
    # i_start indexes the strided timesteps 990, 990 − stride, …, 0: i_start 10 is t = 690; a frame every 5th step
    # clip_x0: x̂₀ as the formulas give it ("none"), clamped to [-1, 1] ("clip"), or IF's dynamic thresholding ("dynamic")
    params={"stride": 30, "i_start": 10, "every": 5, "blur": {"kernel": 7, "sigma": 2.0}, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "i_start": 1, "every": 1}},
    prompts={"deepfloyd": PHOTO, "tiny": PHOTO, "mnist": DIGIT},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
)


def compute(ctx):
    from generator.diffusion.filters import gaussian_blur
    from generator.diffusion.sampling import one_step_estimate

    backend, seed, value_range, p = ctx.backend, ctx.seeds[0], ctx.backend.value_range, ctx.params
    prompt, i_start = ctx.prompts[0]["prompt"], p["i_start"]
    image = backend.load_image(ctx.input_path(ctx.prompts[0]["image"]))
    estimate = backend.estimator(backend.encode(prompt))

    # one run: its first draw is the forward noise (as in 1.1), the rest the DDPM steps' noise
    run = ctx.sampling(seed)
    t_start = run.timesteps[i_start]
    noisy = run.forward(image, i_start)
    frames, shown = [noisy], {t_start: noisy}

    def keep(state):
        frames.append(state["x"])
        if (state["i"] + 1 - i_start) % p["every"] == 0 and state["t_prev"] >= 0:
            shown[state["t_prev"]] = state["x"]

    clean = run.sample(estimate, noisy, i_start=i_start, callback=keep, progress="denoising")

    for t, x in shown.items():
        ctx.figure(f"t={t}", x[0], f"noisy start, t = {t}" if t == t_start else f"denoised to t = {t}", value_range=value_range, t=t, seed=seed)
    caption = f"from t = {t_start} (i_start = {i_start}), prompt “{prompt}”, seed {seed}"
    ctx.figure("original", image[0], "original", value_range=value_range)
    ctx.figure("iterative", clean[0], f"iteratively denoised {caption}", value_range=value_range, t=t_start, seed=seed, prompt=prompt)
    eps, _ = estimate(noisy, t_start)
    ctx.figure("one-step", one_step_estimate(noisy, t_start, eps, run.schedule)[0], f"one-step estimate {caption}", value_range=value_range, t=t_start, seed=seed)
    blur = p["blur"]
    ctx.figure("blur", gaussian_blur(noisy, blur["kernel"], blur["sigma"])[0], f"Gaussian blur (kernel {blur['kernel']}, σ = {blur['sigma']:g}) of the noisy image at t = {t_start}",
               value_range=value_range, t=t_start)
    ctx.gif("trajectory", frames + [clean], f"every step from t = {t_start} to the clean image", value_range=value_range, scale=max(1, 256 // image.shape[-1]), t=t_start, seed=seed)
