"""The SDEdit sweep shared by 1.7, 1.7.1 and 1.7.3: each input noised to i_start and denoised with CFG."""


def sdedit_sweep(ctx):
    """For each {"image", "prompt"} entry: SDEdit at every i_start of the sweep, then the original.

    An entry may name the digit its image shows ("original"); on a backend with a classifier (MNIST) every result is
    then read twice, as the prompt and as the original, into `reads_<image>_<i_start>_prompt` and `…_original`."""
    from sections._sampling import cfg_estimator

    backend, seed, value_range, p = ctx.backend, ctx.seeds[0], ctx.backend.value_range, ctx.params
    judge = hasattr(backend, "classify")
    i_starts = p.get("i_starts_28px", p["i_starts"]) if backend.image_shape[-1] == 28 else p["i_starts"]
    for entry in ctx.prompts:
        image_name, prompt = entry["image"], entry["prompt"]
        image = backend.load_image(ctx.input_path(image_name))
        estimate = cfg_estimator(backend, prompt, p["cfg_scale"])
        for i_start in ctx.track(i_starts, f"SDEdit of {image_name}"):
            # a fresh run per i_start: every i_start sees the same noise, so the sweep varies i_start only
            run = ctx.sampling(seed)
            edited = run.sdedit(estimate, image, i_start)
            t = run.timesteps[i_start]
            reads = {}
            if judge and "original" in entry:
                from generator.mnist.backend import digit_of

                probabilities = backend.classify(edited)[0]
                reads = {"prompt_read": float(probabilities[digit_of(prompt)]), "original_read": float(probabilities[digit_of(entry["original"])])}
                ctx.metric(f"reads_{image_name}_{i_start}_prompt", reads["prompt_read"])
                ctx.metric(f"reads_{image_name}_{i_start}_original", reads["original_read"])
            ctx.figure(f"{image_name} i_start={i_start}", edited[0], f"i_start = {i_start} (t = {t}), “{prompt}”, seed {seed}",
                       value_range=value_range, source=image_name, i_start=i_start, t=t, seed=seed, prompt=prompt, **reads)
        ctx.figure(f"{image_name} original", image[0], "original", value_range=value_range, source=image_name)
