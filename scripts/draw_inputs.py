"""Draw the committed input images of Part A into inputs/ (re-runnable; the same bytes every time).

    .venv/bin/python scripts/draw_inputs.py

- Hand drawings (1.7.1): a house and a sailboat, wobbly crayon strokes drawn with PIL.
- Derived from matplotlib's sample data (shipped with matplotlib, BSD-compatible licence): a clip-art
  gift box (the "web image"), an aerial-looking shaded relief of the Jacksboro fault elevation model,
  and the polar-chart emblem of matplotlib's logo.
- Digits for the MNIST backend (28 × 28, white strokes on black like MNIST): clean and sloppy
  hand-drawn strokes, and one typeset digit (DejaVu Sans, shipped with matplotlib) as its "web image".

Section inputs name these files; their bytes are fingerprinted, so re-running this script changes no
result unless a drawing changed.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

INPUTS = Path(__file__).resolve().parents[1] / "inputs"
SEED = 1729

Point = tuple[float, float]


def wobbly(points: list[Point], rng: np.random.Generator, amount: float, per_segment: int = 6) -> list[Point]:
    """A polyline resampled and jittered like a hand-drawn stroke (smooth low-frequency wobble)."""
    dense = []
    for (x0, y0), (x1, y1) in pairwise(points):
        for k in range(per_segment):
            f = k / per_segment
            dense.append((x0 + f * (x1 - x0), y0 + f * (y1 - y0)))
    dense.append(points[-1])
    offsets = rng.normal(0.0, amount, size=(len(dense), 2))
    kernel = np.ones(min(5, len(dense))) / min(5, len(dense))
    smooth = np.stack([np.convolve(offsets[:, i], kernel, mode="same") for i in range(2)], axis=1)
    return [(x + dx, y + dy) for (x, y), (dx, dy) in zip(dense, smooth, strict=True)]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> list[Point]:
    """Points on an ellipse from angle `start` to `end` in degrees (0 = right, 90 = down, image coordinates)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(start, end, n)]


def stroke(draw: ImageDraw.ImageDraw, points: list[Point], fill: str | int, width: int) -> None:
    draw.line(points, fill=fill, width=width, joint="curve")
    radius = width / 2
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


# ---------------------------------------------------------------- hand drawings (64 px IF inputs)


def drawing_house(rng: np.random.Generator) -> Image.Image:
    """A child's drawing: a house with a red roof, a door, a window, a sun and grass."""
    image = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(image)
    draw.polygon(wobbly([(70, 120), (186, 120), (186, 210), (70, 210)], rng, 1.5), fill="#f4e3b5")
    draw.polygon(wobbly([(58, 122), (128, 58), (198, 122)], rng, 1.5), fill="#d8432c")
    draw.rectangle((112, 160, 142, 210), fill="#7a4b25")
    draw.rectangle((150, 138, 176, 162), fill="#8fd0f5")
    draw.ellipse((196, 18, 240, 62), fill="#ffd23f")
    for outline in ([(70, 120), (186, 120), (186, 210), (70, 210), (70, 120)], [(58, 122), (128, 58), (198, 122)]):
        stroke(draw, wobbly(outline, rng, 1.2), "#222222", 4)
    for angle in range(0, 360, 45):
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        stroke(draw, wobbly([(218 + 28 * c, 40 + 28 * s), (218 + 40 * c, 40 + 40 * s)], rng, 0.6, 2), "#f0a500", 3)
    stroke(draw, wobbly([(0, 214), (64, 210), (128, 216), (192, 210), (256, 214)], rng, 2.0), "#3c9a3c", 8)
    return image


def drawing_sailboat(rng: np.random.Generator) -> Image.Image:
    """A child's drawing: a sailboat on blue waves under a cloud."""
    image = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(image)
    draw.polygon(wobbly([(60, 170), (200, 170), (176, 204), (84, 204)], rng, 1.5), fill="#a0522d")
    draw.polygon(wobbly([(132, 48), (132, 160), (200, 160)], rng, 1.5), fill="#f7f7f7")
    draw.polygon(wobbly([(124, 70), (124, 160), (74, 160)], rng, 1.5), fill="#e94f4f")
    stroke(draw, wobbly([(128, 40), (128, 170)], rng, 0.8), "#222222", 5)
    stroke(draw, wobbly([(132, 48), (132, 160), (200, 160), (132, 48)], rng, 1.0), "#222222", 3)
    for y in (206, 224, 242):
        waves = [(x, y + 6 * math.sin(x / 14.0 + y)) for x in range(0, 257, 16)]
        stroke(draw, wobbly(waves, rng, 1.0, 3), "#2a6fd6", 6)
    for cx, cy, r in ((58, 46, 20), (84, 38, 26), (110, 48, 18)):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill="#cfd8e3")
    return image


# ---------------------------------------------------------------- derived from matplotlib's sample data


def sample_data(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


def on_white(image: Image.Image) -> Image.Image:
    """Transparent pixels become white (an RGBA clip-art over a web page's background)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, "white")
    background.alpha_composite(rgba)
    return background.convert("RGB")


def web_gift_box() -> Image.Image:
    """The gift box clip-art of matplotlib's sample data, on a white page."""
    with Image.open(sample_data("Minduka_Present_Blue_Pack.png")) as image:
        return on_white(image)


def chart_emblem() -> Image.Image:
    """The polar bar chart in matplotlib's logo, cut out as a disc on white."""
    with Image.open(sample_data("logo2.png")) as image:
        logo = on_white(image)
    cx, cy, r = 326, 65, 43
    crop = logo.crop((cx - r, cy - r, cx + r, cy + r)).resize((172, 172), Image.Resampling.LANCZOS)
    disc = Image.new("L", crop.size, 0)
    ImageDraw.Draw(disc).ellipse((0, 0, 171, 171), fill=255)
    return Image.composite(crop, Image.new("RGB", crop.size, "white"), disc)


def aerial_terrain() -> Image.Image:
    """A shaded relief of the Jacksboro fault elevation model (USGS), which reads as an aerial photo."""
    from matplotlib import colormaps
    from matplotlib.colors import LightSource

    with np.load(sample_data("jacksboro_fault_dem.npz")) as dem:
        elevation, dx, dy = dem["elevation"], float(dem["dx"]), float(dem["dy"])
    rgb = LightSource(azdeg=315, altdeg=45).shade(elevation, cmap=colormaps["gist_earth"], blend_mode="soft", vert_exag=1.0, dx=dx, dy=dy)
    image = Image.fromarray((rgb[..., :3] * 255).round().astype(np.uint8))
    side = min(image.size)
    return image.crop((0, 0, side, side)).resize((256, 256), Image.Resampling.LANCZOS)


# ---------------------------------------------------------------- digits for the MNIST backend (28 px)

SCALE = 10  # strokes are drawn at 280 px and downsampled, which anti-aliases them like MNIST's


def digit(strokes: list[list[Point]], rng: np.random.Generator, width: float = 2.4, jitter: float = 0.0) -> Image.Image:
    """White strokes on black, given in a 20 × 20 box that sits in the middle of 28 × 28 (MNIST's layout)."""
    big = Image.new("L", (28 * SCALE, 28 * SCALE), 0)
    draw = ImageDraw.Draw(big)
    for points in strokes:
        placed = [((x + 4) * SCALE, (y + 4) * SCALE) for x, y in points]
        if jitter:
            placed = wobbly(placed, rng, jitter * SCALE, 3)
        stroke(draw, placed, 255, round(width * SCALE))
    return big.resize((28, 28), Image.Resampling.BOX)


def typeset_digit(char: str) -> Image.Image:
    """A digit in DejaVu Sans Bold (matplotlib's font): printed, not handwritten."""
    import matplotlib

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"), 22 * SCALE)
    big = Image.new("L", (28 * SCALE, 28 * SCALE), 0)
    ImageDraw.Draw(big).text((14 * SCALE, 14 * SCALE), char, fill=255, font=font, anchor="mm")
    return big.resize((28, 28), Image.Resampling.BOX)


def digits(rng: np.random.Generator) -> dict[str, Image.Image]:
    return {
        "seven": digit([[(3, 2), (16, 2), (8, 19)]], rng),
        "one": digit([[(12, 1), (8, 19)]], rng),
        "two": digit([arc(10, 6, 6, 5, 180, 360, 16)[:-4] + [(15, 8), (4, 19), (17, 19)]], rng),
        "three": digit([arc(9, 5, 6, 4.5, 200, 450), arc(9, 14, 6.5, 5, 270, 520)], rng),
        "zero": digit([arc(10, 10, 6, 9, 0, 360, 40)], rng),
        "eight": digit([arc(10, 5, 5, 4.5, 0, 360, 32), arc(10, 14.5, 6, 5, 0, 360, 32)], rng),
        # sloppy strokes: a three of two loose arcs that miss each other, a five with a detached bar
        "scribble_three": digit([arc(8, 5, 6, 4, 190, 420), arc(10, 14, 6, 5.5, 280, 500)], rng, width=2.0, jitter=0.35),
        "scribble_five": digit([[(8, 1), (17, 0)], [(6, 2), (5, 9)], arc(10, 13, 6, 5.5, 225, 500)], rng, width=2.0, jitter=0.35),
        "typeset_four": typeset_digit("4"),
    }


def main() -> None:
    rng = np.random.default_rng(SEED)
    images = {
        "drawing_house.png": drawing_house(rng),
        "drawing_sailboat.png": drawing_sailboat(rng),
        "web_gift_box.png": web_gift_box(),
        "chart_emblem.png": chart_emblem(),
        "aerial_terrain.png": aerial_terrain(),
        **{f"digits/{name}.png": image for name, image in digits(rng).items()},
    }
    for name, image in images.items():
        path = INPUTS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, optimize=True)
        print(f"wrote {path.relative_to(INPUTS.parent)} ({image.width}×{image.height})")


if __name__ == "__main__":
    main()
