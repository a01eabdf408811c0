"""Sprite sheets of GIFs: every frame of an animation in one PNG grid, for the page's frame scrubber (docs/javascripts/figures.js).

A scrubber shows frame k by moving the sheet behind a frame-sized window (CSS background-position), so the browser
decodes one image once instead of seeking through a GIF.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

MAX_SHEET_WIDTH = 4096  # browsers decode wider images, but some mobile ones downsample past this
DEFAULT_FRAME_MS = 100  # a GIF that states no frame duration
LAST_FRAME_HOLD = 15  # media.gif_bytes shows the last frame 15 times as long as the others


def sprite_name(gif_name: str) -> str:
    """The sheet's file name beside its GIF: `trajectory.gif` → `trajectory.sprite.png` (the rule the page macros use)."""
    stem = gif_name[: -len(".gif")] if gif_name.lower().endswith(".gif") else gif_name
    return f"{stem}.sprite.png"


def sheet_columns(frames: int, frame_w: int) -> int:
    """Frames per row: as many as fit in MAX_SHEET_WIDTH (at least one), never more than there are frames."""
    return max(1, min(frames, MAX_SHEET_WIDTH // max(frame_w, 1)))


def sprite_sheet(gif_path: Path) -> tuple[bytes, dict[str, Any]]:
    """The frames of `gif_path` in row-major order in a grid, as PNG bytes (the same bytes for the same GIF), and
    `{"frames", "cols", "rows", "frame_w", "frame_h", "frame_ms"}`: frame k sits at column k % cols, row k // cols, and
    `frame_ms` is how long the GIF shows one frame (the pace of the scrubber's playback).

    Frame k is the k-th frame the section wrote (ctx.gif), so a page's labels and the manifest's frame count hold for
    the sheet: the GIF writer stores a run of identical frames as one frame shown for their summed durations, and the
    sheet gives each of them its cell again."""
    frames, frame_ms = _as_written(*_frames(Path(gif_path)))
    frame_h, frame_w = frames[0].shape[:2]
    cols = sheet_columns(len(frames), frame_w)
    rows = math.ceil(len(frames) / cols)
    sheet = np.zeros((rows * frame_h, cols * frame_w, frames[0].shape[2]), dtype=np.uint8)
    for k, frame in enumerate(frames):
        row, col = divmod(k, cols)
        sheet[row * frame_h:(row + 1) * frame_h, col * frame_w:(col + 1) * frame_w] = frame
    meta = {"frames": len(frames), "cols": cols, "rows": rows, "frame_w": int(frame_w), "frame_h": int(frame_h), "frame_ms": frame_ms}
    return _png(sheet), meta


def _frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame as it is shown (earlier frames composited by Pillow), RGBA, and how long each is shown (ms)."""
    try:
        with Image.open(path) as image:
            if image.format != "GIF":
                raise ValueError(f"{path} is a {image.format} image, not a GIF; a sprite sheet is made from a GIF's frames.")
            frames, durations = [], []
            for frame in ImageSequence.Iterator(image):
                frames.append(np.asarray(frame.convert("RGBA")))
                durations.append(int(frame.info.get("duration") or 0))
            return frames, durations
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not a readable GIF ({error}); rebuild the figure that wrote it.") from None


def _as_written(frames: list[np.ndarray], durations: list[int]) -> tuple[list[np.ndarray], int]:
    """The frames as media.gif_bytes was given them, and the duration of one. It shows every frame for the same time and
    the last LAST_FRAME_HOLD times as long; Pillow merges a run of identical frames into one whose duration is their
    sum. So the common divisor of the durations is one frame's, and each stored frame stands for duration / that many
    (the last for LAST_FRAME_HOLD − 1 fewer). A GIF that does not fit that pattern is taken as it is stored."""
    if not all(durations):
        return frames, DEFAULT_FRAME_MS
    one = math.gcd(*durations)
    copies = [duration // one for duration in durations]
    copies[-1] -= LAST_FRAME_HOLD - 1
    if copies[-1] < 1:
        return frames, durations[0]
    return [frame for frame, count in zip(frames, copies, strict=True) for _ in range(count)], one


def _png(sheet: np.ndarray) -> bytes:
    """The smallest lossless mode that holds the sheet (grey, RGB or RGBA), written without timestamps or metadata."""
    if (sheet[..., 3] == 255).all():
        sheet = sheet[..., :3]
        if (sheet[..., 0] == sheet[..., 1]).all() and (sheet[..., 1] == sheet[..., 2]).all():
            sheet = sheet[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()
