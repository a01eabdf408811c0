"""Part A's sampling helpers: the CFG estimator of a prompt, and 1.5's and 1.6's samples from pure noise.

Every section that samples through `ctx.sampling` imports this module: `ctx` is not in the code fingerprint, so the
import below is what puts the sampler (generator/diffusion/sampling.py, and the schedule it imports) in theirs, and a
change to it recomputes them.
"""

from generator.diffusion import sampling  # noqa: F401  (the fingerprint: see above)


def cfg_estimator(backend, prompt, scale):
    """Classifier-free guidance: ε = ε_u + γ (ε_c − ε_u), ε_c for `prompt` and ε_u for the empty prompt (two passes)."""
    from generator.diffusion.estimators import cfg

    return cfg(backend.estimator(backend.encode(prompt)), backend.estimator(backend.encode("")), scale)


def samples_from_noise(ctx, estimate, guidance=""):
    """`params["samples"]` images denoised by `estimate` from x_T, the first draw of the section's seed: the same x_T in
    1.5 and 1.6, so that sample k differs only by its guidance (`guidance`, e.g. "CFG γ = 7", names it in the captions)."""
    seed, prompt, count, value_range = ctx.seeds[0], ctx.prompts[0], ctx.params["samples"], ctx.backend.value_range
    run = ctx.sampling(seed)
    images = run.sample(estimate, run.noise(count), progress=f"sampling with {guidance}" if guidance else "sampling")
    t = run.timesteps[0]
    for k, image in enumerate(images, start=1):
        caption = ", ".join(part for part in (f"sample {k} of {count}", f"“{prompt}”", guidance, f"seed {seed}", f"from t = {t}") if part)
        ctx.figure(f"sample {k}", image, caption, value_range=value_range, seed=seed, prompt=prompt, t=t)
