"""1.5 Sampling from noise: the strided denoising loop started from pure noise (i_start = 0)."""

from generator.engine.section import BASE_SEED, Section

SECTION = Section(
    id="1.5",
    part="A",
    title="Sampling from noise",
    template="a1_5_sampling_from_noise.md.j2",
    summary="Five samples of “a high quality photo” denoised from pure noise, without guidance.",
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    params={"stride": 30, "samples": 5, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "samples": 2}},
    # the MNIST UNet's equivalent of a generic prompt: one class, here 3
    prompts={"deepfloyd": ["a high quality photo"], "tiny": ["a high quality photo"], "mnist": ["3"]},
    seeds=[BASE_SEED],
)


def compute(ctx):
    import torch

    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps

    backend, seed, value_range, p = ctx.backend, ctx.seeds[0], ctx.backend.value_range, ctx.params
    timesteps, prompt, count = strided_timesteps(990, p["stride"]), ctx.prompts[0], p["samples"]
    estimate = backend.estimator(backend.encode(prompt))
    # one batch, one generator: x_T is its first draw, the steps' noise the rest
    generator = ctx.generator(seed)
    noise = torch.randn((count, *backend.image_shape), generator=generator)
    advance = ctx.step("sampling", len(timesteps))
    images = sample(estimate, backend.schedule, timesteps, noise, generator=generator, callback=lambda state: advance(1), clip_x0=p["clip_x0"])
    for k, image in enumerate(images, start=1):
        ctx.figure(f"sample {k}", image, f"sample {k} of {count}, “{prompt}”, seed {seed}, from t = {timesteps[0]}", value_range=value_range, seed=seed, prompt=prompt, t=timesteps[0])
