"""1.7.3 Text-conditional image-to-image translation: the SDEdit sweep of 1.7 guided by a prompt other than the image."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# an input image and the prompt that names what it should become
PHOTOS = [
    {"image": "test_image", "prompt": "a rocket ship"},
    {"image": "aerial_terrain", "prompt": "an oil painting of a snowy mountain village"},
    {"image": "web_image", "prompt": "a photo of a dog"},
]
# the digit each drawing shows ("original"): the MNIST tab reads every result both as the prompt and as the original
DIGITS = [{"image": "one", "prompt": "7", "original": "1"}, {"image": "three", "prompt": "8", "original": "3"}, {"image": "zero", "prompt": "6", "original": "0"}]

PHOTO_FILES = {"test_image": "builtin:grace_hopper", "aerial_terrain": "inputs/aerial_terrain.png", "web_image": "inputs/web_gift_box.png"}
DIGIT_FILES = {"one": "inputs/digits/one.png", "three": "inputs/digits/three.png", "zero": "inputs/digits/zero.png"}

SECTION = Section(
    id="1.7.3",
    part="A",
    title="Text-conditional image-to-image translation",
    template="a1_7_3_text_conditional_image_to_image.md.j2",
    summary="SDEdit guided by a prompt: the test image towards “a rocket ship”, and two more.",
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    # i_starts_28px: the MNIST UNet's schedule covers IF's grid only below t ≈ 900, so its sweep starts lower
    # and is finer where the blend happens
    params={"stride": 30, "i_starts": [1, 3, 5, 7, 10, 20], "i_starts_28px": [5, 10, 12, 14, 15, 16, 17, 18, 19, 20], "cfg_scale": 7.0, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "i_starts": [1, 2], "i_starts_28px": [1, 2]}},
    prompts={"deepfloyd": PHOTOS, "tiny": PHOTOS, "mnist": DIGITS},
    seeds=[BASE_SEED],
    inputs=backend_inputs(deepfloyd=PHOTO_FILES, tiny=PHOTO_FILES, mnist=DIGIT_FILES),
)


def compute(ctx):
    from sections._image_to_image import sdedit_sweep

    sdedit_sweep(ctx)
