"""Seed search: several candidate seeds per prompt, the page shows the chosen one and folds the rest.

Two ways: backends that cannot judge their samples (DeepFloyd IF, the tiny test model) run a few seeds one by one
and show each pair's own seed; a backend with a classifier (`score`/`classify`, the MNIST UNet) samples whole
batches of candidates at once and keeps the candidates whose worst reading scores best, batch after batch until
enough of them pass or the budget of batches is spent. `PairSearch` does either for an image with two readings
(1.8's anagrams, 1.9's hybrids) and records what it found under `metric_name`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from generator.diffusion import sampling  # noqa: F401  (ctx.sampling is not fingerprinted: this puts the sampler in the code digest of 1.8 and 1.9)

ScoredView = tuple[Callable[[Any], Any], str]
Judge = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def candidate_seeds(seed: int, base: int, tries: int) -> list[int]:
    """`seed` first, then base, base + 1, … (skipping `seed`), `tries` seeds in all."""
    return [seed, *(s for s in range(base, base + tries) if s != seed)][:tries]


def pick_seed(backend: Any, images: Mapping[int, Any], readings: Sequence[ScoredView]) -> int:
    """The first seed, unless the backend can judge samples (`score(images, prompt) → [N]`, the MNIST classifier):
    then the seed whose worst reading (a view of the image and the prompt it should show) scores best."""
    score = getattr(backend, "score", None)
    if score is None:
        return next(iter(images))
    return max(images, key=lambda seed: min(float(score(show(images[seed]), prompt)) for show, prompt in readings))


@dataclass(frozen=True)
class Candidate:
    """One sample of a batched search: batch `seed`, position `index` in it, the image [1, C, H, W] and its scores."""

    seed: int
    index: int | None  # None: a seed sampled alone, not a batch
    image: torch.Tensor
    scores: tuple[float, ...]  # one per reading, the classifier's probability of the prompt's digit
    not_digit: tuple[float, ...]  # one per reading, the probability of "not a digit"
    votes: tuple[float, ...] = ()  # one per reading, the second judge's share for the prompt's digit (empty: none)
    distances: tuple[float, ...] = ()  # one per reading, the second judge's distance to real digits of the prompt

    @property
    def worst(self) -> float:
        return min(self.scores)

    @property
    def worst_vote(self) -> float:
        return min(self.votes, default=1.0)

    @property
    def farthest(self) -> float:
        return max(self.distances, default=0.0)

    @property
    def label(self) -> str:
        return f"seed {self.seed}" if self.index is None else f"seed {self.seed} #{self.index}"

    def passes(self, target: float, majority: float) -> bool:
        """Every reading at `target` or more by the classifier, and at `majority` or more by the second judge."""
        return self.worst >= target and self.worst_vote >= majority


def search_batches(
    sample_batch: Callable[[int], torch.Tensor],
    classify: Callable[[torch.Tensor], torch.Tensor],
    readings: Sequence[tuple[Callable[[torch.Tensor], torch.Tensor], int]],
    seeds: Iterable[int],
    target: float,
    keep: int = 4,
    enough: int = 1,
    vote: Judge | Sequence[Judge] | None = None,
    majority: float = 0.5,
) -> tuple[list[Candidate], int]:
    """Sample batches (`sample_batch(seed) → [B, C, H, W]`) until `enough` candidates read as every (view, digit)
    with probability ≥ `target`; returns the `keep` best candidates, best first, and the number of candidates
    sampled. `classify(images) → [B, 11]` (column 10: "not a digit").

    With a second judge `vote(images) → (shares [B, 10], distances [B, 10])` (nearest_digits), a candidate passes only
    when that judge also gives every reading's digit a share ≥ `majority`; passing candidates rank first, the one
    whose readings all lie nearest to real digits of their prompts first among them, then the others by worst reading: a classifier saturates at 1.00 for
    many candidates, scribbles among them, while a scribble lies far from every real digit. `vote` may also be one
    judge per reading (a low-passed reading is best compared with low-passed real digits)."""
    best: list[Candidate] = []
    sampled = 0

    def rank(c: Candidate) -> tuple[bool, float, int, int]:
        passes = c.passes(target, majority)
        return (not passes, c.farthest if passes and c.distances else -c.worst, c.seed, c.index)

    for seed in seeds:
        images = sample_batch(seed)
        sampled += len(images)
        shown = [show(images) for show, _ in readings]
        probabilities = [classify(x) for x in shown]
        judges = [] if vote is None else list(vote) if isinstance(vote, Sequence) else [vote] * len(readings)
        judged = [judge(x) for judge, x in zip(judges, shown, strict=True)] if judges else []
        for index in range(len(images)):
            scores = tuple(float(p[index, digit]) for p, (_, digit) in zip(probabilities, readings, strict=True))
            not_digit = tuple(float(p[index, -1]) for p in probabilities)
            votes = tuple(float(v[index, digit]) for (v, _), (_, digit) in zip(judged, readings, strict=True)) if judged else ()
            distances = tuple(float(d[index, digit]) for (_, d), (_, digit) in zip(judged, readings, strict=True)) if judged else ()
            best.append(Candidate(seed, index, images[index : index + 1].clone(), scores, not_digit, votes, distances))
        best = sorted(best, key=rank)[: max(keep, enough)]
        if sum(c.passes(target, majority) for c in best) >= enough:
            break
    return best[:keep], sampled


def view_share(classify: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, show: Callable[[torch.Tensor], torch.Tensor], digit: int) -> float:
    """The share of `images` (real digits of one class, in [-1, 1]) whose view `show(images)` the classifier reads as
    `digit` (its most probable of the 11 classes): how much of an anagram the view already makes of real digits."""
    if len(images) == 0:
        raise ValueError("A view share needs at least one image.")
    return float((classify(show(images)).argmax(dim=1) == digit).float().mean())


def nearest_digits(images: torch.Tensor, references: torch.Tensor, labels: torch.Tensor, k: int = 10, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """A second judge, independent of any trained network, for images [N, C, H, W] against real `references` (same
    shape and range) by pixel distance: the share of the `k` nearest references that carry each label, [N, classes],
    and for each class the mean root-mean-square pixel distance to its `k` nearest references of that class, [N, classes]
    (infinite for a class with fewer than `k` references).

    A classifier can be pushed by a search to accept an odd image; a sample whose nearest real digits are mostly of
    the prompted class, and close, also looks like that class pixel for pixel, which is nearer to how a person reads it."""
    if len(references) < k:
        raise ValueError(f"The nearest-digit judge needs at least k = {k} reference images; it got {len(references)}.")
    flat, ref = images.flatten(1).float(), references.flatten(1).float()
    # ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖², in chunks of references so that 60,000 real digits fit in memory
    squared = torch.cat([(flat**2).sum(1, keepdim=True) - 2 * flat @ part.T + (part**2).sum(1) for part in ref.split(8192)], dim=1)
    distances = squared.clamp(min=0).div(flat.shape[1]).sqrt()
    votes = torch.nn.functional.one_hot(labels[distances.topk(k, dim=1, largest=False).indices], classes).float().mean(dim=1)
    # a class with fewer than k references is infinitely far: nothing shows what its digits look like
    far = torch.full((len(flat),), float("inf"))
    typical = torch.stack([distances[:, labels == c].topk(k, dim=1, largest=False).values.mean(dim=1) if int((labels == c).sum()) >= k else far for c in range(classes)], dim=1)
    return votes, typical


# ---------------------------------------------------------------- one image, two readings: 1.8 anagrams, 1.9 hybrids


def metric_name(measure: str, pair: int, reading: str = "") -> str:
    """The metric a pair search records: `reads_2_view` (pair 2's reading "view", by the classifier), or
    `candidates_2` (the pair as a whole). templates/_report.md.j2's `pair_scores` reads the same names."""
    return f"{measure}_{pair}_{reading}" if reading else f"{measure}_{pair}"


def as_it_is(images: torch.Tensor) -> torch.Tensor:
    return images


@dataclass(frozen=True)
class Control:
    """What a reading already shows without the trick, recorded as the metric `measure`; a pair is trivial when one of
    its controls reaches its `bar` (1.8: the share of real digits that the view alone turns into this reading's digit;
    1.9: the best plain sample of the close digit that, low-passed, already reads as the far one)."""

    measure: str
    value: float
    bar: float


@dataclass(frozen=True)
class Reading:
    """One way to see a pair's image: `name` in its metrics, `tag` in its figures' names (default: `name`), `words`
    in their captions, the prompt it should show and the view `show` that shows it; where a judge scores samples,
    the second judge of this view (nearest_digits against real digits seen the same way) and a control."""

    name: str
    prompt: str
    words: str
    show: Callable[[torch.Tensor], torch.Tensor] = as_it_is
    tag: str = ""
    judge: Judge | None = None
    control: Control | None = None

    @property
    def figure_tag(self) -> str:
        return self.tag or self.name


@dataclass(frozen=True)
class RealDigits:
    """MNIST in [-1, 1], for the judges of a pair search: training digits to compare with, test digits to control."""

    train: torch.Tensor
    train_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor
    source: str

    @classmethod
    def load(cls, path: Any) -> RealDigits:
        from generator.mnist.data import load_mnist

        data = load_mnist(path)
        return cls(data.train_images * 2 - 1, data.train_labels, data.test_images * 2 - 1, data.test_labels, data.source)

    def judge(self, k: int, seen: Callable[[torch.Tensor], torch.Tensor] = as_it_is) -> Judge:
        """The second judge: the `k` training digits nearest to an image, the training digits seen through `seen` too."""
        references = seen(self.train)
        return lambda images: nearest_digits(images, references, self.train_labels, k=k)

    def tests_of(self, digit: int, limit: int = 0) -> torch.Tensor:
        """The test digits of one class, the first `limit` of them (0: all)."""
        images = self.test[self.test_labels == digit]
        return images[:limit] if limit else images


class PairSearch:
    """Candidates for images with two readings, and the figures and metrics of those kept, through a section's `ctx`
    (samples by `ctx.sampling`, so params stride and clip_x0; tries; with a judge also batch, max_batches, target, majority).

    Without a judge (`classify` None: DeepFloyd IF, the tiny model) a pair samples `tries` seeds one by one, its own
    first, and shows that one. With one (the 2.0 classifier, for the MNIST UNet) it samples batches from seeds `base`,
    `base` + 1, … until a candidate reads as both prompts (search_batches), shows the best with the runners-up, and
    records the pair's metrics (metric_name): per reading `reads`, `not_digit`, and with second judges `nearest` and
    `distance` and its control's measure; per pair `candidates`, `passes` (1 when both judges accept the one shown)
    and, with controls, `trivial` (1 when a control reaches its bar)."""

    def __init__(self, ctx: Any, what: str, base: int, classify: Callable[[torch.Tensor], torch.Tensor] | None = None, keep: int = 5):
        self.ctx, self.what, self.base, self.classify, self.keep = ctx, what, base, classify, keep

    def sampler(self, estimate: Callable[[torch.Tensor, int], Any], size: int) -> Callable[[int], torch.Tensor]:
        """`seed ↦ size` samples of `estimate` from pure noise, all drawn from that seed: one `ctx.sampling(seed)` run."""

        def sample(seed: int) -> torch.Tensor:
            run = self.ctx.sampling(seed)
            return run.sample(estimate, run.noise(size))

        return sample

    def run(self, pair: int, estimate: Callable[[torch.Tensor, int], Any], readings: Sequence[Reading], seed: int | None, **meta: Any) -> list[Candidate]:
        """Pair `pair`'s candidates, the one shown first; each is saved as a figure per reading, with `meta`. `seed`, the
        pair's own, comes first without a judge; a judged search draws its batches from `base` on and needs none."""
        if self.classify is not None:
            kept = self._judged(pair, estimate, readings, self.classify)
        elif seed is not None:
            kept = self._seeds(pair, estimate, seed)
        else:
            raise ValueError(f"{self.what} {pair} needs a seed of its own: give it one in the spec's seeds or in its prompt entry")
        for candidate in kept:
            self._figures(pair, candidate, candidate is kept[0], readings, meta)
        return kept

    def _seeds(self, pair: int, estimate: Callable[[torch.Tensor, int], Any], seed: int) -> list[Candidate]:
        sample = self.sampler(estimate, 1)
        seeds = candidate_seeds(seed, self.base, self.ctx.params["tries"])
        return [Candidate(s, None, sample(s), (), ()) for s in self.ctx.track(seeds, f"{self.what} {pair}")]

    def _judged(self, pair: int, estimate: Callable[[torch.Tensor, int], Any], readings: Sequence[Reading],
                classify: Callable[[torch.Tensor], torch.Tensor]) -> list[Candidate]:
        from generator.mnist.backend import digit_of

        p = self.ctx.params
        seeds = self.ctx.track(range(self.base, self.base + p["max_batches"]), f"{self.what} {pair}: batches of {p['batch']}")
        judges = [reading.judge for reading in readings]
        kept, sampled = search_batches(self.sampler(estimate, p["batch"]), classify, [(r.show, digit_of(r.prompt)) for r in readings], seeds,
                                       p["target"], keep=self.keep, vote=judges if all(judges) else None, majority=p["majority"])  # type: ignore[arg-type]
        self._record(pair, kept[0], sampled, readings)
        return kept

    def _record(self, pair: int, best: Candidate, sampled: int, readings: Sequence[Reading]) -> None:
        metric, p = self.ctx.metric, self.ctx.params
        metric(metric_name("candidates", pair), sampled)
        metric(metric_name("passes", pair), int(best.passes(p["target"], p["majority"])))
        controls = [reading.control for reading in readings if reading.control]
        if controls:
            metric(metric_name("trivial", pair), int(any(control.value >= control.bar for control in controls)))
        for i, reading in enumerate(readings):
            values = {"reads": best.scores[i], "not_digit": best.not_digit[i]}
            if best.votes:
                values |= {"nearest": best.votes[i], "distance": best.distances[i]}
            if reading.control:
                values[reading.control.measure] = reading.control.value
            for measure, value in values.items():
                metric(metric_name(measure, pair, reading.name), value)

    def _figures(self, pair: int, candidate: Candidate, chosen: bool, readings: Sequence[Reading], meta: dict[str, Any]) -> None:
        scored = {} if candidate.index is None else {
            "index": candidate.index, "batch": self.ctx.params["batch"], "probabilities": list(candidate.scores),
            "not_digit": list(candidate.not_digit), "nearest": list(candidate.votes), "distances": list(candidate.distances)}
        for i, reading in enumerate(readings):
            score = f" ({candidate.scores[i]:.2f})" if candidate.scores else ""
            self.ctx.figure(f"{pair} {candidate.label} {reading.figure_tag}", reading.show(candidate.image)[0],
                            f"{reading.words}: “{reading.prompt}”{score}, {candidate.label}", value_range=self.ctx.backend.value_range,
                            pair=pair, seed=candidate.seed, chosen=chosen, prompt=reading.prompt, reading=reading.figure_tag, **scored, **meta)
