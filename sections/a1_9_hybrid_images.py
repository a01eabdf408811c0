"""1.9 Hybrid images: one prompt in the low frequencies (seen from far), another in the high ones (seen close up)."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# (far prompt: low frequencies, close prompt: high frequencies); SPEC's pairs for IF, digits for the MNIST UNet
PAIRS = [
    ("a lithograph of a skull", "a lithograph of waterfalls"),
    ("a photo of a polar bear", "a photo of a dense snowy forest"),
    ("a photo of a green bird", "a photo of tree leaves"),
]
# A screen of all 90 ordered digit pairs (32 samples each, guidance 7) found pairs that read both ways at 0.8 only
# with a far 1: 5 pairs at kernel 9 σ 1.5 (1/3 most often, then 1/7), none at kernel 11 σ 2; the best with another
# far digit reached 0.71 (9/3). 4/9 stays as the example of a far digit other than 1.
DIGIT_PAIRS = [("1", "7"), ("1", "3"), ("4", "9")]

SECTION = Section(
    id="1.9",
    part="A",
    title="Hybrid images",
    template="a1_9_hybrid_images.md.j2",
    summary="Images that show one prompt from far and another close up, from low- and high-passed noise estimates.",
    # the low-pass of SPEC at 64 px; 28 px MNIST strokes need their own (σ 0.875, the same cut-off relative to the
    # image, is below a stroke's width). Probed on the quick UNet with 64 candidates a pair: kernel 13 σ 2 blurs the far
    # digit past what the classifier reads (best far reading 0.69, 1/7), kernel 9 σ 1.5 reached 0.87 / 0.96 for 1/7;
    # guidance 12 did worse than 7. Seeds, tries and clip_x0 as in 1.8; batch, max_batches and target as in 1.8
    params={"stride": 30, "cfg_scale": 7.0, "kernel": 33, "sigma": 2.0, "blur_28px": {"kernel": 9, "sigma": 1.5, "cfg_scale": 7.0},
            "tries": 4, "clip_x0": "none", "batch": 64, "max_batches": 4, "target": 0.8, "nearest": 10, "majority": 0.5},
    # as in 1.8, a second judge (0 = off): the `nearest` real training digits, low-passed the same way for the far
    # reading, must give each reading's digit a share ≥ `majority`
    # the MNIST tab's control: one batch of plain samples of each close digit (no hybrid), low-passed the same way; if
    # one of them already reads as the far digit, the far reading comes with a blurred close digit, not from the far prompt
    profiles={"smoke": {"stride": 330, "tries": 2, "batch": 4, "max_batches": 1}},
    prompts={"deepfloyd": PAIRS, "tiny": PAIRS, "mnist": DIGIT_PAIRS},
    seeds=[BASE_SEED, BASE_SEED + 19, BASE_SEED + 4],
    inputs=backend_inputs(mnist={"mnist": "dataset:mnist"}),
)


def compute(ctx):
    if hasattr(ctx.backend, "classify"):
        return _search_digits(ctx)
    import torch

    from generator.diffusion.estimators import cfg, hybrid
    from generator.diffusion.filters import gaussian_blur
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps
    from generator.mnist.search import candidate_seeds, pick_seed

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



def _search_digits(ctx):
    """The MNIST UNet: batches of candidates judged by the 2.0 classifier, the far reading on the low-passed image."""
    import torch
    import torch.nn.functional as F

    from generator.diffusion.estimators import cfg, hybrid
    from generator.diffusion.filters import gaussian_blur
    from generator.diffusion.schedule import strided_timesteps
    from generator.mnist.backend import digit_of
    from generator.mnist.data import load_mnist
    from generator.mnist.search import batch_sampler, nearest_digits, search_batches

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    timesteps = strided_timesteps(990, p["stride"])
    unconditional = backend.estimator(backend.encode(""))
    kernel, sigma, scale = p["blur_28px"]["kernel"], p["blur_28px"]["sigma"], p["blur_28px"]["cfg_scale"]

    def far_view(image):
        return gaussian_blur(image, kernel, sigma)

    judges = None
    if p["nearest"]:
        data = load_mnist(ctx.input_path("mnist"))
        ctx.note("data", data.source)
        # the far reading is a low-passed image, so it is compared with low-passed real digits
        real, labels = data.train_images * 2 - 1, data.train_labels
        judges = [lambda x, refs=refs: nearest_digits(x, refs, labels, k=p["nearest"]) for refs in (far_view(real), real)]

    def from_far(image):
        # the whole image shrunk to a third of its side on the background: what a reader sees from three times as far
        side = image.shape[-1]
        small = F.interpolate(image, size=side // 3, mode="area")
        canvas = torch.full_like(image, -1.0)
        start = (side - side // 3) // 2
        canvas[..., start : start + side // 3, start : start + side // 3] = small
        return canvas

    for pair, (far, close) in enumerate(ctx.prompts, start=1):
        plain = cfg(backend.estimator(backend.encode(close)), unconditional, scale)
        estimate = hybrid(cfg(backend.estimator(backend.encode(far)), unconditional, scale), plain, kernel=kernel, sigma=sigma)
        control = batch_sampler(plain, backend.schedule, timesteps, (p["batch"], *backend.image_shape), ctx.generator, p["clip_x0"])(BASE_SEED)
        ctx.metric(f"reads_{pair}_plain_far", float(backend.classify(far_view(control))[:, digit_of(far)].max()))

        sample_batch = batch_sampler(estimate, backend.schedule, timesteps, (p["batch"], *backend.image_shape), ctx.generator, p["clip_x0"])
        seeds = ctx.track(range(BASE_SEED, BASE_SEED + p["max_batches"]), f"hybrid {pair}: batches of {p['batch']}")
        readings = [(far_view, digit_of(far)), (lambda x: x, digit_of(close))]
        kept, sampled = search_batches(sample_batch, backend.classify, readings, seeds, p["target"], keep=5, vote=judges, majority=p["majority"])
        ctx.metric(f"candidates_{pair}", sampled)
        best = kept[0]
        for name, value in (("far", best.scores[0]), ("close", best.scores[1]), ("far_not_digit", best.not_digit[0]), ("close_not_digit", best.not_digit[1])):
            ctx.metric(f"reads_{pair}_{name}", value)
        if best.votes:
            ctx.metric(f"reads_{pair}_far_nearest", best.votes[0])
            ctx.metric(f"reads_{pair}_close_nearest", best.votes[1])
        for candidate in kept:
            meta = {"pair": pair, "seed": candidate.seed, "index": candidate.index, "chosen": candidate is best, "far": far, "close": close,
                    "kernel": kernel, "sigma": sigma, "batch": p["batch"], "probabilities": list(candidate.scores), "not_digit": list(candidate.not_digit),
                    "nearest": list(candidate.votes)}
            ctx.figure(f"{pair} {candidate.label} hybrid", candidate.image[0], f"close: “{close}” ({candidate.scores[1]:.2f}), {candidate.label}",
                       value_range=value_range, reading="close", **meta)
            ctx.figure(f"{pair} {candidate.label} far", far_view(candidate.image)[0],
                       f"low-passed: “{far}” ({candidate.scores[0]:.2f}), {candidate.label}", value_range=value_range, reading="far", **meta)
            if candidate is best:
                ctx.figure(f"{pair} {candidate.label} from far", from_far(candidate.image)[0], f"the same image from three times as far, {candidate.label}",
                           value_range=value_range, reading="from far", **meta)
