"""1.7.2 Inpainting: new content inside a mask, the rest kept by projecting the known pixels after every step."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# an input image, the box to repaint as slices [row0:row1, col0:col1] of the backend's image (m = 1 there), a prompt
PHOTOS = [
    {"image": "test_image", "box": [2, 20, 24, 42], "prompt": "a high quality photo"},  # SPEC's default: the top of the head
    {"image": "web_image", "box": [0, 24, 16, 48], "prompt": "a high quality photo"},  # the gift's bow
    {"image": "aerial_terrain", "box": [20, 44, 20, 44], "prompt": "a high quality photo"},  # the middle of the landscape
]
DIGITS = [
    {"image": "test_digit", "box": [1, 9, 10, 18], "prompt": "7"},  # SPEC's top region (rows 2–20, columns 24–42 of 64) at 28 px
    {"image": "three", "box": [0, 28, 0, 14], "prompt": "8"},  # the left half of a 3, redrawn so that it reads 8
    {"image": "one", "box": [0, 12, 0, 28], "prompt": "7"},  # the top of a 1, given a 7's bar
]
# the mask drawn over its image in orange, which stands out on both the light and the dark theme
MASK_COLOUR = (1.0, 0.55, 0.0)

PHOTO_FILES = {"test_image": "builtin:grace_hopper", "web_image": "inputs/web_gift_box.png", "aerial_terrain": "inputs/aerial_terrain.png"}
DIGIT_FILES = {"test_digit": "inputs/digits/seven.png", "three": "inputs/digits/three.png", "one": "inputs/digits/one.png"}

SECTION = Section(
    id="1.7.2",
    part="A",
    title="Inpainting",
    template="a1_7_2_inpainting.md.j2",
    summary="The test image with its top region repainted, and two more images with their own masks.",
    # candidate seeds BASE_SEED + k for k < tries; the first is shown unless the backend can score samples;
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    # a backend with a classifier (MNIST) samples `batch` candidates per seed from each seed on, up to `max_batches`
    # seeds, until one reads as the prompt with probability ≥ `target`
    params={"stride": 30, "cfg_scale": 7.0, "tries": 4, "clip_x0": "none", "batch": 32, "max_batches": 4, "target": 0.8},
    profiles={"smoke": {"stride": 330, "tries": 2, "batch": 4, "max_batches": 1}},
    prompts={"deepfloyd": PHOTOS, "tiny": PHOTOS, "mnist": DIGITS},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
)


def compute(ctx):
    import torch

    from generator.mnist.search import pick_seed
    from sections._sampling import cfg_estimator

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    seeds = [ctx.seeds[0] + k for k in range(p["tries"])]
    for entry in ctx.prompts:
        image_name, (row0, row1, col0, col1), prompt = entry["image"], entry["box"], entry["prompt"]
        image = backend.load_image(ctx.input_path(image_name))
        mask = torch.zeros_like(image[:, :1])
        mask[..., row0:row1, col0:col1] = 1.0
        estimate = cfg_estimator(backend, prompt, p["cfg_scale"])
        box = f"rows {row0}–{row1}, columns {col0}–{col1}"
        ctx.figure(f"{image_name} original", image[0], "original", value_range=value_range, source=image_name)
        ctx.figure(f"{image_name} mask", overlay(image, mask, value_range)[0], f"mask: {box}, in orange", value_range=(0.0, 1.0), source=image_name)
        ctx.figure(f"{image_name} to replace", (image * (1 - mask))[0], "the part to replace, removed", value_range=value_range, source=image_name)
        if hasattr(backend, "classify"):
            _search_digits(ctx, estimate, image, mask, image_name, prompt)
            continue
        results = {seed: ctx.sampling(seed).inpaint(estimate, image, mask) for seed in ctx.track(seeds, f"inpainting {image_name}")}
        best = pick_seed(backend, results, [(lambda x: x, prompt)])
        for seed, result in results.items():
            ctx.figure(f"{image_name} seed {seed}", result[0], f"inpainted, “{prompt}”, seed {seed}", value_range=value_range,
                       source=image_name, seed=seed, chosen=seed == best, prompt=prompt)


def overlay(image, mask, value_range):
    """The image in grey with the mask tinted orange and outlined, RGB in [0, 1]: visible on light and dark pages."""
    import torch
    import torch.nn.functional as F

    low, high = value_range
    grey = ((image.mean(dim=1, keepdim=True) - low) / (high - low)).clamp(0, 1).expand(-1, 3, -1, -1)
    colour = torch.tensor(MASK_COLOUR).view(1, 3, 1, 1)
    # the outline: mask pixels with a neighbour outside the mask
    inner = -F.max_pool2d(-F.pad(mask, (1, 1, 1, 1), value=0.0), 3, stride=1)
    edge = (mask - inner).clamp(0, 1)
    tinted = torch.where(mask > 0, 0.55 * grey + 0.45 * colour, grey)
    return torch.where(edge > 0, colour.expand_as(grey), tinted)


def _search_digits(ctx, estimate, image, mask, image_name, prompt):
    """The MNIST UNet: batches of candidates judged by the 2.0 classifier; the best few are kept."""
    from generator.mnist.backend import digit_of
    from generator.mnist.search import search_batches

    backend, p = ctx.backend, ctx.params

    def sample_batch(seed):
        return ctx.sampling(seed).inpaint(estimate, image, mask, count=p["batch"])

    seeds = ctx.track(range(ctx.seeds[0], ctx.seeds[0] + p["max_batches"]), f"inpainting {image_name}: batches of {p['batch']}")
    kept, sampled = search_batches(sample_batch, backend.classify, [(lambda x: x, digit_of(prompt))], seeds, p["target"], keep=4)
    best = kept[0]
    ctx.metric(f"reads_{image_name}_inpainted", best.scores[0])
    ctx.metric(f"reads_{image_name}_not_digit", best.not_digit[0])
    ctx.metric(f"candidates_{image_name}", sampled)
    for candidate in kept:
        ctx.figure(f"{image_name} {candidate.label}", candidate.image[0], f"inpainted, “{prompt}” ({candidate.scores[0]:.2f}), {candidate.label}",
                   value_range=backend.value_range, source=image_name, seed=candidate.seed, index=candidate.index, batch=p["batch"],
                   chosen=candidate is best, prompt=prompt, probability=candidate.scores[0], not_digit=candidate.not_digit[0])

