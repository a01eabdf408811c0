"""Sprite sheets of GIFs (generator/sprites.py): every frame where the scrubber looks for it, the same bytes every time."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from generator.site import media
from generator.site.sprites import MAX_SHEET_WIDTH, sprite_name, sprite_sheet


def _frames(count: int, height: int, width: int, colour: bool = False) -> list[np.ndarray]:
    """Frames that differ everywhere (so the GIF writer keeps and does not crop them), each with a mark of its index."""
    frames = []
    for k in range(count):
        frame = np.full((height, width), 20 + 9 * k, dtype=np.uint8)
        frame[: 1 + k % height, : 1 + k % width] = 250 - 3 * k
        frames.append(np.stack([frame, 255 - frame, frame // 2], axis=-1) if colour else frame)
    return frames


def _write_gif(path, frames) -> None:
    path.write_bytes(media.gif_bytes(frames))


def _decoded(path) -> list[np.ndarray]:
    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def _sheet(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("colour", [False, True])
def test_sprite_sheet_puts_frame_k_at_column_k_mod_cols_row_k_div_cols(tmp_path, colour):
    gif = tmp_path / "trajectory.gif"
    _write_gif(gif, _frames(7, 12, 10, colour))
    png, meta = sprite_sheet(gif)
    assert meta["frames"] == 7 and meta["frame_w"] == 10 and meta["frame_h"] == 12
    assert meta["cols"] == 7 and meta["rows"] == 1
    assert meta["frame_ms"] == 80  # media.gif_bytes' pace
    sheet = _sheet(png)
    assert sheet.shape[:2] == (meta["rows"] * 12, meta["cols"] * 10)
    for k, frame in enumerate(_decoded(gif)):
        row, col = divmod(k, meta["cols"])
        np.testing.assert_array_equal(sheet[row * 12:(row + 1) * 12, col * 10:(col + 1) * 10], frame, err_msg=f"frame {k}")


def test_sprite_sheet_wraps_rows_to_stay_within_the_width_limit(tmp_path):
    gif = tmp_path / "wide.gif"
    frame_w = 1000
    _write_gif(gif, _frames(10, 4, frame_w))
    png, meta = sprite_sheet(gif)
    assert meta["cols"] == MAX_SHEET_WIDTH // frame_w == 4
    assert meta["rows"] == 3
    sheet = _sheet(png)
    assert sheet.shape[1] <= MAX_SHEET_WIDTH
    frames = _decoded(gif)
    np.testing.assert_array_equal(sheet[8:12, 1000:2000], frames[9])  # the last frame: row 2, column 1
    assert (sheet[8:12, 2000:] == 0).all()  # the unused cells of the last row stay empty


def test_sprite_sheet_is_the_same_bytes_every_time(tmp_path):
    first, second = tmp_path / "a.gif", tmp_path / "b.gif"
    _write_gif(first, _frames(5, 8, 8, colour=True))
    _write_gif(second, _frames(5, 8, 8, colour=True))
    png, meta = sprite_sheet(first)
    assert sprite_sheet(first) == (png, meta)
    assert sprite_sheet(second)[0] == png


def test_sprite_sheet_of_a_grey_gif_is_a_grey_png(tmp_path):
    gif = tmp_path / "grey.gif"
    _write_gif(gif, _frames(3, 6, 6))
    png, _ = sprite_sheet(gif)
    assert Image.open(io.BytesIO(png)).mode == "L"


def test_sprite_sheet_of_a_file_that_is_not_a_gif_is_one_sentence(tmp_path):
    broken = tmp_path / "broken.gif"
    broken.write_bytes(b"GIF89a not really")
    with pytest.raises(ValueError, match="broken.gif is not a readable GIF"):
        sprite_sheet(broken)
    png = tmp_path / "still.gif"
    png.write_bytes(media.png_bytes(np.zeros((4, 4), dtype=np.uint8)))
    with pytest.raises(ValueError, match="is a PNG image, not a GIF"):
        sprite_sheet(png)


def test_sprite_name_sits_beside_its_gif():
    assert sprite_name("trajectory.gif") == "trajectory.sprite.png"
    assert sprite_name("2-seed 7.GIF") == "2-seed 7.sprite.png"


def test_ctx_gif_stores_its_own_pixels_and_records_the_size_it_is_shown_at(tmp_path):
    """ctx.gif(scale=4) writes the frames at their own pixels (upscaling in the file multiplied the committed GIFs' bytes
    by about 16: 2.4's trajectory was 3.2 MB) and records 4x their size, which the scrubber's <img> carries."""
    from conftest import REPO

    from generator.engine.section import Section
    from generator.run.context import Context
    from generator.run.work import Reporter
    from generator.site.render import Figure, Renderer

    section = Section(id="9.1", part="B", title="GIF", template="x.md.j2")
    out = tmp_path / "out"
    out.mkdir()
    ctx = Context(section=section, profile="quick", backend_name=None, backend_loader=None, prompts=[], root=REPO, out_dir=out,
                  artifact_dir=tmp_path / "artifacts", work_dir=tmp_path / "work", upstream_artifacts={}, reporter=Reporter())
    frames = _frames(5, 7, 9)
    ctx.gif("trajectory", frames, "five frames", value_range=(0.0, 255.0), scale=4)
    [entry] = ctx.figures
    assert (entry["width"], entry["height"], entry["scale"], entry["frames"]) == (36, 28, 4, 5)
    decoded = _decoded(out / entry["file"])
    assert [frame.shape[:2] for frame in decoded] == [(7, 9)] * 5
    assert all(np.array_equal(got[..., 0] if got.ndim == 3 else got, want) for got, want in zip(decoded, frames, strict=True))

    meta = {k: v for k, v in entry.items() if k not in ("kind", "name", "file", "caption")}
    figure = Figure(kind="gif", name="trajectory", src="trajectory.gif", caption="five frames", meta=meta)
    html = Renderer(REPO / "templates").env.from_string('{% import "_interactive.md.j2" as i %}{{ i.scrub(f) }}').render(f=figure)
    assert '<img class="off-glb" src="trajectory.gif" alt="five frames" loading="lazy" width="36" height="28">' in html
