"""A Part B UNet's block diagram, drawn from the model itself: a forward pass with hooks reads every block's shapes."""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

# Where each block of `UNetBackbone` sits: (column, row). The encoder goes down the left (one row per resolution:
# 28, 14, 7, 1); the decoder comes up the right, half a row off, so that each concatenation (a node on the way up)
# lines up with the encoder output it reads. Rows grow downwards.
LAYOUT = {
    "conv_in": (0, 1), "down1": (0, 2), "down2": (0, 3), "flatten": (0, 4),
    "unflatten": (1, 4), "up1": (1, 2.6), "up2": (1, 1.5), "conv_out": (1, 0.5), "head": (1, -0.1),
}
# The encoder output each decoder block is concatenated with (torch.cat([skip, h]) in UNetBackbone.unet).
SKIPS = {"up1": "down2", "up2": "down1", "conv_out": "conv_in"}
# The (scale, shift) that conditions a block's output: c_embed* scales it, t_embed* shifts it.
CONDITIONED = {"unflatten": ("c_embed1", "t_embed1"), "up1": ("c_embed2", "t_embed2")}
COLOURS = {"ConvBlock": "#dbe8fb", "DownBlock": "#fde3cc", "UpBlock": "#d8f0d8", "Flatten": "#e9e0f7", "Unflatten": "#e9e0f7",
           "FCBlock": "#fbf1c7", "Conv2d": "#e4e4e4"}
INK, EDGE, BACKGROUND = "#1f2328", "#57606a", "#ffffff"


@dataclass(frozen=True)
class Block:
    """One child module of the UNet as the forward pass saw it: its kind and the shapes in and out (batch dropped)."""

    name: str
    kind: str
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]


def example_inputs(model: nn.Module) -> tuple[torch.Tensor, ...]:
    """One input per argument of `model.forward`, on the model's device and dtype: x (a 28 px image), t (t/T = 0.5),
    c (the one-hot of digit 0)."""
    weight = next(model.parameters())
    channels = model.conv_in[0][0].in_channels
    values = {"x": torch.zeros(1, channels, 28, 28), "t": torch.full((1,), 0.5)}
    if hasattr(model, "num_classes"):
        values["c"] = torch.nn.functional.one_hot(torch.zeros(1, dtype=torch.long), model.num_classes).float()
    names = list(inspect.signature(model.forward).parameters)
    return tuple(values[name].to(device=weight.device, dtype=weight.dtype) for name in names)


def trace_blocks(model: nn.Module) -> dict[str, Block]:
    """Run one forward pass on `example_inputs` with hooks on the model's children; the blocks in call order."""
    blocks: dict[str, Block] = {}

    def hook(name: str, module: nn.Module):
        def record(_module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            blocks[name] = Block(name, type(module).__name__, tuple(tuple(a.shape[1:]) for a in args), tuple(output.shape[1:]))

        return record

    handles = [child.register_forward_hook(hook(name, child)) for name, child in model.named_children()]
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*example_inputs(model))
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    return blocks


def shape_text(shape: tuple[int, ...], d: int) -> str:
    """[128, 7, 7] → '2D × 7 × 7' for D = 64: channels as multiples of D, as SPEC writes them."""
    channels, *rest = shape
    if channels % d == 0 and channels >= d:
        k = channels // d
        channels_text = "D" if k == 1 else f"{k}D"
    else:
        channels_text = str(channels)
    return " × ".join([channels_text, *map(str, rest)])


def unet_summary(model: nn.Module) -> str:
    """The blocks in call order with their output shapes, one line (a caption, or alt text for the diagram)."""
    d = model.num_hiddens
    return f"D = {d}: " + " → ".join(f"{b.kind} {shape_text(b.output, d)}" for b in trace_blocks(model).values() if b.name in LAYOUT)


# Box size and where the columns and rows sit, in data units.
WIDTH, HEIGHT, ROW, X_DECODER, X_FC = 2.6, 0.62, 1.9, 5.0, 9.2


def _position(name: str) -> tuple[float, float]:
    """The centre of block `name` on the canvas, from its (column, row) in LAYOUT."""
    column, r = LAYOUT[name]
    return (0.0, X_DECODER)[column], -ROW * r


class _Canvas:
    """A matplotlib figure with the diagram's four marks: text, a block's box, an arrow and a round node."""

    def __init__(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.figure, self.axes = plt.subplots(figsize=(10.6, 7.6), dpi=100)
        self.figure.patch.set_facecolor(BACKGROUND)
        self.axes.set_axis_off()
        self.axes.set_aspect("equal")

    def text(self, x: float, y: float, s: str, **kw) -> None:
        self.axes.text(x, y, s, color=INK, va="center", **{"ha": "center", "fontsize": 9, **kw})

    def box(self, x: float, y: float, kind: str, detail: str, gid: str) -> None:
        from matplotlib.patches import FancyBboxPatch

        patch = FancyBboxPatch((x - WIDTH / 2, y - HEIGHT / 2), WIDTH, HEIGHT, boxstyle="round,pad=0.02,rounding_size=0.08",
                               facecolor=COLOURS.get(kind, "#eeeeee"), edgecolor=EDGE, linewidth=1.0, gid=gid)
        self.axes.add_patch(patch)
        self.text(x, y + 0.13, kind, fontsize=9.5, weight="bold")
        self.text(x, y - 0.15, detail)

    def arrow(self, start: tuple[float, float], end: tuple[float, float], gid: str | None = None, dashed: bool = False, **kw) -> None:
        from matplotlib.patches import FancyArrowPatch

        self.axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color="#8c959f" if dashed else EDGE,
                                            linewidth=1.1, linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0, gid=gid, **kw))

    def node(self, x: float, y: float, label: str, gid: str, fontsize: float = 8) -> None:
        from matplotlib.patches import Circle

        self.axes.add_patch(Circle((x, y), 0.15, facecolor=BACKGROUND, edgecolor=EDGE, linewidth=1.0, gid=gid))
        self.text(x, y, label, fontsize=fontsize)

    def save(self) -> bytes:
        """The figure as SVG with a fixed hash salt and no date, so that the same model gives the same bytes."""
        import matplotlib
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "gen-unet-diagram", "svg.fonttype": "path"}):
            self.figure.savefig(buffer, format="svg", facecolor=BACKGROUND, bbox_inches="tight", pad_inches=0.15,
                                metadata={"Date": None, "Creator": None})
        plt.close(self.figure)
        return buffer.getvalue()


def _draw_blocks(canvas: _Canvas, blocks: dict[str, Block], d: int) -> None:
    """Every block of LAYOUT as a box with its kind and output shape."""
    for name in LAYOUT:
        block = blocks[name]
        x, y = _position(name)
        canvas.box(x, y, block.kind, shape_text(block.output, d), f"block-{name}-{'x'.join(map(str, block.output))}")


def _draw_input_output(canvas: _Canvas, blocks: dict[str, Block], d: int) -> None:
    """In at the top left, out at the top right."""
    x, y = _position("conv_in")
    canvas.text(x, y + 1.0, f"input  {shape_text(blocks['conv_in'].inputs[0], d)}", fontsize=9.5, weight="bold")
    canvas.arrow((x, y + 0.82), (x, y + HEIGHT / 2))
    x, y = _position("head")
    canvas.text(x + WIDTH / 2 + 0.25, y, f"output  {shape_text(blocks['head'].output, d)}", ha="left", fontsize=9.5, weight="bold")


def _draw_encoder(canvas: _Canvas) -> None:
    """Encoder down the left, the bottleneck across the bottom."""
    for upper, lower in (("conv_in", "down1"), ("down1", "down2"), ("down2", "flatten")):
        (x, y0), (_, y1) = _position(upper), _position(lower)
        canvas.arrow((x, y0 - HEIGHT / 2), (x, y1 + HEIGHT / 2))
    (x0, y), (x1, _) = _position("flatten"), _position("unflatten")
    canvas.arrow((x0 + WIDTH / 2, y), (x1 - WIDTH / 2, y))


def _draw_conditioning(canvas: _Canvas, blocks: dict[str, Block], d: int, lower: str, start: float) -> float:
    """The (scale, shift) node on `lower`'s output with the FC blocks that feed it; where the line goes on from."""
    x, _ = _position(lower)
    scale_name, shift_name = CONDITIONED.get(lower, ("", ""))
    scale, shift = scale_name in blocks, shift_name in blocks
    if not (scale or shift):
        return start
    y_mod, index = start + 0.3, shift_name[-1]
    canvas.node(x, y_mod, "×+" if scale else "+", f"condition-{lower}", fontsize=7)
    canvas.text(x - 0.25, y_mod, f"$c_{index} \\cdot h + t_{index}$" if scale else f"$h + t_{index}$", ha="right", fontsize=9)
    canvas.arrow((x, start), (x, y_mod - 0.15))
    present = [name for name in (shift_name, scale_name) if name in blocks]
    for k, name in enumerate(present):
        fc = blocks[name]
        source = "t / T" if name.startswith("t_") else f"one-hot c ({fc.inputs[0][0]})"
        y_fc = y_mod + (0.42 - 0.84 * k if len(present) == 2 else 0.0)
        canvas.box(X_FC, y_fc, fc.kind, f"{source} → {shape_text(fc.output, d)}", f"fc-{name}-{fc.output[0]}")
        canvas.arrow((X_FC - WIDTH / 2, y_fc), (x + 0.15, y_mod), dashed=True, gid=f"conditioning-{name}")
    return y_mod + 0.15


def _draw_skip(canvas: _Canvas, blocks: dict[str, Block], d: int, upper: str, start: float) -> float:
    """The concatenation of `upper`'s input with its encoder skip, as a node; where the line goes on from."""
    x, _ = _position(upper)
    skip = SKIPS[upper]
    x_skip, y_skip = _position(skip)
    canvas.node(x, y_skip, "c", f"concat-{skip}-{upper}")
    canvas.text(x + 0.25, y_skip, f"cat → {shape_text(blocks[upper].inputs[0], d)}", ha="left", fontsize=8.5)
    canvas.arrow((x_skip + WIDTH / 2, y_skip), (x - 0.15, y_skip), dashed=True, gid=f"skip-{skip}-{upper}")
    canvas.arrow((x, start), (x, y_skip - 0.15))
    return y_skip + 0.15


def _draw_decoder(canvas: _Canvas, blocks: dict[str, Block], d: int) -> None:
    """Decoder up the right: each block's output, conditioned where the model says so, is concatenated with a skip."""
    for lower, upper in pairwise(["unflatten", "up1", "up2", "conv_out", "head"]):
        x, y_low = _position(lower)
        _, y_high = _position(upper)
        start = _draw_conditioning(canvas, blocks, d, lower, y_low + HEIGHT / 2)
        if upper in SKIPS:
            start = _draw_skip(canvas, blocks, d, upper, start)
        canvas.arrow((x, start), (x, y_high - HEIGHT / 2))


def _frame(canvas: _Canvas, blocks: dict[str, Block], title: str) -> None:
    """The title above the output, and limits wide enough for the FC column when the model is conditioned."""
    top = _position("head")[1] + HEIGHT / 2
    canvas.text(-WIDTH / 2, top, title, ha="left", fontsize=11, weight="bold")
    conditioned = any(blocks[name].kind == "FCBlock" for name in blocks)
    canvas.axes.set_xlim(-WIDTH / 2 - 0.2, X_FC + WIDTH / 2 + 0.2 if conditioned else X_DECODER + WIDTH / 2 + 2.8)
    canvas.axes.set_ylim(_position("flatten")[1] - HEIGHT / 2 - 0.2, top + 0.3)


def unet_diagram(model: nn.Module, title: str = "") -> bytes:
    """The model's encoder, decoder, skips and conditioning as SVG, on an opaque light card (so it reads on a dark page too)."""
    blocks = trace_blocks(model)
    missing = sorted(set(LAYOUT) - set(blocks))
    if missing:
        raise ValueError(f"{type(model).__name__} has no block {', '.join(missing)}; update LAYOUT in generator/mnist/diagram.py")
    d = model.num_hiddens
    canvas = _Canvas()
    _draw_blocks(canvas, blocks, d)
    _draw_input_output(canvas, blocks, d)
    _draw_encoder(canvas)
    _draw_decoder(canvas, blocks, d)
    _frame(canvas, blocks, title or f"{type(model).__name__}  (D = {d})")
    return canvas.save()
