"""The report's pages as a reader meets them (issue 21), on the smoke site in headless Chromium with only loopback:
the trajectory scrubber of a Part B page shows the frame it names, the SDEdit slider reveals the edit at the level it
names, the forward-process scrubber shows one noise level at a time, every section page reaches its first figure
within 250 words, no table is wider than the text column at 1280 or 390 px, and nothing errs or leaves the machine.

The browser side is tests/page_review.py (its word and table measures are bench/page_words.py's)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from page_review import run_isolated
from PIL import Image

MAX_WORDS_BEFORE_FIGURE = 250
DDPM_T = 300  # SPEC Part B; sections/_mnist_training.py records x every T // 30 steps and after the last


@pytest.fixture(scope="module")
def review(smoke_site) -> dict:
    import shutil

    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    site = smoke_site.root / "site"
    return {**run_isolated(site), "site": site}


def _sheet_cells(site: Path, page: str, sheet_url: str, frames: int, frame_size: tuple[int, int]) -> list[np.ndarray]:
    sheet = Image.open(site / page / sheet_url).convert("RGB")
    w, h = frame_size
    cols = sheet.width // w
    return [np.asarray(sheet.crop(((k % cols) * w, (k // cols) * h, (k % cols + 1) * w, (k // cols + 1) * h)), dtype=float) for k in range(frames)]


def test_part_b_scrubber_shows_the_frame_it_names(review):
    scrub = review["scrub"]
    assert scrub["page"] == "part-b/2.2" and scrub["gif_hidden"]
    every = DDPM_T // 30
    assert scrub["frames"] == DDPM_T // every
    gif = Image.open(review["site"] / scrub["page"] / scrub["sheet"].replace(".sprite.png", ".gif"))
    cells = _sheet_cells(review["site"], scrub["page"], scrub["sheet"], scrub["frames"], gif.size)
    for shown in scrub["shown"]:
        k, step = shown["k"], min((shown["k"] + 1) * every, DDPM_T)
        assert shown["value"] == shown["frame"] == str(k)
        assert shown["label"] == shown["valuetext"] == scrub["labels"][k] == f"step {step} of {DDPM_T} · t = {DDPM_T - step}"
        window = Image.open(io.BytesIO(base64.b64decode(shown["png"]))).convert("RGB").resize(gif.size, Image.BOX)
        errors = [float(((np.asarray(window, dtype=float) - cell) ** 2).mean()) for cell in cells]
        assert int(np.argmin(errors)) == k or errors[k] == min(errors), (k, errors)  # the window shows cell k best
    assert scrub["played"] >= 1


def test_sdedit_slider_reveals_the_edit_at_the_level_it_names(review):
    sweep = review["sweep"]
    assert sweep["page"] == "part-a/1.7" and sweep["levels"] == len(sweep["parts"]) - 1 >= 2
    assert sweep["initial"]["clip"] == "inset(0px 50% 0px 0px)"
    assert sweep["reveal_30"]["clip"] == "inset(0px 70% 0px 0px)"
    first, last = sweep["level_first"], sweep["level_last"]
    assert first["src"] == sweep["parts"][1] and last["src"] == sweep["parts"][-1]
    for state in (first, last):
        assert state["visible"] == "visible" and set(state["others"]) == {"hidden"}
        i_start = re.search(r"i-start-(\d+)\.png$", state["src"]).group(1)
        assert f"i_start = {i_start} " in state["names"]
        assert state["clip"] == "inset(0px 70% 0px 0px)"  # picking a level keeps the reveal


def test_forward_process_scrubber_shows_one_noise_level_at_a_time(review):
    stills = review["stills"]
    assert stills["page"] == "part-a/1.1"
    for shown in stills["shown"]:
        visible = [src for src, visibility in shown["visible"] if visibility == "visible"]
        assert len(visible) == 1
        t = re.search(r"t = (\d+)", shown["label"]).group(1)
        assert visible[0].endswith("original.png" if t == "0" else f"t-{t}.png"), (shown["label"], visible)


def test_every_section_page_reaches_its_first_figure_within_250_words(review):
    sections = {rel: facts for rel, facts in review["pages"].items() if rel.startswith(("part-a/", "part-b/"))}
    assert len(sections) >= 20
    too_long = {rel: facts["before_first_figure"] for rel, facts in sections.items() if facts["before_first_figure"] > MAX_WORDS_BEFORE_FIGURE}
    assert not too_long


def test_no_table_is_wider_than_the_text_column_at_1280_or_390_px(review):
    # docs/architecture.md is the developers' page, written by hand and not part of the report
    wide = {(rel, width): facts[f"wide_tables_{width}"] for rel, facts in review["pages"].items() if rel != "architecture"
            for width in (1280, 390) if facts[f"wide_tables_{width}"]}
    assert not wide


def test_no_console_errors_and_no_request_leaves_loopback(review):
    assert review["console"] == []
    assert review["external_requests"] == [] and review["failed_requests"] == []
