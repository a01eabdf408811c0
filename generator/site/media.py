"""Figures as files: PNG images and grids, GIF animations and loss plots."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def to_uint8(image: Any, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """A CHW / 1CHW / HW tensor or array in `value_range` as an HxWxC (or HxW) uint8 array."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {array.shape[0]}")
        array = array[0]
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    low, high = value_range
    scaled = (array - low) / (high - low)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def grid(images: Sequence[Any], ncols: int, value_range: tuple[float, float] = (-1.0, 1.0), pad: int = 2) -> np.ndarray:
    """Tile images row-major into one array with `pad` white pixels between cells."""
    cells = [to_uint8(image, value_range) for image in images]
    if not cells:
        raise ValueError("a grid needs at least one image")
    colour = any(cell.ndim == 3 for cell in cells)
    if colour:
        cells = [cell if cell.ndim == 3 else np.repeat(cell[..., None], 3, axis=2) for cell in cells]
    height, width = cells[0].shape[:2]
    nrows = -(-len(cells) // ncols)
    shape = (nrows * (height + pad) - pad, ncols * (width + pad) - pad) + ((3,) if colour else ())
    canvas = np.full(shape, 255, dtype=np.uint8)
    for index, cell in enumerate(cells):
        row, col = divmod(index, ncols)
        canvas[row * (height + pad): row * (height + pad) + height, col * (width + pad): col * (width + pad) + width] = cell
    return canvas


def gif_bytes(frames: Sequence[Any], value_range: tuple[float, float] = (-1.0, 1.0), duration_ms: int = 80) -> bytes:
    """An animated GIF that loops, holding the last frame a little longer."""
    pictures = []
    for frame in frames:
        pixels = frame if isinstance(frame, np.ndarray) and frame.dtype == np.uint8 else to_uint8(frame, value_range)
        picture = Image.fromarray(pixels)
        pictures.append(picture.convert("P", palette=Image.ADAPTIVE) if picture.mode == "RGB" else picture)
    durations = [duration_ms] * (len(pictures) - 1) + [duration_ms * 15]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0)
    return buffer.getvalue()


def plot_png(series: dict[str, Sequence[float]], *, xlabel: str, ylabel: str, logy: bool, title: str = "", smooth: int = 0, bars: bool = False,
             x: Sequence[float] | None = None, logx: bool = False) -> bytes:
    """A line plot of one or more series (optionally with a running mean) against x (else the index, as a loss curve
    runs), with markers where x is given, or a bar chart, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    for label, values in series.items():
        values = np.asarray(values, dtype=np.float64)
        if bars:
            axes.bar(np.arange(len(values)), values, label=label)
            axes.set_xticks(np.arange(len(values)))
        elif smooth > 1 and len(values) > smooth:
            axes.plot(values, alpha=0.3, linewidth=0.8)
            kernel = np.ones(smooth) / smooth
            axes.plot(np.arange(smooth - 1, len(values)), np.convolve(values, kernel, mode="valid"), label=f"{label} (mean of {smooth})", color=axes.lines[-1].get_color())
        elif x is not None:
            axes.plot(np.asarray(x, dtype=np.float64), values, marker="o", label=label)
        else:
            axes.plot(values, label=label)
    if logy:
        axes.set_yscale("log")
    if x is not None:
        if logx:
            axes.set_xscale("log")
        axes.set_xticks(list(x), [f"{v:g}" for v in x])
        axes.minorticks_off()
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
