"""2.6: DDPM against flow matching, from the curves that 2.2–2.5 measured on their own models (no sampling here)."""

METHODS = ("ddpm", "flow")
NAMES = {"ddpm": "DDPM", "flow": "flow matching"}


def same_settings(ctx, sections, pair):
    """Whether the pair was trained alike; the settings that differ are noted, so the page can say so."""
    first, second = (ctx.upstream_result(section).params for section in sections)
    differ = [name for name in ctx.params["settings"] if first.get(name) != second.get(name)]
    ctx.metric(f"{pair}_same_settings", int(not differ))
    ctx.note(f"{pair}_differ", ", ".join(differ))


def common_steps(ctx, *results):
    """The step counts of the comparison; each result of the pair must have measured them."""
    for r in results:
        missing = [n for n in ctx.params["steps"] if n not in r.params["steps_sweep"]]
        if missing:
            raise ValueError(f"section {r.section} measured no samples at {missing} steps; add them to its steps_sweep or drop them from 2.6's steps.")
    return list(ctx.params["steps"])


def fewest_steps(curve, target, margin):
    """The fewest steps whose value comes within margin of target, or None."""
    reached = [steps for steps, value in curve.items() if value >= target - margin]
    return min(reached) if reached else None


def compare_unconditional(ctx, ddpm, flow):
    """Legible share and digit spread against sampler steps, against epochs, and the sampling seconds; the plots, and the
    numbers the page's conclusion is written from."""
    steps = common_steps(ctx, ddpm, flow)
    # two standard deviations of the difference of two shares of n samples each, at its widest (p = 1/2): √(2/n)
    margin = (2 / min(ddpm.metrics["score_samples"], flow.metrics["score_samples"])) ** 0.5
    ctx.metric("margin", margin)
    legible, epochs = {}, {}
    for method, result in zip(METHODS, (ddpm, flow), strict=True):
        m = result.metrics
        legible[method] = {n: m[f"legible_share_steps_{n}"] for n in steps}
        for n in steps:
            ctx.metric(f"{method}_legible_steps_{n}", legible[method][n])
            ctx.metric(f"{method}_share_min_steps_{n}", m[f"share_min_steps_{n}"])
            ctx.metric(f"{method}_share_max_steps_{n}", m[f"share_max_steps_{n}"])
            ctx.metric(f"{method}_seconds_per_100_steps_{n}", m[f"seconds_per_100_steps_{n}"])
        epochs[method] = [m[f"legible_share_epoch_{e}"] for e in range(1, result.params["epochs"] + 1)]
        for e, value in enumerate(epochs[method], start=1):
            ctx.metric(f"{method}_legible_epoch_{e}", value)
        ctx.metric(f"{method}_train_seconds_per_epoch", m["train_seconds_per_epoch"])
        ctx.metric(f"{method}_best_legible", max(legible[method].values()))
        ctx.metric(f"{method}_best_steps", max(legible[method], key=legible[method].get))
        ctx.metric(f"{method}_samples", m["score_samples"])

    # the fewest steps at which each method comes within the margin of the other's best, and what they cost
    for method, other in (("flow", "ddpm"), ("ddpm", "flow")):
        reached = fewest_steps(legible[method], max(legible[other].values()), margin)
        ctx.metric(f"{method}_steps_to_match_{other}", reached or 0)
        if reached:
            other_best = max(legible[other], key=legible[other].get)
            ctx.metric(f"{method}_sampling_speedup_at_match", ctx.metrics[f"{other}_seconds_per_100_steps_{other_best}"] / ctx.metrics[f"{method}_seconds_per_100_steps_{reached}"])

    x = {"x": steps, "logx": True, "xlabel": "network evaluations per sample (sampler steps)", "logy": False}
    ctx.plot("legible against steps", {NAMES[k]: list(v.values()) for k, v in legible.items()},
             f"share of {ddpm.metrics['score_samples']} unconditional samples that read as a digit, by sampler steps", ylabel="legible share", **x)
    ctx.plot("seconds against steps", {NAMES[k]: [ctx.metrics[f"{k}_seconds_per_100_steps_{n}"] for n in steps] for k in METHODS},
             "seconds to draw 100 samples on this machine, by sampler steps", ylabel="seconds per 100 samples", **{**x, "logy": True})
    shared_epochs = range(1, min(len(v) for v in epochs.values()) + 1)
    for method, result in zip(METHODS, (ddpm, flow), strict=True):  # the steps each scored its epochs with
        ctx.metric(f"{method}_epoch_steps", result.params.get("epoch_steps") or result.params.get("steps") or 300)
    ctx.plot("legible against epochs", {NAMES[k]: v[: len(shared_epochs)] for k, v in epochs.items()},
             f"share of samples that read as a digit after each epoch (DDPM in {ctx.metrics['ddpm_epoch_steps']} steps, flow matching in "
             f"{ctx.metrics['flow_epoch_steps']})", ylabel="legible share",
             x=list(shared_epochs), xlabel="epoch", logy=False)


def compare_class_conditioned(ctx, ddpm, flow):
    """The on-target share at the guidance scale shown, against sampler steps, for the class-conditioned pair."""
    steps = common_steps(ctx, ddpm, flow)
    curves = {}
    for method, result in zip(METHODS, (ddpm, flow), strict=True):
        curves[method] = [result.metrics[f"on_target_steps_{n}"] for n in steps]
        for n, value in zip(steps, curves[method], strict=True):
            ctx.metric(f"{method}_on_target_steps_{n}", value)
        ctx.metric(f"{method}_guidance", result.params["guidance"])
    ctx.plot("on target against steps", {NAMES[k]: v for k, v in curves.items()},
             f"share of class-conditioned samples (γ = {ddpm.params['guidance']:g}) that read as the digit asked for, by sampler steps",
             x=steps, logx=True, xlabel="network evaluations per sample (sampler steps)", ylabel="on-target share", logy=False)
