"""The batched seed search, the triviality measure of anagram pairs, and the one pair search of 1.8 (anagrams) and 1.9
(hybrids): what it samples, shows and records, and the template helper that reads its metrics back; on constructed
digits and a stand-in judge (no model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from generator.diffusion.views import view
from generator.mnist.search import Control, PairSearch, Reading, metric_name, search_batches, view_share

REPO = Path(__file__).resolve().parents[1]


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


# ---------------------------------------------------------------- PairSearch (1.8, 1.9)

PARAMS = {"stride": 330, "clip_x0": "none", "tries": 3, "batch": 3, "max_batches": 4, "target": 0.8, "majority": 0.5}


@dataclass
class FakeBackend:
    image_shape: tuple[int, ...] = (1, 28, 28)
    value_range: tuple[float, float] = (-1.0, 1.0)
    schedule: Any = None


@dataclass
class FakeContext:
    """The part of `ctx` a pair search uses, keeping what it records."""

    params: dict[str, Any] = field(default_factory=lambda: dict(PARAMS))
    backend: FakeBackend = field(default_factory=FakeBackend)
    metrics: dict[str, float] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def generator(self, seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    def track(self, items, description):
        self.steps.append(description)
        return items

    def metric(self, name: str, value: float) -> None:
        self.metrics[name] = value

    def figure(self, name: str, image: torch.Tensor, caption: str = "", value_range=(-1.0, 1.0), **meta: Any) -> None:
        self.figures.append({"name": name, "image": image, "caption": caption, **meta})


class DrawnSearch(PairSearch):
    """A pair search whose "samples" are drawn by hand: batch seed 1731 holds one "1" on top, the rest ink across the middle."""

    def sampler(self, estimate, size):
        def sample(seed: int) -> torch.Tensor:
            batch = digits_with_ink(slice(10, 18), size)
            if seed == 1731:
                batch[1] = digits_with_ink(slice(2, 10), 1)[0]
            return batch

        return sample


def shares(value: float):
    """A second judge that gives every image the share `value` for digits 1 and 2, at distance 0.3."""

    def vote(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        votes = torch.zeros(len(images), 10)
        votes[:, 1:3] = value
        return votes, torch.full((len(images), 10), 0.3)

    return vote


def anagram_readings(judge=None, controls=(None, None)) -> list[Reading]:
    flip = view("flip")
    return [Reading("upright", "1", "upright", judge=judge, control=controls[0]),
            Reading("view", "2", "upside down", flip.apply, tag="flip", judge=judge, control=controls[1])]


def test_a_judged_pair_searches_until_one_passes_and_records_every_measure_by_its_metric_name():
    ctx = FakeContext()
    readings = anagram_readings(shares(0.9), (Control("real", 0.02, 0.1), Control("real", 0.05, 0.1)))
    kept = DrawnSearch(ctx, "anagram", 1729, top_half_classifier).run(1, None, readings, None, seen="upside down")
    assert (kept[0].seed, kept[0].index) == (1731, 1) and ctx.steps == ["anagram 1: batches of 3"]
    expected = {metric_name("candidates", 1): 9, metric_name("passes", 1): 1, metric_name("trivial", 1): 0}
    for reading, real in (("upright", 0.02), ("view", 0.05)):
        expected |= {f"reads_1_{reading}": 1.0, f"not_digit_1_{reading}": 0.0, f"nearest_1_{reading}": pytest.approx(0.9),
                     f"distance_1_{reading}": pytest.approx(0.3), f"real_1_{reading}": real}
    assert ctx.metrics == expected


def test_each_kept_candidate_is_a_figure_per_reading_the_one_shown_first_and_chosen():
    ctx = FakeContext()
    kept = DrawnSearch(ctx, "anagram", 1729, top_half_classifier, keep=2).run(1, None, anagram_readings(), None, seen="upside down")
    assert [f["name"] for f in ctx.figures] == ["1 seed 1731 #1 upright", "1 seed 1731 #1 flip", f"1 {kept[1].label} upright", f"1 {kept[1].label} flip"]
    first, second = ctx.figures[:2]
    assert first["chosen"] and second["chosen"] and not ctx.figures[2]["chosen"]
    assert first["caption"] == "upright: “1” (1.00), seed 1731 #1" and second["caption"] == "upside down: “2” (1.00), seed 1731 #1"
    assert (second["reading"], second["prompt"], second["seen"], second["index"], second["batch"]) == ("flip", "2", "upside down", 1, 3)
    assert torch.equal(second["image"], view("flip").apply(first["image"][None])[0])  # the view's figure is the image seen through it


def test_a_control_at_its_bar_makes_the_pair_trivial_and_a_rejecting_second_judge_fails_it():
    ctx = FakeContext()
    readings = anagram_readings(shares(0.3), (Control("real", 0.0, 0.1), Control("real", 0.1, 0.1)))
    DrawnSearch(ctx, "anagram", 1729, top_half_classifier).run(1, None, readings, None)
    assert ctx.metrics["trivial_1"] == 1 and ctx.metrics["passes_1"] == 0
    assert ctx.metrics["candidates_1"] == 12  # no candidate passes: every batch is spent


def test_without_a_judge_a_pair_shows_its_own_seed_first_and_records_no_metric():
    ctx = FakeContext()
    kept = DrawnSearch(ctx, "hybrid", 1729).run(2, None, [Reading("close", "waterfalls", "close", tag="hybrid"), Reading("far", "a skull", "low-passed")], 1735)
    assert [c.label for c in kept] == ["seed 1735", "seed 1729", "seed 1730"] and ctx.metrics == {}
    assert [f["name"] for f in ctx.figures[:2]] == ["2 seed 1735 hybrid", "2 seed 1735 far"] and ctx.steps == ["hybrid 2"]
    assert ctx.figures[0]["caption"] == "close: “waterfalls”, seed 1735" and "index" not in ctx.figures[0]
    with pytest.raises(ValueError, match="needs a seed of its own"):
        DrawnSearch(ctx, "hybrid", 1729).run(3, None, [], None)


def test_the_report_helper_reads_back_every_measure_a_pair_search_records():
    from generator.site.render import Renderer

    ctx = FakeContext()
    readings = anagram_readings(shares(0.9), (Control("real", 0.02, 0.1), Control("real", 0.05, 0.1)))
    DrawnSearch(ctx, "anagram", 1729, top_half_classifier).run(1, None, readings, None)
    env = Renderer(REPO / "templates").env
    known = {measure for measure, _, _ in env.get_template("_report.md.j2").module.PAIR_MEASURES}
    recorded = {name.split("_1_")[0] for name in ctx.metrics if "_1_" in name}
    assert recorded <= known, recorded - known

    @dataclass
    class Result:
        metrics: dict[str, float]

    source = ('{% import "_report.md.j2" as rep %}{% call(s) rep.pair_scores(r, 1, ["upright", "view"]) %}'
              '{{ s.candidates }} {{ s.passes }} {{ s.trivial }}\n{{ rep.scores_table(s, ["upright", "upside down"], 10) }}{% endcall %}')
    page = env.from_string(source).render(r=Result(ctx.metrics))
    assert page.startswith("9 1 0\n")
    rows = [" ".join(line.split()) for line in page.splitlines() if line.startswith("| ")]
    assert rows == ["| | upright | upside down |", "| --- | --- | --- |", "| classifier of 2.0: probability of the digit | 1.00 | 1.00 |",
                    "| classifier of 2.0: “not a digit” | 0.00 | 0.00 |", "| 10 nearest real digits: share of the digit | 90% | 90% |",
                    "| their RMS pixel distance | 0.30 | 0.30 |", "| real test digits of the other prompt that already read so | 2% | 5% |"]


def test_a_batch_of_candidates_is_one_ctx_sampling_run_of_its_seed():
    calls = []

    class Run:
        def __init__(self, seed: int) -> None:
            self.seed = seed

        def noise(self, count: int) -> torch.Tensor:
            calls.append(("noise", self.seed, count))
            return torch.zeros(count, 1, 2, 2)

        def sample(self, estimate: Any, x: torch.Tensor) -> torch.Tensor:
            calls.append(("sample", self.seed, estimate))
            return x + self.seed

    ctx = FakeContext()
    ctx.sampling = Run  # type: ignore[attr-defined]
    batch = PairSearch(ctx, "anagram", 1729).sampler("ε estimate", 3)(1730)
    assert calls == [("noise", 1730, 3), ("sample", 1730, "ε estimate")] and torch.equal(batch, torch.full((3, 1, 2, 2), 1730.0))
