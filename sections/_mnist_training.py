"""What the Part B sections share: the data, training with progress and resume, the loss figure, the trajectory frames."""

def load_data(ctx):
    """MNIST from where the build found it (`[tool.gen] mnist_dir`, the registry copy, else the bundled subset),
    named with its size on the page and in the build output."""
    from generator.mnist.data import load_mnist
    from generator.mnist.precision import fastest_precision

    data = load_mnist(ctx.input_path("mnist"))
    ctx.note("data", data.source)
    ctx.note("precision", fastest_precision().describe())
    ctx.log(f"data: {data.source}")
    return data


def train_with_progress(ctx, train, inputs, config, loss_label, **options):
    """Train (resuming from the epoch checkpoints in ctx.work_dir), then plot the loss and record its final value."""
    count = min(len(inputs[0]), config.max_train_images or len(inputs[0]))
    bar = {}

    def progress(step, total):
        if not bar:
            bar["advance"] = ctx.step("training", total)
        bar["advance"](1)

    result = train(*inputs, config, checkpoint_dir=ctx.work_dir, progress=progress, log=ctx.log, **options)
    ctx.plot("loss", {loss_label: result.losses}, f"training loss over {len(result.losses)} steps (log scale)", smooth=20)
    ctx.metric("final_loss", sum(result.losses[-20:]) / len(result.losses[-20:]))
    ctx.metric("train_images", count)
    return result


def draw_architecture(ctx, model):
    """The trained model's block diagram, read off the model itself by one forward pass (generator/mnist/diagram.py)."""
    from generator.mnist.diagram import unet_diagram, unet_summary

    ctx.svg("architecture", unet_diagram(model), "the UNet of this section, " + unet_summary(model))


def trajectory_recorder(keep, every=10):
    """A sampling callback that keeps the first `keep` images of x every `every` steps and at the end, and those frames."""
    frames = []

    def record(step):
        if step["i"] % every == every - 1 or step["last"]:
            frames.append(step["x"][:keep].float().clamp(0, 1).cpu())

    return record, frames


# ---------------------------------------------------------------- the generative models of 2.2–2.5: DDPM or flow matching

LOSSES = {
    ("ddpm", False): "‖ε − ε_θ(x_t, t)‖²",
    ("ddpm", True): "‖ε − ε_θ(x_t, t, c)‖²",
    ("flow", False): "‖(x₁ − x₀) − u_θ(x_t, t)‖²",
    ("flow", True): "‖(x₁ − x₀) − u_θ(x_t, t, c)‖²",
}


def spec_config(ctx):
    """The section's training config; SPEC's ExponentialLR has γ = 0.1^(1/epochs), so the rate falls tenfold over the run."""
    from generator.mnist.train import TrainConfig

    p = ctx.params
    return TrainConfig.from_params({**p, "lr_gamma": 0.1 ** (1.0 / p["epochs"])}, seed=ctx.seeds[0])


def sampling(p):
    """How a section samples: DDPM over every step (SPEC Part B) or `steps` of them; flow matching in `steps` Euler steps."""
    return {"sampler": p["objective"], "steps": p.get("steps")}


def sampler_words(p, steps=None):
    """The sampler as a caption says it, at its own steps or at `steps`."""
    steps = steps or own_steps(p)
    if p["objective"] == "flow":
        return f"{steps} Euler steps"
    return "DDPM from t = 300 to 0" if steps == 300 else f"DDPM in {steps} strided steps"


def keep_epoch_weights(ctx, epochs):
    """Each epoch's checkpoint as an artifact `epoch-N.safetensors` (2.6 compares the methods epoch by epoch)."""
    import shutil

    from generator.mnist.checkpoint import checkpoint_path

    for epoch in range(1, epochs + 1):
        shutil.copyfile(checkpoint_path(ctx.work_dir, epoch), ctx.artifact(f"epoch-{epoch}.safetensors"))


def score_unconditional(ctx, samples, suffix=""):
    """What the classifier of 2.0 reads in unconditional samples: the legible share, and the spread of the digits' shares
    among the legible ones; without a suffix also each digit's share and count, and the histogram."""
    from generator.mnist.checkpoint import load_model
    from generator.mnist.classifier import class_probabilities, legible, predicted_class

    probabilities = class_probabilities(load_model(ctx.upstream_artifact("2.0", "classifier.safetensors")), samples)
    readable = legible(probabilities)
    drawn = predicted_class(probabilities)[readable]
    counts = [int((drawn == digit).sum()) for digit in range(10)]
    shares = [count / len(drawn) if len(drawn) else 0.0 for count in counts]
    ctx.metric("legible_share" + suffix, float(readable.float().mean()))
    ctx.metric("share_min" + suffix, min(shares))
    ctx.metric("share_max" + suffix, max(shares))
    if suffix:
        return
    ctx.metric("score_samples", len(samples))
    for digit in range(10):
        ctx.metric(f"share_{digit}", shares[digit])
        ctx.metric(f"count_{digit}", counts[digit])
    ctx.metric("count_legible", len(drawn))
    ctx.metric("count_none", int((~readable).sum()))
    ctx.plot("histogram", {"samples": counts + [int((~readable).sum())]},
             f"what the classifier of 2.0 reads in {len(samples)} unconditional samples (bar 10: no digit at probability ≥ 0.9)",
             xlabel="digit", ylabel="samples", logy=False, bars=True)


def own_steps(p):
    """The network evaluations of one sample by the section's own sampler: DDPM's T = 300, or the flow's Euler steps."""
    return p["steps"] if p["objective"] == "flow" else 300


def epoch_steps(p):
    """The sampler steps of the after-each-epoch scores: `epoch_steps` where the section sets it, else its own."""
    return p.get("epoch_steps") or own_steps(p)


def timed_samples(model, count, p, steps, seed, **options):
    """Seeded samples at `steps` network evaluations, and the seconds per 100 of them."""
    import time

    from generator.mnist.estimators import sample_digits

    started = time.perf_counter()
    samples = sample_digits(model, count, seed=seed, sampler=p["objective"], steps=steps, **options)
    return samples, (time.perf_counter() - started) * 100 / count


def time_conditioned(ctx):
    """2.2 and 2.4: train the TimeConditionalUNet by the section's objective; score samples by the classifier of 2.0 after
    every epoch and, for the final model, at every sampler step count of `steps_sweep` (2.6 sets the two objectives side
    by side from these); show grids after the `sample_epochs` and the sampling trajectory."""
    from generator.mnist.checkpoint import checkpoint_path, load_model
    from generator.mnist.train import train_time_conditioned

    p, seed = ctx.params, ctx.seeds[0]
    data, config = load_data(ctx), spec_config(ctx)
    result = train_with_progress(ctx, train_time_conditioned, (data.train_images,), config, LOSSES[p["objective"], False])
    ctx.metric("train_seconds_per_epoch", result.seconds / max(1, config.epochs - result.resumed_from_epoch))
    draw_architecture(ctx, result.model)
    keep_epoch_weights(ctx, config.epochs)

    record, frames = trajectory_recorder(p["gif_samples"], every=max(1, own_steps(p) // 30))
    final, final_seconds = timed_samples(result.model, p["score_samples"], p, own_steps(p), seed, callback=record)
    score_unconditional(ctx, final)
    for steps in ctx.track(p["steps_sweep"], "quality against sampler steps"):
        samples, seconds = (final, final_seconds) if steps == own_steps(p) else timed_samples(result.model, p["score_samples"], p, steps, seed)
        score_unconditional(ctx, samples, suffix=f"_steps_{steps}")
        ctx.metric(f"seconds_per_100_steps_{steps}", seconds)

    device = next(result.model.parameters()).device
    for epoch in ctx.track(range(1, config.epochs + 1), "sampling after each epoch"):
        steps = own_steps(p) if epoch == config.epochs else epoch_steps(p)
        if epoch == config.epochs:
            samples = final
        else:
            samples, _ = timed_samples(load_model(checkpoint_path(ctx.work_dir, epoch), device), p["epoch_samples"], p, epoch_steps(p), seed)
            score_unconditional(ctx, samples, suffix=f"_epoch_{epoch}")
        if epoch in p["sample_epochs"]:
            ctx.grid(f"epoch {epoch}", samples[: p["samples"]], ncols=10, value_range=(0.0, 1.0), epoch=epoch, seed=seed,
                     caption=f"{p['samples']} samples after epoch {epoch} of {config.epochs}, {sampler_words(p, steps)}, seed {seed}")
    ctx.metric(f"legible_share_epoch_{config.epochs}", ctx.metrics["legible_share"])
    ctx.gif("trajectory", frames, f"sampling {p['gif_samples']} digits, {sampler_words(p)}", value_range=(0.0, 1.0),
            ncols=int(p["gif_samples"] ** 0.5), scale=4, seed=seed)


def guidance_sweep(ctx, digits, record):
    """Samples at every γ of `sweep`, each scored against the digit asked for and shown as a grid; γ = `guidance` also
    records the trajectory and stands for the section's own step count. The grids' samples by γ."""
    p, seed, gamma_shown = ctx.params, ctx.seeds[0], ctx.params["guidance"]
    final = {}
    for gamma in ctx.track(p["sweep"], "guidance sweep"):
        count = p["score_per_digit"] if gamma == gamma_shown else p["sweep_per_digit"]
        samples, on_target, seconds = digits(count, gamma=gamma, callback=record if gamma == gamma_shown else None)
        ctx.metric(f"on_target_gamma_{gamma:g}", on_target)
        ctx.metric(f"samples_gamma_{gamma:g}", 10 * count)
        final[gamma] = samples[: 10 * p["per_digit"]]
        ctx.grid(f"guidance {gamma:g}", final[gamma], ncols=10, value_range=(0.0, 1.0), gamma=gamma, seed=seed,
                 caption=f"γ = {gamma:g}: {on_target:.0%} of {10 * count} samples read as their digit, seed {seed}")
        if gamma == gamma_shown:
            ctx.metric(f"on_target_steps_{own_steps(p)}", on_target)
            ctx.metric(f"seconds_per_100_steps_{own_steps(p)}", seconds)
    return final


def class_conditioned(ctx):
    """2.3 and 2.5: train the ClassConditionalUNet by the section's objective with class dropout; a guidance sweep (each γ
    scored against the digit asked for), the on-target share at γ for every step count of `steps_sweep`, samples after
    the `sample_epochs` at γ, and the trajectory."""
    import shutil

    import torch
    import torch.nn.functional as F

    from generator.mnist.checkpoint import checkpoint_path, load_model
    from generator.mnist.classifier import class_probabilities, reads_as
    from generator.mnist.train import train_class_conditioned

    p, seed, gamma_shown = ctx.params, ctx.seeds[0], ctx.params["guidance"]
    data, config = load_data(ctx), spec_config(ctx)
    result = train_with_progress(ctx, train_class_conditioned, (data.train_images, data.train_labels), config, LOSSES[p["objective"], True])
    draw_architecture(ctx, result.model)
    shutil.copyfile(checkpoint_path(ctx.work_dir, config.epochs), ctx.artifact("unet.safetensors"))
    classifier = load_model(ctx.upstream_artifact("2.0", "classifier.safetensors"))

    def digits(per_digit, model=result.model, gamma=gamma_shown, steps=None, **options):
        """per_digit samples of each digit 0..9 (in columns), the share that read as their digit, seconds per 100."""
        labels = torch.arange(10).repeat(per_digit)
        samples, seconds = timed_samples(model, len(labels), p, steps or own_steps(p), seed, c=F.one_hot(labels, 10).float(), guidance_scale=gamma, **options)
        return samples, float(reads_as(class_probabilities(classifier, samples), labels).float().mean()), seconds

    record, frames = trajectory_recorder(10, every=max(1, own_steps(p) // 30))
    final = guidance_sweep(ctx, digits, record)

    for steps in ctx.track([s for s in p["steps_sweep"] if s != own_steps(p)], "on target against sampler steps"):
        _, on_target, seconds = digits(p["steps_per_digit"], steps=steps)
        ctx.metric(f"on_target_steps_{steps}", on_target)
        ctx.metric(f"seconds_per_100_steps_{steps}", seconds)

    device = next(result.model.parameters()).device
    for epoch in ctx.track(p["sample_epochs"], "sampling after each epoch"):
        if epoch == config.epochs and gamma_shown in final:
            samples = final[gamma_shown]
        else:
            samples, _, _ = digits(p["per_digit"], model=load_model(checkpoint_path(ctx.work_dir, epoch), device))
        ctx.grid(f"epoch {epoch}", samples, ncols=10, value_range=(0.0, 1.0), epoch=epoch, seed=seed,
                 caption=f"{p['per_digit']} of each digit (columns 0–9) after epoch {epoch}, γ = {gamma_shown:g}, {sampler_words(p)}, seed {seed}")
    ctx.gif("trajectory", frames, f"sampling one of each digit, γ = {gamma_shown:g}, {sampler_words(p)}", value_range=(0.0, 1.0), ncols=10, scale=3, seed=seed)
