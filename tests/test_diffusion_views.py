"""Every view is orthogonal, keeps N(0, I) noise N(0, I), and its inverse undoes it."""

from __future__ import annotations

import pytest
import torch

from generator.diffusion.views import VIEW_NAMES, PatchPermute, View, view

PERMUTATIONS = ["identity", "flip", "rot90", "rot180", "rot270", "patch_permute", "jigsaw"]


def all_views() -> list[View]:
    return [view(name) for name in VIEW_NAMES] + [view("patch_permute", grid=8, seed=3), view("jigsaw", grid=2)]


def gaussian(shape: tuple[int, ...] = (4, 3, 64, 64), seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_every_view_name_is_known() -> None:
    assert set(PERMUTATIONS) | {"negate"} == set(VIEW_NAMES)
    assert view("rot180").name == "rot180"
    assert view("jigsaw").name == "patch_permute"


SMALL_VIEWS = [view(name) for name in PERMUTATIONS[:5]] + [
    view("negate"),
    view("patch_permute", grid=2),
    view("jigsaw", grid=4, seed=5),  # 1-pixel patches: a pixel permutation
]


@pytest.mark.parametrize("v", SMALL_VIEWS, ids=lambda v: repr(v))
def test_every_view_is_an_orthogonal_matrix(v: View) -> None:
    basis = torch.eye(2 * 4 * 4).reshape(-1, 2, 4, 4)
    matrix = v.apply(basis).reshape(len(basis), -1)
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(len(basis)))
    inverse = v.inverse(basis).reshape(len(basis), -1)
    torch.testing.assert_close(inverse, matrix.T)


@pytest.mark.parametrize("v", all_views(), ids=lambda v: repr(v))
def test_view_keeps_the_l2_norm(v: View) -> None:
    x = gaussian()
    torch.testing.assert_close(v.apply(x).flatten(1).norm(dim=1), x.flatten(1).norm(dim=1))


@pytest.mark.parametrize("v", all_views(), ids=lambda v: repr(v))
def test_view_maps_gaussian_noise_to_gaussian_noise(v: View) -> None:
    y = v.apply(gaussian())
    assert abs(y.mean().item()) < 0.02
    assert abs(y.std().item() - 1.0) < 0.02
    # per-pixel statistics over the batch stay N(0, 1) too
    assert abs(v.apply(gaussian((512, 1, 8, 8))).std(dim=0).mean().item() - 1.0) < 0.05


@pytest.mark.parametrize("name", PERMUTATIONS)
def test_permutation_views_keep_the_exact_multiset_of_values(name: str) -> None:
    x = gaussian()
    assert torch.equal(view(name).apply(x).flatten().sort().values, x.flatten().sort().values)


def test_negate_maps_values_to_their_negatives() -> None:
    x = gaussian()
    assert torch.equal(view("negate").apply(x), -x)


@pytest.mark.parametrize("v", all_views(), ids=lambda v: repr(v))
def test_inverse_undoes_the_view(v: View) -> None:
    x = gaussian()
    assert torch.equal(v.inverse(v.apply(x)), x)
    assert torch.equal(v.apply(v.inverse(x)), x)


def test_flip_is_upside_down() -> None:
    x = torch.arange(4.0).reshape(1, 1, 4, 1).expand(1, 1, 4, 3)
    assert torch.equal(view("flip").apply(x)[0, 0, :, 0], torch.tensor([3.0, 2.0, 1.0, 0.0]))


def test_negate_moves_no_variance_and_rotations_move_it_with_the_pixels() -> None:
    v = gaussian()
    assert torch.equal(view("negate").inverse_variance(v), v)
    assert torch.equal(view("rot90").inverse_variance(v), view("rot90").inverse(v))


def test_patch_permutation_is_fixed_by_its_seed_and_moves_whole_patches() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat_interleave(4, -1).repeat_interleave(4, -2)
    shuffled = PatchPermute(grid=4, seed=1729).apply(x)
    assert torch.equal(shuffled, PatchPermute(grid=4, seed=1729).apply(x))
    assert not torch.equal(shuffled, PatchPermute(grid=4, seed=1730).apply(x))
    assert not torch.equal(shuffled, x)
    # each 4x4 patch of a patch-constant image stays constant: patches move whole
    patches = shuffled.unfold(-2, 4, 4).unfold(-2, 4, 4)
    assert torch.equal(patches.amax(dim=(-2, -1)), patches.amin(dim=(-2, -1)))
    order = PatchPermute(grid=4, seed=1729).permutation()
    assert torch.equal(patches.amax(dim=(-2, -1)).flatten(), order.float())


def test_unknown_view_and_bad_parameters_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="Unknown view 'mirror'"):
        view("mirror")
    with pytest.raises(ValueError, match="takes no parameters"):
        view("flip", grid=4)
    with pytest.raises(ValueError, match="does not divide"):
        view("patch_permute", grid=5).apply(gaussian((1, 3, 64, 64)))
