"""The mirror and diagonal reflections: orthogonal, self-inverse, and moving pixels where their names say."""

from __future__ import annotations

import pytest
import torch

from generator.diffusion.reflections import ANAGRAM_VIEW_NAMES, REFLECTIONS, anagram_view
from generator.diffusion.views import VIEW_NAMES


def test_reflections_move_pixels_where_their_names_say() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3)  # 0 1 2 / 3 4 5 / 6 7 8
    assert anagram_view("mirror").apply(x)[0, 0].tolist() == [[2, 1, 0], [5, 4, 3], [8, 7, 6]]
    assert anagram_view("transpose").apply(x)[0, 0].tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert anagram_view("antitranspose").apply(x)[0, 0].tolist() == [[8, 5, 2], [7, 4, 1], [6, 3, 0]]
    # a diagonal reflection after an upside-down flip is a quarter turn: together they are the square's symmetries
    assert torch.equal(anagram_view("flip").apply(anagram_view("transpose").apply(x)), anagram_view("rot90").apply(x))


@pytest.mark.parametrize("name", sorted(REFLECTIONS))
def test_each_reflection_is_an_orthogonal_permutation_and_its_own_inverse(name: str) -> None:
    v = anagram_view(name)
    assert v.name == name
    basis = torch.eye(2 * 8 * 8).reshape(-1, 2, 8, 8)
    matrix = v.apply(basis).reshape(len(basis), -1)
    assert torch.equal(matrix @ matrix.T, torch.eye(len(basis)))
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(v.inverse(v.apply(x)), x) and torch.equal(v.inverse_variance(x), v.inverse(x))
    assert not torch.equal(v.apply(x), x)


def test_every_view_name_resolves_and_unknown_names_are_one_sentence_errors() -> None:
    assert set(ANAGRAM_VIEW_NAMES) == set(VIEW_NAMES) | {"mirror", "transpose", "antitranspose"}
    assert anagram_view("rot180").name == "rot180" and anagram_view("identity").name == "identity"
    with pytest.raises(ValueError, match=r"^Unknown view 'sideways'; choose one of identity, flip, .*antitranspose\.$"):
        anagram_view("sideways")
