"""1.7.1 Hand-drawn and web images: the SDEdit sweep of 1.7 on a web image and two hand drawings."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# an input image and the prompt that guides its edit; for the MNIST UNet a typeset digit is the "web image"
PHOTOS = [{"image": name, "prompt": "a high quality photo"} for name in ("web_image", "house_drawing", "sailboat_drawing")]
DIGITS = [{"image": "web_digit", "prompt": "4"}, {"image": "three_scribble", "prompt": "3"}, {"image": "five_scribble", "prompt": "5"}]

# a clip-art gift box from matplotlib's sample data; drawings from scripts/draw_inputs.py
PHOTO_FILES = {"web_image": "inputs/web_gift_box.png", "house_drawing": "inputs/drawing_house.png", "sailboat_drawing": "inputs/drawing_sailboat.png"}
DIGIT_FILES = {"web_digit": "inputs/digits/typeset_four.png", "three_scribble": "inputs/digits/scribble_three.png", "five_scribble": "inputs/digits/scribble_five.png"}

SECTION = Section(
    id="1.7.1",
    part="A",
    title="Hand-drawn and web images",
    template="a1_7_1_hand_drawn_and_web_images.md.j2",
    summary="SDEdit of a web image and two hand drawings, i_start in [1, 3, 5, 7, 10, 20].",
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
