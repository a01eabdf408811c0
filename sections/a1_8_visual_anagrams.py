"""1.8 Visual anagrams: one image that reads as one prompt upright and another through an orthogonal view (a flip)."""

from generator.section import BASE_SEED, Section

# the prompt seen as is, the prompt seen through the view, and the view; SPEC's pairs for IF, digits for the MNIST UNet
PAIRS = [
    {"prompts": ["an oil painting of an old man", "an oil painting of people around a campfire"], "view": "flip"},
    {"prompts": ["an oil painting of abraham lincoln", "an oil painting of a lion"], "view": "flip"},
    {"prompts": ["a photo of a golden eagle", "a photo of a fighter jet"], "view": "flip"},
    # the paper's jigsaw example (visual_anagrams' readme); a pair beyond SECTION.seeds carries its own seed
    {"prompts": ["an oil painting of houseplants", "an oil painting of marilyn monroe"], "view": "jigsaw", "seed": BASE_SEED},
]
DIGIT_PAIRS = [{"prompts": ["6", "9"], "view": "rot180"}, {"prompts": ["2", "5"], "view": "flip"}, {"prompts": ["1", "7"], "view": "flip"}]
SEEN = {"flip": "upside down", "rot90": "rotated 90°", "rot180": "rotated 180°", "rot270": "rotated 270°", "jigsaw": "as a jigsaw, its pieces moved and turned"}

SECTION = Section(
    id="1.8",
    part="A",
    title="Visual anagrams",
    template="a1_8_visual_anagrams.md.j2",
    summary="Images that show one prompt upright and another upside down, from averaged flipped noise estimates.",
    # each pair's seed is tried first and shown unless the backend can score samples; then BASE_SEED + k, k < tries;
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    params={"stride": 30, "cfg_scale": 7.0, "tries": 4, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "tries": 2}},
    prompts={"deepfloyd": PAIRS, "tiny": PAIRS, "mnist": DIGIT_PAIRS},
    seeds=[BASE_SEED, BASE_SEED + 6, BASE_SEED],
)


def compute(ctx):
    import torch

    from generator.diffusion.estimators import anagram, cfg
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps
    from generator.diffusion.views import view
    from generator.seed_search import candidate_seeds, pick_seed

    backend, value_range, p = ctx.backend, ctx.backend.value_range, ctx.params
    timesteps = strided_timesteps(990, p["stride"])

    def guided(prompt):
        return cfg(backend.estimator(backend.encode(prompt)), backend.estimator(backend.encode("")), p["cfg_scale"])

    for pair, entry in enumerate(ctx.prompts, start=1):
        (first, second), view_name, seed = entry["prompts"], entry["view"], entry.get("seed") or ctx.seeds[pair - 1]
        views = (view("identity"), view(view_name))
        estimate = anagram([guided(first), guided(second)], views)
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

