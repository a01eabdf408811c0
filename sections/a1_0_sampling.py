"""1.0 Sampling from the model: IF's own pipeline, stage I (64 px) and stage II (256 px), at two step counts."""

from generator.engine.section import BASE_SEED, Section

PROMPTS = ["an oil painting of a snowy mountain village", "a man wearing a hat", "a rocket ship"]
DIGITS = ["a handwritten 3", "seven", "the digit 5"]

SECTION = Section(
    id="1.0",
    part="A",
    title="Sampling from the model",
    template="a1_0_sampling.md.j2",
    summary="Three prompts through DeepFloyd IF's pipeline, stage I and stage II side by side, at 20 and 50 steps.",
    # each value is num_inference_steps of both stages
    params={"steps": [20, 50], "cfg_scale": 7.0},
    profiles={"smoke": {"steps": [1, 2]}},
    prompts={"deepfloyd": PROMPTS, "tiny": PROMPTS, "mnist": DIGITS},
    seeds=[BASE_SEED],
)


def compute(ctx):
    backend, seed, value_range = ctx.backend, ctx.seeds[0], ctx.backend.value_range
    negative = backend.encode("")
    samples = {}
    for steps in ctx.params["steps"]:
        for k, prompt in enumerate(ctx.track(ctx.prompts, f"{steps} steps"), start=1):
            embeds = backend.encode(prompt)
            small = backend.generate(embeds, negative, ctx.generator(seed), steps, ctx.params["cfg_scale"])
            samples[steps, k] = small
            if hasattr(backend, "score"):
                # the quality note of the MNIST tab: how surely the 2.0 classifier reads each sample as its prompt
                ctx.metric(f"reads_{steps}_steps_{k}", float(backend.score(small, prompt)[0]))
                ctx.metric(f"reads_{steps}_steps_{k}_not_digit", float(backend.classify(small)[0, -1]))
            meta = {"steps": steps, "seed": seed, "prompt": prompt}
            size = backend.image_shape[-1]
            ctx.figure(f"{steps} steps stage I: {prompt}", small[0], f"stage I, {size} px, {steps} steps: “{prompt}”, seed {seed}", value_range=value_range, stage=1, **meta)
            # the MNIST UNet has no super-resolution stage: its page shows the samples only
            if backend.super_resolution:
                large = backend.upsample(small, embeds, negative, ctx.generator(seed), steps)
                ctx.figure(f"{steps} steps stage II: {prompt}", large[0], f"stage II, 256 px, {steps} steps: “{prompt}”, seed {seed}", value_range=value_range, stage=2, **meta)
    fewest, most = min(ctx.params["steps"]), max(ctx.params["steps"])
    for k in range(1, len(ctx.prompts) + 1):
        # what the extra steps change: the mean absolute pixel difference, as a share of the value range
        low, high = value_range
        ctx.metric(f"change_{k}", float((samples[most, k] - samples[fewest, k]).abs().mean() / (high - low)))
