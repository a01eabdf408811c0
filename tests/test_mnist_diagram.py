"""The UNet diagrams of Part B are read off the models themselves, so they show what the code builds."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import torch

from generator.mnist.diagram import shape_text, trace_blocks, unet_diagram, unet_summary
from generator.mnist.unet import ClassConditionalUNet, ConvBlock, TimeConditionalUNet, UnconditionalUNet

D = 8
MODELS = {
    "unconditional": lambda: UnconditionalUNet(1, D),
    "time": lambda: TimeConditionalUNet(1, D),
    "class": lambda: ClassConditionalUNet(1, 10, D),
}


def ids(svg: bytes) -> set[str]:
    return {element.get("id") for element in ET.fromstring(svg).iter() if element.get("id")}


@pytest.mark.parametrize("kind", MODELS)
def test_traced_shapes_are_the_encoder_and_decoder_of_spec(kind: str) -> None:
    blocks = trace_blocks(MODELS[kind]())
    outputs = {name: block.output for name, block in blocks.items()}
    assert outputs["conv_in"] == (D, 28, 28) and outputs["down1"] == (D, 14, 14) and outputs["down2"] == (2 * D, 7, 7)
    assert outputs["flatten"] == (2 * D, 1, 1) and outputs["unflatten"] == (2 * D, 7, 7)
    assert outputs["up1"] == (D, 14, 14) and outputs["up2"] == (D, 28, 28) and outputs["conv_out"] == (D, 28, 28) and outputs["head"] == (1, 28, 28)
    # the decoder's inputs are the concatenations with the skips: cat(e3) 4D×7, cat(e2) 2D×14, cat(e1) 2D×28
    assert blocks["up1"].inputs[0] == (4 * D, 7, 7) and blocks["up2"].inputs[0] == (2 * D, 14, 14) and blocks["conv_out"].inputs[0] == (2 * D, 28, 28)


def test_conditioning_blocks_are_found_only_where_the_model_has_them() -> None:
    fc = {kind: {name: block.output for name, block in trace_blocks(make()).items() if block.kind == "FCBlock"} for kind, make in MODELS.items()}
    assert fc["unconditional"] == {}
    assert fc["time"] == {"t_embed1": (2 * D,), "t_embed2": (D,)}
    assert fc["class"] == {"t_embed1": (2 * D,), "t_embed2": (D,), "c_embed1": (2 * D,), "c_embed2": (D,)}


def test_tracing_follows_the_model_dtype() -> None:
    blocks = trace_blocks(ClassConditionalUNet(1, 10, D).to(torch.float64))
    assert blocks["head"].output == (1, 28, 28)


def test_tracing_leaves_the_model_as_it_was() -> None:
    model = TimeConditionalUNet(1, D).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace_blocks(model)
    assert model.training
    assert not any(handle for module in model.modules() for handle in module._forward_hooks.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm statistics untouched


@pytest.mark.parametrize("kind", MODELS)
def test_diagram_is_an_svg_with_a_box_for_every_block_and_its_shape(kind: str) -> None:
    svg = unet_diagram(MODELS[kind]())
    found = ids(svg)
    for name, shape in {"conv_in": (D, 28, 28), "down2": (2 * D, 7, 7), "flatten": (2 * D, 1, 1), "up1": (D, 14, 14), "head": (1, 28, 28)}.items():
        assert f"block-{name}-{'x'.join(map(str, shape))}" in found
    assert {"skip-down2-up1", "skip-down1-up2", "skip-conv_in-conv_out"} <= found
    conditioning = {i for i in found if i.startswith(("fc-", "conditioning-", "condition-"))}
    expected = {
        "unconditional": set(),
        "time": {"fc-t_embed1-16", "fc-t_embed2-8", "conditioning-t_embed1", "conditioning-t_embed2", "condition-unflatten", "condition-up1"},
        "class": {"fc-t_embed1-16", "fc-t_embed2-8", "fc-c_embed1-16", "fc-c_embed2-8", "conditioning-t_embed1", "conditioning-t_embed2",
                  "conditioning-c_embed1", "conditioning-c_embed2", "condition-unflatten", "condition-up1"},
    }[kind]
    assert conditioning == expected


def test_diagram_has_an_opaque_light_background_and_the_same_bytes_every_time() -> None:
    model = ClassConditionalUNet(1, 10, D)
    svg = unet_diagram(model)
    assert svg == unet_diagram(model)
    # the first shape drawn is the figure's background: a filled white rectangle, so the diagram reads on a dark page
    assert re.search(rb'<g id="patch_1">\s*<path d="[^"]+"\s+style="fill: #ffffff', svg)


def test_shapes_are_written_in_units_of_d_as_spec_writes_them() -> None:
    assert shape_text((128, 7, 7), 64) == "2D × 7 × 7"
    assert shape_text((64, 28, 28), 64) == "D × 28 × 28"
    assert shape_text((1, 28, 28), 64) == "1 × 28 × 28"
    assert unet_summary(UnconditionalUNet(1, D)).startswith(f"D = {D}: ConvBlock D × 28 × 28 → DownBlock D × 14 × 14 → DownBlock 2D × 7 × 7")


def test_a_model_whose_blocks_the_layout_does_not_know_is_refused_naming_them() -> None:
    class Encoder(torch.nn.Module):
        num_hiddens = D

        def __init__(self) -> None:
            super().__init__()
            self.conv_in = ConvBlock(1, D)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv_in(x)

    with pytest.raises(ValueError, match=r"no block conv_out, down1, down2, .*update LAYOUT"):
        unet_diagram(Encoder())
