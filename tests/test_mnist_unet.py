"""The Part B UNets: output shapes of all three and the conditioning paths of SPEC Part B."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from generator.mnist.unet import (
    ClassConditionalUNet,
    ConvBlock,
    DownBlock,
    FCBlock,
    Flatten,
    TimeConditionalUNet,
    UnconditionalUNet,
    Unflatten,
    UpBlock,
    fold_batchnorm,
)

D = 8
N = 3


def test_blocks_change_resolution_as_spec_says() -> None:
    x = torch.randn(N, D, 28, 28)
    assert ConvBlock(D, 2 * D)(x).shape == (N, 2 * D, 28, 28)
    assert DownBlock(D, 2 * D)(x).shape == (N, 2 * D, 14, 14)
    assert UpBlock(D, D)(torch.randn(N, D, 7, 7)).shape == (N, D, 14, 14)
    assert Flatten()(torch.randn(N, 2 * D, 7, 7)).shape == (N, 2 * D, 1, 1)
    assert Unflatten(2 * D)(torch.randn(N, 2 * D, 1, 1)).shape == (N, 2 * D, 7, 7)
    assert FCBlock(1, 2 * D)(torch.rand(N, 1)).shape == (N, 2 * D)


def test_unconditional_unet_maps_image_to_image() -> None:
    assert UnconditionalUNet(1, D)(torch.randn(N, 1, 28, 28)).shape == (N, 1, 28, 28)


@pytest.mark.parametrize("t_shape", [(N,), (N, 1)])
def test_time_conditional_unet_accepts_t_as_vector_or_column(t_shape: tuple[int, ...]) -> None:
    assert TimeConditionalUNet(1, D)(torch.randn(N, 1, 28, 28), torch.rand(t_shape)).shape == (N, 1, 28, 28)


def test_time_conditional_unet_output_depends_on_t() -> None:
    model = TimeConditionalUNet(1, D).eval()
    x = torch.randn(1, 1, 28, 28)
    assert not torch.allclose(model(x, torch.tensor([0.1])), model(x, torch.tensor([0.9])))


def test_class_conditional_unet_takes_one_hot_and_zero_vector() -> None:
    model = ClassConditionalUNet(1, 10, D).eval()
    x, t = torch.randn(N, 1, 28, 28), torch.rand(N)
    one_hot = F.one_hot(torch.tensor([0, 3, 9]), 10).float()
    conditional, unconditional = model(x, t, one_hot), model(x, t, torch.zeros(N, 10))
    assert conditional.shape == unconditional.shape == (N, 1, 28, 28)
    assert not torch.allclose(conditional, unconditional)


def _with_trained_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, as training would."""
    generator = torch.Generator().manual_seed(3)
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        for tensor in (norm.weight.data, norm.bias.data, norm.running_mean):
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
        norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)
    return model.eval()


def test_folding_batchnorm_keeps_the_function_and_leaves_the_model_alone() -> None:
    model = _with_trained_norms(ClassConditionalUNet(1, 10, D))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    folded = fold_batchnorm(model)
    x, t, c = torch.randn(N, 1, 28, 28), torch.rand(N), F.one_hot(torch.arange(N), 10).float()
    with torch.no_grad():
        assert torch.allclose(folded(x, t, c), model(x, t, c), atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 0
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
