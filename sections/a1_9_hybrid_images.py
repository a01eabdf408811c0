"""1.9 Hybrid images: one prompt in the low frequencies (seen from far), another in the high ones (seen close up)."""

from generator.section import BASE_SEED, Section

# (far prompt: low frequencies, close prompt: high frequencies); SPEC's pairs for IF, digits for the MNIST UNet
PAIRS = [
    ("a lithograph of a skull", "a lithograph of waterfalls"),
    ("a photo of a polar bear", "a photo of a dense snowy forest"),
    ("a photo of a green bird", "a photo of tree leaves"),
]
DIGIT_PAIRS = [("6", "5"), ("1", "7"), ("4", "9")]

SECTION = Section(
    id="1.9",
    part="A",
    title="Hybrid images",
    template="a1_9_hybrid_images.md.j2",
    summary="Images that show one prompt from far and another close up, from low- and high-passed noise estimates.",
    # the low-pass of SPEC at 64 px; thick 28 px MNIST strokes need a wider one (σ 0.875, the same cut-off
    # relative to the image, leaves the far digit in charge everywhere); seeds, tries and clip_x0 as in 1.8
    params={"stride": 30, "cfg_scale": 7.0, "kernel": 33, "sigma": 2.0, "blur_28px": {"kernel": 13, "sigma": 2.0}, "tries": 4, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "tries": 2}},
    prompts={"deepfloyd": PAIRS, "tiny": PAIRS, "mnist": DIGIT_PAIRS},
    seeds=[BASE_SEED, BASE_SEED + 19, BASE_SEED + 4],
)


def compute(ctx):
    import torch

    from generator.diffusion.estimators import cfg, hybrid
    from generator.diffusion.filters import gaussian_blur
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps
    from generator.seed_search import candidate_seeds, pick_seed

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    timesteps = strided_timesteps(990, p["stride"])
    unconditional = backend.estimator(backend.encode(""))
    small = backend.image_shape[-1] == 28
    kernel, sigma = (p["blur_28px"]["kernel"], p["blur_28px"]["sigma"]) if small else (p["kernel"], p["sigma"])

    def guided(prompt):
        return cfg(backend.estimator(backend.encode(prompt)), unconditional, p["cfg_scale"])

    def far_view(image):
        return gaussian_blur(image, kernel, sigma)

    for pair, ((far, close), seed) in enumerate(zip(ctx.prompts, ctx.seeds, strict=True), start=1):
        estimate = hybrid(guided(far), guided(close), kernel=kernel, sigma=sigma)
        candidates = candidate_seeds(seed, BASE_SEED, p["tries"])
        images = {}
        for candidate in ctx.track(candidates, f"hybrid {pair}"):
            generator = ctx.generator(candidate)
            noise = torch.randn((1, *backend.image_shape), generator=generator)
            images[candidate] = sample(estimate, backend.schedule, timesteps, noise, generator=generator, clip_x0=p["clip_x0"])
        best = pick_seed(backend, images, [(far_view, far), (lambda x: x, close)])
        for candidate, image in images.items():
            meta = {"pair": pair, "seed": candidate, "chosen": candidate == best, "far": far, "close": close, "kernel": kernel, "sigma": sigma}
            ctx.figure(f"{pair} seed {candidate} hybrid", image[0], f"close: “{close}”, far: “{far}”, seed {candidate}", value_range=value_range, reading="close", **meta)
            ctx.figure(f"{pair} seed {candidate} far", far_view(image)[0], f"low-passed (as from far): “{far}”, seed {candidate}", value_range=value_range, reading="far", **meta)

