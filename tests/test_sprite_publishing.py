"""Sprite sheets in the site build (generator/site/hooks.py): made once per GIF content outside cache/, one cell per
frame the section wrote, and the interactive figures' links pointing where MkDocs serves the page."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from generator.site import hooks, media, sprites


def _gif(path: Path, shades: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(media.gif_bytes([np.full((6, 8), shade, dtype=np.uint8) for shade in shades]))
    return path


def _cells(png: bytes, meta: dict) -> list[int]:
    sheet = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    h, w = meta["frame_h"], meta["frame_w"]
    return [int(sheet[(k // meta["cols"]) * h, (k % meta["cols"]) * w]) for k in range(meta["frames"])]


def test_sprite_sheet_gives_frames_the_gif_writer_merged_their_own_cells(tmp_path):
    shades = [10, 60, 60, 60, 120, 200, 200]  # Pillow stores the runs of 60 and of 200 as one frame each
    gif = _gif(tmp_path / "trajectory.gif", shades)
    assert Image.open(gif).n_frames == 4
    png, meta = sprites.sprite_sheet(gif)
    assert meta["frames"] == len(shades) and meta["frame_ms"] == 80
    assert _cells(png, meta) == shades


def test_each_gif_gets_one_sheet_outside_cache_made_once_per_content(tmp_path, monkeypatch):
    cache, folder = tmp_path / "cache", tmp_path / "artifacts" / hooks.SPRITES
    gif = _gif(cache / "2.2" / "none" / "quick" / "trajectory.gif", [0, 100, 200])
    made = []
    real = sprites.sprite_sheet
    monkeypatch.setattr(hooks, "sprite_sheet", lambda path: made.append(path) or real(path))

    [(published, sheet)] = hooks._sprite_sheets([gif], folder)
    assert published == gif and sheet.parent == folder and sheet.read_bytes() == real(gif)[0]
    assert sorted(p.name for p in cache.rglob("*")) == ["2.2", "none", "quick", "trajectory.gif"]  # nothing added to cache/

    assert hooks._sprite_sheets([gif], folder) == [(gif, sheet)]
    assert len(made) == 1  # the same GIF again: a stat, no new sheet

    _gif(gif, [0, 100, 250])
    os.utime(sheet, (time.time() - 2 * hooks.SPRITES_KEEP_S,) * 2)  # no build has used the old sheet for a while
    [(_, changed)] = hooks._sprite_sheets([gif], folder)
    assert changed != sheet and len(made) == 2
    assert not sheet.exists()  # pruned


def test_an_unreadable_gif_is_published_without_a_sheet(tmp_path):
    broken = tmp_path / "cache" / "broken.gif"
    broken.parent.mkdir()
    broken.write_bytes(b"GIF89a not really")
    assert hooks._sprite_sheets([broken], tmp_path / "artifacts" / hooks.SPRITES) == []


def test_interactive_figure_links_follow_the_page_to_its_served_folder():
    page = SimpleNamespace(file=SimpleNamespace(src_uri="part-b/2.2.md"), url="part-b/2.2/")
    html = ('<img class="off-glb" src="../figures/2.2/none/quick/trajectory.gif" alt="a">'
            '<figure class="gen-scrub" data-sprite="../figures/2.2/none/quick/trajectory.sprite.png">'
            '<img class="off-glb" src="data:image/png;base64,xx" alt="b"><img src="../../figures/kept.png">')
    out = hooks.on_page_content(html, page, None, None)
    assert 'src="../../figures/2.2/none/quick/trajectory.gif"' in out
    assert 'data-sprite="../../figures/2.2/none/quick/trajectory.sprite.png"' in out
    assert 'src="data:image/png;base64,xx"' in out and 'src="../../figures/kept.png"' in out  # not ours to move
    home = SimpleNamespace(file=SimpleNamespace(src_uri="index.md"), url="")
    assert hooks.on_page_content('<img class="off-glb" src="figures/a.gif">', home, None, None) == '<img class="off-glb" src="figures/a.gif">'
