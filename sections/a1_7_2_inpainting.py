"""1.7.2 Inpainting: new content inside a mask, the rest kept by projecting the known pixels after every step."""

from generator.section import BASE_SEED, Section, backend_inputs

# an input image, the box to repaint as slices [row0:row1, col0:col1] of the backend's image (m = 1 there), a prompt
PHOTOS = [
    {"image": "test_image", "box": [2, 20, 24, 42], "prompt": "a high quality photo"},  # SPEC's default: the top of the head
    {"image": "web_image", "box": [0, 24, 16, 48], "prompt": "a high quality photo"},  # the gift's bow
    {"image": "aerial_terrain", "box": [20, 44, 20, 44], "prompt": "a high quality photo"},  # the middle of the landscape
]
DIGITS = [
    {"image": "test_digit", "box": [15, 28, 0, 28], "prompt": "7"},  # the lower half of a 7, redrawn as a 7
    {"image": "three", "box": [0, 28, 0, 12], "prompt": "8"},  # the left side of a 3, redrawn so that it reads 8
    {"image": "one", "box": [0, 10, 0, 28], "prompt": "7"},  # the top of a 1, given a 7's bar
]

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
    params={"stride": 30, "cfg_scale": 7.0, "tries": 4, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "tries": 2}},
    prompts={"deepfloyd": PHOTOS, "tiny": PHOTOS, "mnist": DIGITS},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
)


def compute(ctx):
    import torch

    from generator.diffusion.estimators import cfg
    from generator.diffusion.sampling import inpaint
    from generator.diffusion.schedule import strided_timesteps
    from generator.seed_search import pick_seed

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    timesteps = strided_timesteps(990, p["stride"])
    seeds = [ctx.seeds[0] + k for k in range(p["tries"])]
    for entry in ctx.prompts:
        image_name, (row0, row1, col0, col1), prompt = entry["image"], entry["box"], entry["prompt"]
        image = backend.load_image(ctx.input_path(image_name))
        mask = torch.zeros_like(image[:, :1])
        mask[..., row0:row1, col0:col1] = 1.0
        estimate = cfg(backend.estimator(backend.encode(prompt)), backend.estimator(backend.encode("")), p["cfg_scale"])
        results = {}
        for seed in ctx.track(seeds, f"inpainting {image_name}"):
            generator = ctx.generator(seed)
            results[seed] = inpaint(estimate, backend.schedule, timesteps, image, mask, torch.randn(image.shape, generator=generator), generator, clip_x0=p["clip_x0"])
        best = pick_seed(backend, results, [(lambda x: x, prompt)])
        box = f"rows {row0}–{row1}, columns {col0}–{col1}"
        ctx.figure(f"{image_name} original", image[0], "original", value_range=value_range, source=image_name)
        ctx.figure(f"{image_name} mask", mask[0], f"mask: {box}", value_range=(0.0, 1.0), source=image_name)
        ctx.figure(f"{image_name} to replace", (image * (1 - mask))[0], "the part to replace, removed", value_range=value_range, source=image_name)
        for seed, result in results.items():
            ctx.figure(f"{image_name} seed {seed}", result[0], f"inpainted, “{prompt}”, seed {seed}", value_range=value_range,
                       source=image_name, seed=seed, chosen=seed == best, prompt=prompt)

