"""The batched seed search and the triviality measure of anagram pairs, on constructed cases."""

from __future__ import annotations

import pytest
import torch

from generator.diffusion.views import view
from generator.mnist.search import search_batches, view_share


def top_half_classifier(images: torch.Tensor) -> torch.Tensor:
    """A stand-in judge: class 1 when the ink sits in the top half, class 2 when in the bottom half, else "not a digit"."""
    top = images[..., :14, :].gt(0).float().mean(dim=(1, 2, 3))
    bottom = images[..., 14:, :].gt(0).float().mean(dim=(1, 2, 3))
    probabilities = torch.zeros(len(images), 11)
    probabilities[top > bottom, 1] = 1.0
    probabilities[bottom > top, 2] = 1.0
    probabilities[top == bottom, 10] = 1.0
    return probabilities


def digits_with_ink(rows: slice, count: int) -> torch.Tensor:
    images = torch.full((count, 1, 28, 28), -1.0)
    images[..., rows, 10:18] = 1.0
    return images


def test_view_share_counts_real_digits_that_the_view_turns_into_the_other_digit():
    # three of four "1"s have their ink on top (a flip moves it to the bottom: "2"); one has it across the middle
    ones = torch.cat([digits_with_ink(slice(2, 10), 3), digits_with_ink(slice(10, 18), 1)])
    flip = view("flip")
    assert view_share(top_half_classifier, ones, flip.apply, 2) == pytest.approx(0.75)
    assert view_share(top_half_classifier, ones, lambda x: x, 2) == 0.0
    assert view_share(top_half_classifier, ones, view("identity").apply, 1) == pytest.approx(0.75)


def test_view_share_of_no_images_is_an_error():
    with pytest.raises(ValueError, match="at least one image"):
        view_share(top_half_classifier, torch.zeros(0, 1, 28, 28), lambda x: x, 2)


def test_search_stops_at_the_first_batch_with_a_candidate_that_passes_every_reading():
    def sample_batch(seed: int) -> torch.Tensor:
        # seeds 0 and 1 draw ink across the middle (no reading passes); seed 2 draws one "1" on top among them
        batch = digits_with_ink(slice(10, 18), 3)
        if seed == 2:
            batch[1] = digits_with_ink(slice(2, 10), 1)[0]
        return batch

    readings = [(lambda x: x, 1), (view("flip").apply, 2)]
    kept, sampled = search_batches(sample_batch, top_half_classifier, readings, range(10), target=0.8, keep=2)
    assert sampled == 9  # three batches of three, then it stops
    assert (kept[0].seed, kept[0].index, kept[0].scores, kept[0].worst) == (2, 1, (1.0, 1.0), 1.0)
    assert kept[1].worst == 0.0 and kept[1].not_digit == (1.0, 1.0)
    assert len(kept) == 2 and kept[0].label == "seed 2 #1"


def test_search_returns_the_best_it_found_when_no_candidate_passes():
    kept, sampled = search_batches(lambda seed: digits_with_ink(slice(10, 18), 2), top_half_classifier, [(lambda x: x, 1)], range(3), target=0.8)
    assert sampled == 6 and kept[0].worst == 0.0 and kept[0].seed == 0


def test_nearest_digits_count_the_labels_of_the_closest_real_digits_and_measure_how_close():
    from generator.mnist.search import nearest_digits

    top, bottom = digits_with_ink(slice(2, 10), 3), digits_with_ink(slice(18, 26), 2)
    references, labels = torch.cat([top, bottom]), torch.tensor([4, 4, 4, 7, 7])
    probe = torch.cat([digits_with_ink(slice(3, 10), 1), digits_with_ink(slice(18, 25), 1)])
    votes, distances = nearest_digits(probe, references, labels, k=2, classes=8)
    assert votes.shape == distances.shape == (2, 8)
    assert votes[0, 4] == 1.0 and votes[1, 7] == 1.0 and torch.allclose(votes.sum(dim=1), torch.ones(2))
    # probe 0 differs from each top digit in one row of 8 pixels, by 2: RMS distance sqrt(8 · 4 / 784)
    assert distances[0, 4] == pytest.approx((8 * 4 / 784) ** 0.5, rel=1e-4)
    assert distances[0, 7] > distances[0, 4] and distances[1, 4] > distances[1, 7]
    assert distances[0, 0] == float("inf")  # no real 0s to compare with
    assert nearest_digits(probe, references, labels, k=3, classes=8)[1][1, 7] == float("inf")  # only two real 7s
    with pytest.raises(ValueError, match="at least k = 6 reference images"):
        nearest_digits(probe, references, labels, k=6, classes=8)


def test_a_second_judge_outranks_a_higher_classifier_score_and_must_also_pass():
    # seed 0: one "1" on top with a perfect classifier score, which the second judge rejects (vote 0.2);
    # seed 1: the same image, which the judge accepts (vote 0.9): the search must not stop at seed 0
    def sample_batch(seed: int) -> torch.Tensor:
        return digits_with_ink(slice(2, 10), 1) + seed * 0.01

    def vote(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shares = torch.zeros(len(images), 10)
        shares[:, 1] = torch.where(images.amax(dim=(1, 2, 3)) > 1.005, 0.9, 0.2)
        return shares, torch.zeros(len(images), 10)

    kept, sampled = search_batches(sample_batch, top_half_classifier, [(lambda x: x, 1)], range(5), target=0.8, keep=2, vote=vote)
    assert sampled == 2  # seed 0 does not pass, seed 1 does
    assert kept[0].seed == 1 and kept[0].votes == pytest.approx((0.9,)) and kept[0].worst_vote == pytest.approx(0.9)
    assert kept[0].passes(0.8, 0.5) and not kept[1].passes(0.8, 0.5)
    assert kept[1].seed == 0 and kept[1].worst == 1.0  # a perfect classifier score still ranks second
    without, _ = search_batches(sample_batch, top_half_classifier, [(lambda x: x, 1)], range(5), target=0.8)
    assert without[0].seed == 0 and without[0].votes == () and without[0].worst_vote == 1.0


def test_among_candidates_that_pass_the_one_nearest_to_real_digits_ranks_first():
    # four candidates that all pass with a perfect score: the judge puts candidate 2 nearest to real digits
    def vote(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shares = torch.zeros(len(images), 10)
        shares[:, 1] = 1.0
        distances = torch.full((len(images), 10), 0.5)
        distances[:, 1] = torch.tensor([0.40, 0.35, 0.20, 0.30])
        return shares, distances

    kept, _ = search_batches(lambda seed: digits_with_ink(slice(2, 10), 4), top_half_classifier, [(lambda x: x, 1)], range(1), target=0.8, keep=4, vote=vote)
    assert [c.index for c in kept] == [2, 3, 1, 0]
    assert kept[0].distances == pytest.approx((0.20,)) and kept[0].farthest == pytest.approx(0.20)


def test_each_reading_can_have_its_own_second_judge():
    def judge(share: float):
        def vote(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            shares = torch.zeros(len(images), 10)
            shares[:, 1:3] = share
            return shares, torch.zeros(len(images), 10)

        return vote

    readings = [(lambda x: x, 1), (view("flip").apply, 2)]
    kept, _ = search_batches(lambda seed: digits_with_ink(slice(2, 10), 1), top_half_classifier, readings, range(1), target=0.8, vote=[judge(0.9), judge(0.3)])
    assert kept[0].votes == pytest.approx((0.9, 0.3)) and not kept[0].passes(0.8, 0.5)
    with pytest.raises(ValueError):
        search_batches(lambda seed: digits_with_ink(slice(2, 10), 1), top_half_classifier, readings, range(1), target=0.8, vote=[judge(0.9)])
