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

SECTION = Section(
    id="1.8",
    part="A",
    title="Visual anagrams",
    template="a1_8_visual_anagrams.md.j2",
    summary="Images that show one prompt upright and another upside down, from averaged flipped noise estimates.",
    # each pair's seed is tried first and shown unless the backend can score samples; then BASE_SEED + k, k < tries;
    # a backend with a classifier (MNIST) instead samples `batch` candidates per seed, up to `max_batches` seeds, until
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
    if hasattr(ctx.backend, "classify"):
        return _search_digits(ctx)
    import torch

    from generator.diffusion.reflections import anagram_view as view
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps
    from generator.mnist.search import candidate_seeds, pick_seed

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    timesteps = strided_timesteps(990, p["stride"])
    for pair, entry in enumerate(ctx.prompts, start=1):
        (first, second), view_name, seed = entry["prompts"], entry["view"], entry.get("seed") or ctx.seeds[pair - 1]
        views = (view("identity"), view(view_name))
        estimate = _estimate(backend, first, second, views, p["cfg_scale"])
        candidates = candidate_seeds(seed, BASE_SEED, p["tries"])
        images = {}
        for candidate in ctx.track(candidates, f"anagram {pair}"):
            generator = ctx.generator(candidate)
            noise = torch.randn((1, *backend.image_shape), generator=generator)
            images[candidate] = sample(estimate, backend.schedule, timesteps, noise, generator=generator, clip_x0=p["clip_x0"])
        best = pick_seed(backend, images, [(views[0].apply, first), (views[1].apply, second)])
        for candidate, image in images.items():
            meta = {"pair": pair, "seed": candidate, "chosen": candidate == best, "seen": SEEN.get(view_name, view_name)}
            ctx.figure(f"{pair} seed {candidate} upright", image[0], f"upright: “{first}”, seed {candidate}",
                       value_range=value_range, prompt=first, reading="upright", **meta)
            ctx.figure(f"{pair} seed {candidate} {view_name}", views[1].apply(image)[0], f"{SEEN.get(view_name, view_name)}: “{second}”, seed {candidate}",
                       value_range=value_range, prompt=second, reading=view_name, **meta)


def _estimate(backend, first, second, views, scale):
    from generator.diffusion.estimators import anagram, cfg

    unconditional = backend.estimator(backend.encode(""))
    return anagram([cfg(backend.estimator(backend.encode(prompt)), unconditional, scale) for prompt in (first, second)], views)


def _search_digits(ctx):
    """The MNIST UNet: batches of candidates judged by the 2.0 classifier, and each pair's triviality on real digits."""

    from generator.diffusion.reflections import anagram_view as view
    from generator.diffusion.schedule import strided_timesteps
    from generator.mnist.backend import digit_of
    from generator.mnist.data import load_mnist
    from generator.mnist.search import batch_sampler, nearest_digits, search_batches, view_share

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    timesteps = strided_timesteps(990, p["stride"])
    data = load_mnist(ctx.input_path("mnist"))
    ctx.note("data", data.source)

    references, labels = data.train_images * 2 - 1, data.train_labels

    def vote(images):
        return nearest_digits(images, references, labels, k=p["nearest"])

    def test_digits(digit):
        images = data.test_images[data.test_labels == digit] * 2 - 1
        return images[: p["test_digits"]] if p["test_digits"] else images

    for pair, entry in enumerate(ctx.prompts, start=1):
        (first, second), view_name = entry["prompts"], entry["view"]
        views = (view("identity"), view(view_name))
        digits = (digit_of(first), digit_of(second))
        # trivial both ways: real p1 seen through the view as p2, and real p2 seen through the inverse view as p1
        ctx.metric(f"reads_{pair}_trivial", view_share(backend.classify, test_digits(digits[0]), views[1].apply, digits[1]))
        ctx.metric(f"reads_{pair}_trivial_back", view_share(backend.classify, test_digits(digits[1]), views[1].inverse, digits[0]))
        estimate = _estimate(backend, first, second, views, p["cfg_scale"])

        sample_batch = batch_sampler(estimate, backend.schedule, timesteps, (p["batch"], *backend.image_shape), ctx.generator, p["clip_x0"])
        seeds = ctx.track(range(BASE_SEED, BASE_SEED + p["max_batches"]), f"anagram {pair}: batches of {p['batch']}")
        readings = [(views[0].apply, digits[0]), (views[1].apply, digits[1])]
        kept, sampled = search_batches(sample_batch, backend.classify, readings, seeds, p["target"], keep=5,
                                       vote=vote if p["nearest"] else None, majority=p["majority"])
        ctx.metric(f"candidates_{pair}", sampled)
        best = kept[0]
        ctx.metric(f"reads_{pair}_upright", best.scores[0])
        ctx.metric(f"reads_{pair}_view", best.scores[1])
        ctx.metric(f"reads_{pair}_upright_not_digit", best.not_digit[0])
        ctx.metric(f"reads_{pair}_view_not_digit", best.not_digit[1])
        if best.votes:
            ctx.metric(f"reads_{pair}_upright_nearest", best.votes[0])
            ctx.metric(f"reads_{pair}_view_nearest", best.votes[1])
            ctx.metric(f"distance_{pair}_upright", best.distances[0])
            ctx.metric(f"distance_{pair}_view", best.distances[1])
        for candidate in kept:
            meta = {"pair": pair, "seed": candidate.seed, "index": candidate.index, "chosen": candidate is best, "seen": SEEN.get(view_name, view_name),
                    "batch": p["batch"], "probabilities": list(candidate.scores), "not_digit": list(candidate.not_digit),
                    "nearest": list(candidate.votes), "distances": list(candidate.distances)}
            ctx.figure(f"{pair} {candidate.label} upright", candidate.image[0], f"upright: “{first}” ({candidate.scores[0]:.2f}), {candidate.label}",
                       value_range=value_range, prompt=first, reading="upright", **meta)
            ctx.figure(f"{pair} {candidate.label} {view_name}", views[1].apply(candidate.image)[0],
                       f"{SEEN.get(view_name, view_name)}: “{second}” ({candidate.scores[1]:.2f}), {candidate.label}",
                       value_range=value_range, prompt=second, reading=view_name, **meta)
