"""The MNIST UNets of SPEC Part B: building ops, blocks and the three conditioning variants."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class Conv(nn.Sequential):
    """Conv: Conv2d(k3, s1, p1) + BatchNorm + GELU (shape-preserving)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels), nn.GELU())


class DownConv(nn.Sequential):
    """DownConv: Conv2d(k3, s2, p1) + BatchNorm + GELU (halves H and W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, 2, 1), nn.BatchNorm2d(out_channels), nn.GELU())


class UpConv(nn.Sequential):
    """UpConv: ConvTranspose2d(k4, s2, p1) + BatchNorm + GELU (doubles H and W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
        )


class Flatten(nn.Sequential):
    """Flatten: AvgPool(7) + GELU (7x7 -> 1x1)."""

    def __init__(self) -> None:
        super().__init__(nn.AvgPool2d(7), nn.GELU())


class Unflatten(nn.Sequential):
    """Unflatten: ConvTranspose2d(k7, s7, p0) + BatchNorm + GELU (1x1 -> 7x7)."""

    def __init__(self, channels: int) -> None:
        super().__init__(nn.ConvTranspose2d(channels, channels, 7, 7, 0), nn.BatchNorm2d(channels), nn.GELU())


class ConvBlock(nn.Sequential):
    """ConvBlock = Conv, Conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(Conv(in_channels, out_channels), Conv(out_channels, out_channels))


class DownBlock(nn.Sequential):
    """DownBlock = DownConv, ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class UpBlock(nn.Sequential):
    """UpBlock = UpConv, ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class FCBlock(nn.Sequential):
    """FCBlock = Linear(in, out) + GELU + Linear(out, out)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(nn.Linear(in_features, out_features), nn.GELU(), nn.Linear(out_features, out_features))


Modulation = tuple[Tensor | float, Tensor | float]
"""A (scale, shift) pair applied as scale * h + shift; (1, 0) leaves h unchanged."""

IDENTITY: Modulation = (1.0, 0.0)


class UNetBackbone(nn.Module):
    """The encoder/decoder of SPEC Part B, with a (scale, shift) hook at the Unflatten and first UpBlock outputs."""

    def __init__(self, in_channels: int, num_hiddens: int) -> None:
        super().__init__()
        d = num_hiddens
        self.num_hiddens = d
        self.conv_in = ConvBlock(in_channels, d)  # e1: D x 28
        self.down1 = DownBlock(d, d)  # e2: D x 14
        self.down2 = DownBlock(d, 2 * d)  # e3: 2D x 7
        self.flatten = Flatten()  # 2D x 1
        self.unflatten = Unflatten(2 * d)  # 2D x 7
        self.up1 = UpBlock(4 * d, d)  # cat(e3) 4D x 7 -> D x 14
        self.up2 = UpBlock(2 * d, d)  # cat(e2) 2D x 14 -> D x 28
        self.conv_out = ConvBlock(2 * d, d)  # cat(e1) 2D x 28 -> D x 28
        self.head = nn.Conv2d(d, in_channels, 3, 1, 1)  # D x 28 -> 1 x 28

    def unet(self, x: Tensor, at_unflatten: Modulation, at_up1: Modulation) -> Tensor:
        """Run encoder and decoder; unflatten = s1 * unflatten + b1, up1 = s2 * up1 + b2."""
        e1 = self.conv_in(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        h = self.unflatten(self.flatten(e3))
        h = at_unflatten[0] * h + at_unflatten[1]
        u1 = self.up1(torch.cat([e3, h], dim=1))
        u1 = at_up1[0] * u1 + at_up1[1]
        u2 = self.up2(torch.cat([e2, u1], dim=1))
        return self.head(self.conv_out(torch.cat([e1, u2], dim=1)))


def _as_map(v: Tensor) -> Tensor:
    """[N, C] -> [N, C, 1, 1], broadcastable over a feature map."""
    return v[:, :, None, None]


def _time_column(t: Tensor, like: Tensor) -> Tensor:
    """Normalised time t/T as [N] or [N, 1] -> [N, 1] in the input's dtype."""
    return t.reshape(-1, 1).to(device=like.device, dtype=like.dtype)


class UnconditionalUNet(UNetBackbone):
    """Single-step denoiser D_θ(z) of SPEC 2.1."""

    def __init__(self, in_channels: int = 1, num_hiddens: int = 128) -> None:
        super().__init__(in_channels, num_hiddens)

    def forward(self, x: Tensor) -> Tensor:
        return self.unet(x, IDENTITY, IDENTITY)


class TimeConditionalUNet(UNetBackbone):
    """ε_θ(x_t, t) of SPEC 2.2: FCBlock(1, 2D) added to Unflatten, FCBlock(1, D) to the first UpBlock."""

    def __init__(self, in_channels: int = 1, num_hiddens: int = 64) -> None:
        super().__init__(in_channels, num_hiddens)
        self.t_embed1 = FCBlock(1, 2 * num_hiddens)
        self.t_embed2 = FCBlock(1, num_hiddens)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        t = _time_column(t, x)
        return self.unet(x, (1.0, _as_map(self.t_embed1(t))), (1.0, _as_map(self.t_embed2(t))))


class ClassConditionalUNet(UNetBackbone):
    """ε_θ(x_t, t, c) of SPEC 2.3: unflatten = c1·unflatten + t1, up1 = c2·up1 + t2; c = 0 is unconditional."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, num_hiddens: int = 64) -> None:
        super().__init__(in_channels, num_hiddens)
        self.num_classes = num_classes
        self.t_embed1 = FCBlock(1, 2 * num_hiddens)
        self.t_embed2 = FCBlock(1, num_hiddens)
        self.c_embed1 = FCBlock(num_classes, 2 * num_hiddens)
        self.c_embed2 = FCBlock(num_classes, num_hiddens)

    def forward(self, x: Tensor, t: Tensor, c: Tensor) -> Tensor:
        t = _time_column(t, x)
        c = c.to(device=x.device, dtype=x.dtype)
        return self.unet(
            x,
            (_as_map(self.c_embed1(c)), _as_map(self.t_embed1(t))),
            (_as_map(self.c_embed2(c)), _as_map(self.t_embed2(t))),
        )


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of model with every Conv → BatchNorm pair merged into the convolution (w ← w s, b ← (b − μ) s + β,
    s = γ / sqrt(σ² + ε)): the same function up to float rounding, and ~15% faster sampling on a CPU, where the small
    UNets spend much of their time in elementwise passes (BENCHMARKS.md)."""
    folded = copy.deepcopy(model).eval()
    for block in folded.modules():
        if not isinstance(block, nn.Sequential):
            continue
        for i in range(len(block) - 1):
            conv, norm = block[i], block[i + 1]
            if isinstance(norm, nn.BatchNorm2d) and isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.bias is not None:
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                # Conv2d weights are [out, in, k, k]; ConvTranspose2d's are [in, out, k, k]
                shape = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)
                conv.weight.copy_(conv.weight * scale.reshape(shape))
                conv.bias.copy_((conv.bias - norm.running_mean) * scale + norm.bias)
                block[i + 1] = nn.Identity()
    return folded
