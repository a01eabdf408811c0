"""1.8 Visual anagrams: one image that reads as one prompt upright and another through an orthogonal view (a flip)."""

from generator.engine.section import BASE_SEED, Section, backend_inputs

# the prompt seen as is, the prompt seen through the view, and the view; SPEC's pairs for IF, digits for the MNIST UNet
PAIRS = [
    {"prompts": ["an oil painting of an old man", "an oil painting of people around a campfire"], "view": "flip"},
    {"prompts": ["an oil painting of abraham lincoln", "an oil painting of a lion"], "view": "flip"},
    {"prompts": ["a photo of a golden eagle", "a photo of a fighter jet"], "view": "flip"},
    # the paper's jigsaw example (visual_anagrams' readme); a pair beyond SECTION.seeds carries its own seed
    {"prompts": ["an oil painting of houseplants", "an oil painting of marilyn monroe"], "view": "jigsaw", "seed": BASE_SEED},
]
# Digit pairs whose view does not already turn real digits of one into the other (measured on the 2.0 test set and
# shown on the page): 6/9 under 180° and 2/5 upside down are left out for that reason. Chosen by eye from a screen of
# every ordered pair of different digits upside down, mirrored and turned by 90° (32 samples each; 270° is 90° with
# the digits swapped), keeping pairs whose searched samples read as both digits to a person too: the classifier also
# passes 0/9 and 3/9 upside down, which look like a ∂, and an earlier 1/7 turned by 180° showed an L-shaped foot.
DIGIT_PAIRS = [
    {"prompts": ["4", "7"], "view": "rot90"},
    {"prompts": ["7", "2"], "view": "flip"},
    {"prompts": ["2", "3"], "view": "mirror"},
    {"prompts": ["3", "5"], "view": "mirror"},
    {"prompts": ["5", "6"], "view": "rot90"},
]
SEEN = {"flip": "upside down", "mirror": "mirrored left to right", "rot90": "rotated 90°", "rot180": "rotated 180°", "rot270": "rotated 270°",
        "transpose": "reflected in its diagonal", "antitranspose": "reflected in its other diagonal", "jigsaw": "as a jigsaw, its pieces moved and turned"}

# The backends whose samples a judge can score, the MNIST UNet's digits by the classifier of section 2.0: they search
# batches of candidates (generator/mnist/search.py); the others show each pair's own seed among `tries`.
JUDGED = ("mnist",)

SECTION = Section(
    id="1.8",
    part="A",
    title="Visual anagrams",
    template="a1_8_visual_anagrams.md.j2",
    summary="Images that show one prompt upright and another upside down, from averaged flipped noise estimates.",
    # each pair's seed is tried first and shown unless the backend is JUDGED; then BASE_SEED + k, k < tries;
    # a JUDGED backend (MNIST) instead samples `batch` candidates per seed, up to `max_batches` seeds, until
    # one reads as both prompts with probability ≥ `target`; a pair is trivial when at least `trivial_share` of the
    # real test digits of one prompt already read as the other through the view (`test_digits` per class, 0 = all);
    # a second judge, the `nearest` real training digits by pixel distance (0 = off), must give each reading's digit a
    # share ≥ `majority` as well, so that the search cannot settle on an image that only the classifier accepts;
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    params={"stride": 30, "cfg_scale": 7.0, "tries": 4, "clip_x0": "none", "batch": 64, "max_batches": 4, "target": 0.8,
            "trivial_share": 0.1, "test_digits": 0, "nearest": 10, "majority": 0.5},
    profiles={"smoke": {"stride": 330, "tries": 2, "batch": 4, "max_batches": 1, "test_digits": 50}},
    prompts={"deepfloyd": PAIRS, "tiny": PAIRS, "mnist": DIGIT_PAIRS},
    seeds=[BASE_SEED, BASE_SEED + 6, BASE_SEED],
    inputs=backend_inputs(mnist={"mnist": "dataset:mnist"}),
)


def compute(ctx):
    from generator.mnist.search import PairSearch, RealDigits

    judged = ctx.backend_name in JUDGED
    search = PairSearch(ctx, "anagram", BASE_SEED, ctx.backend.classify if judged else None)
    real = RealDigits.load(ctx.input_path("mnist")) if judged else None
    if real is not None:
        ctx.note("data", real.source)
    for pair, entry in enumerate(ctx.prompts, start=1):
        (first, second), name = entry["prompts"], entry["view"]
        readings, views = _readings(ctx, first, second, name, real)
        estimate = _estimate(ctx.backend, first, second, views, ctx.params["cfg_scale"])
        seed = None if judged else entry.get("seed") or ctx.seeds[pair - 1]
        search.run(pair, estimate, readings, seed, seen=SEEN.get(name, name))


def _readings(ctx, first, second, name, real):
    """Upright as the first prompt, through the view as the second; with real digits, each reading gets the second judge
    and its control: the share of real digits of the other prompt that the view (or its inverse) already turns into it."""
    from dataclasses import replace

    from generator.diffusion.reflections import anagram_view
    from generator.mnist.backend import digit_of
    from generator.mnist.search import Control, Reading, view_share

    views = (anagram_view("identity"), anagram_view(name))
    upright, seen = Reading("upright", first, "upright"), Reading("view", second, SEEN.get(name, name), views[1].apply, tag=name)
    if real is None:
        return [upright, seen], views
    p, classify, digits = ctx.params, ctx.backend.classify, (digit_of(first), digit_of(second))
    judge = real.judge(p["nearest"]) if p["nearest"] else None
    back = view_share(classify, real.tests_of(digits[1], p["test_digits"]), views[1].inverse, digits[0])
    ahead = view_share(classify, real.tests_of(digits[0], p["test_digits"]), views[1].apply, digits[1])
    return [replace(upright, judge=judge, control=Control("real", back, p["trivial_share"])),
            replace(seen, judge=judge, control=Control("real", ahead, p["trivial_share"]))], views


def _estimate(backend, first, second, views, scale):
    from generator.diffusion.estimators import anagram, cfg

    unconditional = backend.estimator(backend.encode(""))
    return anagram([cfg(backend.estimator(backend.encode(prompt)), unconditional, scale) for prompt in (first, second)], views)
