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
    from sections._sampling import cfg_estimator, samples_from_noise

    # the samples of 1.5, from the same x_T, guided: ε = ε_u + γ (ε_c − ε_u)
    scale = ctx.params["cfg_scale"]
    samples_from_noise(ctx, cfg_estimator(ctx.backend, ctx.prompts[0], scale), guidance=f"CFG γ = {scale:g}")
