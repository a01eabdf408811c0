"""1.2 Classical denoising: the best Gaussian blur of each noisy image, chosen by PSNR."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

PHOTO_FILES = {"test_image": "builtin:grace_hopper"}
DIGIT_FILES = {"test_image": "inputs/digits/seven.png"}

SECTION = Section(
    id="1.2",
    part="A",
    title="Classical denoising",
    template="a1_2_classical_denoising.md.j2",
    summary="Gaussian-blur denoising of each noisy image, kernel and sigma picked by a PSNR sweep.",
    params={
        "timesteps": [250, 500, 750],
        "kernels": [3, 5, 7, 9, 11, 13, 15],
        "sigmas": [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0],
        "reference": {"kernel": 7, "sigma": 2.0},
    },
    profiles={"smoke": {"kernels": [3, 7], "sigmas": [1.0, 2.0]}},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
    uses_model=False,
)


def psnr(image, reference) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), clipped to that range first."""
    import math

    mse = float(((image.clamp(-1, 1) - reference) ** 2).mean())
    return 10 * math.log10(4.0 / mse)


def compute(ctx):
    from generator.diffusion.filters import gaussian_blur
    from generator.diffusion.schedule import forward

    schedule = ctx.backend.schedule
    image = ctx.backend.load_image(ctx.input_path("test_image"))
    ref = ctx.params["reference"]
    for t in ctx.track(ctx.params["timesteps"], "blur sweep"):
        noisy = forward(image, t, schedule, ctx.noise(ctx.seeds[0], image.shape))
        scores = {(k, s): psnr(gaussian_blur(noisy, k, s), image) for k in ctx.params["kernels"] for s in ctx.params["sigmas"]}
        (kernel, sigma), best = max(scores.items(), key=lambda kv: kv[1])
        noisy_psnr = psnr(noisy, image)
        reference = gaussian_blur(noisy, ref["kernel"], ref["sigma"])
        ctx.figure(f"noisy t={t}", noisy[0], f"noisy, t = {t}: PSNR {noisy_psnr:.1f} dB", t=t, seed=ctx.seeds[0])
        ctx.figure(f"blur t={t}", gaussian_blur(noisy, kernel, sigma)[0],
                   f"best blur, t = {t}: kernel {kernel}, σ = {sigma:g}, PSNR {best:.1f} dB", t=t, kernel=kernel, sigma=sigma)
        ctx.figure(f"reference t={t}", reference[0],
                   f"kernel {ref['kernel']}, σ = {ref['sigma']:g} (seed write-up), t = {t}: PSNR {psnr(reference, image):.1f} dB", t=t)
        ctx.metric(f"psnr_noisy_t{t}", noisy_psnr)
        ctx.metric(f"psnr_blur_t{t}", best)
        ctx.metric(f"kernel_t{t}", kernel)
        ctx.metric(f"sigma_t{t}", sigma)
