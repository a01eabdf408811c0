"""Every view is orthogonal, keeps N(0, I) noise N(0, I), and its inverse undoes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.diffusion.views import VIEW_NAMES, Jigsaw, PatchPermute, View, jigsaw_permutation, jigsaw_pieces, view

PERMUTATIONS = ["identity", "flip", "rot90", "rot180", "rot270", "patch_permute", "jigsaw"]


def all_views() -> list[View]:
    return [view(name) for name in VIEW_NAMES] + [view("patch_permute", grid=8, seed=3), view("patch_permute", grid=2), view("jigsaw", seed=7)]


def gaussian(shape: tuple[int, ...] = (4, 3, 64, 64), seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_every_view_name_is_known() -> None:
    assert set(PERMUTATIONS) | {"negate"} == set(VIEW_NAMES)
    assert view("rot180").name == "rot180"
    assert view("patch_permute").name == "patch_permute"
    assert view("jigsaw").name == "jigsaw" and isinstance(view("jigsaw"), Jigsaw)


# 16 px is the smallest jigsaw; 2 channels so that a view that mixed channels would show
SMALL_VIEWS = [view(name) for name in VIEW_NAMES] + [view("patch_permute", grid=16, seed=5), view("jigsaw", seed=11)]


def view_matrix(v: View, side: int = 16, channels: int = 2) -> torch.Tensor:
    """The view as a matrix: row j is the view of basis image j, flattened."""
    basis = torch.eye(channels * side * side).reshape(-1, channels, side, side)
    return v.apply(basis).reshape(len(basis), -1)


@pytest.mark.parametrize("v", SMALL_VIEWS, ids=lambda v: repr(v))
def test_every_view_is_a_signed_permutation_matrix_whose_inverse_is_its_transpose(v: View) -> None:
    matrix = view_matrix(v)
    assert set(matrix.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.equal(matrix.abs().sum(dim=0), torch.ones(len(matrix))) and torch.equal(matrix.abs().sum(dim=1), torch.ones(len(matrix)))
    basis = torch.eye(len(matrix)).reshape(-1, 2, 16, 16)
    assert torch.equal(v.inverse(basis).reshape(len(matrix), -1), matrix.T)


@pytest.mark.parametrize("v", SMALL_VIEWS, ids=lambda v: repr(v))
def test_variance_channels_move_with_the_pixels_and_never_change_sign(v: View) -> None:
    matrix = view_matrix(v)
    basis = torch.eye(len(matrix)).reshape(-1, 2, 16, 16)
    assert torch.equal(v.inverse_variance(basis).reshape(len(matrix), -1), matrix.abs().T)


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
    assert abs(v.apply(gaussian((512, 1, 16, 16))).std(dim=0).mean().item() - 1.0) < 0.05


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
    with pytest.raises(ValueError, match=r"^The jigsaw view cuts a square image whose side is a multiple of 4 \(at least 16\) into 4×4 pieces; a 30×30"):
        view("jigsaw").apply(gaussian((1, 3, 30, 30)))
    with pytest.raises(ValueError, match="a 12×12 image is not one"):
        view("jigsaw").inverse(gaussian((1, 3, 12, 12)))


CELL_PIECES = np.array([[0, 8, 12, 1], [15, 4, 5, 9], [11, 7, 6, 13], [3, 14, 10, 2]])


def turned(y: np.ndarray, x: np.ndarray, size: int, turns: int) -> tuple[np.ndarray, np.ndarray]:
    for _ in range(turns):
        y, x = x, size - 1 - y
    return y, x


@pytest.mark.parametrize("size", [28, 64, 256])
def test_jigsaw_pieces_are_knobbed_quarter_turns_of_four_base_pieces(size: int) -> None:
    pieces = jigsaw_pieces(size).numpy()
    cell = size // 4
    rows, cols = np.indices((size, size))
    squares = CELL_PIECES[rows // cell, cols // cell]
    # puzzle-shaped: every inner cell side carries a knob, so every piece owns pixels outside its square or lacks some of it
    for piece in range(16):
        assert ((pieces == piece) != (squares == piece)).any(), piece
    # piece 4·kind + k is the base piece of its kind turned clockwise k times about the image centre
    for piece in range(16):
        y, x = np.nonzero(pieces == piece)
        base_y, base_x = turned(y, x, size, (4 - piece % 4) % 4)
        assert (pieces[base_y, base_x] == 4 * (piece // 4)).all(), piece
    # e0 and f0 are one shape one cell apart, so swapping them along the edge is exact
    assert np.array_equal(np.roll(pieces == 8, cell, axis=1), pieces == 12)


@pytest.mark.parametrize("size", [16, 28, 64, 256])
def test_jigsaw_moves_every_piece_whole_onto_a_piece_of_its_kind_turned_by_quarter_turns(size: int) -> None:
    pieces = jigsaw_pieces(size).numpy()
    source = jigsaw_permutation(size).numpy().reshape(size, size)
    assert np.array_equal(np.sort(source.ravel()), np.arange(size * size))
    turns_seen = set()
    for piece in range(16):
        y, x = np.nonzero(pieces == piece)
        src_y, src_x = np.divmod(source[y, x], size)
        origins = np.unique(pieces[src_y, src_x])
        # kinds: corners 0–3, inner 4–7, edges 8–15 (e and f pieces are one shape, swapped along their edge)
        assert len(origins) == 1 and min(origins[0] // 4, 2) == min(piece // 4, 2), (piece, origins)
        # a rigid quarter turn plus a shift maps the source piece onto this one
        fits = [k for k in range(4) if len({tuple(p) for p in np.stack(turned(src_y, src_x, size, k), 1) - np.stack([y, x], 1)}) == 1]
        assert fits, piece
        turns_seen.add(fits[0])
    assert len(turns_seen) > 1, "some pieces must be turned"


def test_jigsaw_keeps_pieces_together_unlike_the_square_tiles_it_replaces() -> None:
    """Right-hand neighbours that stay right-hand neighbours: square tiles keep 96%, turned puzzle pieces almost none."""

    def kept(v: View) -> float:
        index = torch.arange(64 * 64.0).reshape(1, 1, 64, 64)
        out = v.inverse(index)[0, 0]
        return float((out[:, 1:] - out[:, :-1] == 1).float().mean())

    assert kept(view("patch_permute", grid=4)) > 0.9
    assert kept(view("jigsaw")) < 0.01  # the paper's seed turns every piece


def test_jigsaw_is_fixed_by_its_seed() -> None:
    x = gaussian((1, 3, 64, 64))
    assert torch.equal(Jigsaw(seed=1).apply(x), Jigsaw(seed=1).apply(x))
    assert not torch.equal(Jigsaw(seed=1).apply(x), Jigsaw(seed=2).apply(x))
