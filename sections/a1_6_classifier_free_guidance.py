"""1.6 Classifier-free guidance: the samples of 1.5 with ε = ε_u + γ (ε_c − ε_u), γ = 7, ε_u for the prompt ""."""

from generator.engine.section import BASE_SEED, Section

SECTION = Section(
    id="1.6",
    part="A",
    title="Classifier-free guidance",
    template="a1_6_classifier_free_guidance.md.j2",
    summary="Five samples of “a high quality photo” with CFG scale 7, from the same noise as 1.5.",
    # clip_x0: "none" (the formulas), "clip" or "dynamic" (IF's thresholding), as in 1.4
    params={"stride": 30, "samples": 5, "cfg_scale": 7.0, "clip_x0": "none"},
    profiles={"smoke": {"stride": 330, "samples": 2}},
    prompts={"deepfloyd": ["a high quality photo"], "tiny": ["a high quality photo"], "mnist": ["3"]},
    seeds=[BASE_SEED],
)


def compute(ctx):
    import torch

    from generator.diffusion.estimators import cfg
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps

    backend, seed, value_range, p = ctx.backend, ctx.seeds[0], ctx.backend.value_range, ctx.params
    timesteps, prompt, count = strided_timesteps(990, p["stride"]), ctx.prompts[0], p["samples"]
    estimate = cfg(backend.estimator(backend.encode(prompt)), backend.estimator(backend.encode("")), p["cfg_scale"])
    # the same generator and draws as 1.5, so sample k starts from the same x_T there and here
    generator = ctx.generator(seed)
    noise = torch.randn((count, *backend.image_shape), generator=generator)
    advance = ctx.step("sampling with CFG", len(timesteps))
    images = sample(estimate, backend.schedule, timesteps, noise, generator=generator, callback=lambda state: advance(1), clip_x0=p["clip_x0"])
    for k, image in enumerate(images, start=1):
        ctx.figure(f"sample {k}", image, f"sample {k} of {count}, “{prompt}”, CFG γ = {p['cfg_scale']:g}, seed {seed}, from t = {timesteps[0]}",
                   value_range=value_range, seed=seed, prompt=prompt, t=timesteps[0])
