"""1.7 Image-to-image translation (SDEdit): an image noised to i_start and denoised with CFG, for a sweep of i_start."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# an input image and the prompt that guides its edit; the MNIST UNet is guided to each digit's own class
PHOTOS = [{"image": name, "prompt": "a high quality photo"} for name in ("test_image", "aerial_terrain", "chart_emblem")]
DIGITS = [{"image": "test_digit", "prompt": "7"}, {"image": "two", "prompt": "2"}, {"image": "eight", "prompt": "8"}]

PHOTO_FILES = {"test_image": "builtin:grace_hopper", "aerial_terrain": "inputs/aerial_terrain.png", "chart_emblem": "inputs/chart_emblem.png"}
DIGIT_FILES = {"test_digit": "inputs/digits/seven.png", "two": "inputs/digits/two.png", "eight": "inputs/digits/eight.png"}

SECTION = Section(
    id="1.7",
    part="A",
    title="Image-to-image translation",
    template="a1_7_image_to_image.md.j2",
    summary="SDEdit: the test image and two more, noised to i_start in [1, 3, 5, 7, 10, 20] and denoised with CFG.",
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    params={"stride": 30, "i_starts": [1, 3, 5, 7, 10, 20], "cfg_scale": 7.0, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "i_starts": [1, 2]}},
    prompts={"deepfloyd": PHOTOS, "tiny": PHOTOS, "mnist": DIGITS},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
)


def compute(ctx):
    from sections._image_to_image import sdedit_sweep

    sdedit_sweep(ctx)
