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
    from sections._sampling import samples_from_noise

    samples_from_noise(ctx, ctx.backend.estimator(ctx.backend.encode(ctx.prompts[0])))
