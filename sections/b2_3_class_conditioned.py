"""2.3 Class-conditioned diffusion UNet: ε_θ(x_t, t, c) with classifier-free guidance."""

from generator.section import BASE_SEED, Section

SECTION = Section(
    id="2.3",
    part="B",
    title="Class-conditioned diffusion UNet",
    template="b2_3_class_conditioned.md.j2",
    summary="The DDPM of 2.2 conditioned on the digit, sampled with classifier-free guidance; the share of samples that read as their digit.",
    params={
        "num_hiddens": 64, "batch_size": 128, "epochs": 20, "lr": 1e-3, "lr_schedule": "exponential", "ema_decay": 0.0, "p_uncond": 0.1,
        "max_train_images": None, "sample_epochs": [5, 20], "per_digit": 4, "guidance": 5.0, "sweep": [0.0, 5.0, 10.0],
        "score_per_digit": 50, "sweep_per_digit": 50,
    },
    profiles={
        # 2 cores: OneCycle at 8e-3 read 0.998 on target after 2 epochs, 5e-3 only 0.978 (scratch judge; BENCHMARKS.md)
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 2, "lr": 8e-3, "lr_schedule": "onecycle", "ema_decay": 0.999, "sample_epochs": [1, 2],
                  "sweep_per_digit": 5},
        "smoke": {"num_hiddens": 8, "batch_size": 32, "epochs": 2, "lr": 3e-3, "max_train_images": 128, "sample_epochs": [2], "per_digit": 1,
                  "score_per_digit": 1, "sweep_per_digit": 1},
    },
    seeds=[BASE_SEED],
    upstream=["2.0"],
    inputs={"mnist": "dataset:mnist"},  # the data is part of the fingerprint: a new data set retrains
)


def compute(ctx):
    import shutil

    import torch
    import torch.nn.functional as F

    from generator.mnist.checkpoint import checkpoint_path, load_model, load_weights
    from generator.mnist.classifier import class_probabilities, reads_as
    from generator.mnist.estimators import sample_digits
    from generator.mnist.train import TrainConfig, train_class_conditioned
    from generator.mnist.unet import ClassConditionalUNet
    from sections._mnist_training import draw_architecture, load_data, train_with_progress, trajectory_recorder

    p, seed = ctx.params, ctx.seeds[0]
    data = load_data(ctx)
    # SPEC: ExponentialLR with γ = 0.1^(1/epochs), so the learning rate falls tenfold over the run
    config = TrainConfig.from_params({**p, "lr_gamma": 0.1 ** (1.0 / p["epochs"])}, seed=seed)
    result = train_with_progress(ctx, train_class_conditioned, (data.train_images, data.train_labels), config, "‖ε − ε_θ(x_t, t, c)‖²")
    draw_architecture(ctx, result.model)
    shutil.copyfile(checkpoint_path(ctx.work_dir, config.epochs), ctx.artifact("unet.safetensors"))
    classifier = load_model(ctx.upstream_artifact("2.0", "classifier.safetensors"))
    device = next(result.model.parameters()).device

    def digits(per_digit):
        """Digits 0..9 in columns, per_digit rows: labels [10 · per_digit]."""
        return torch.arange(10).repeat(per_digit)

    # The guidance sweep: each γ samples the digits in columns; the classifier checks each against its digit.
    record, frames = trajectory_recorder(10)
    final = {}
    for gamma in ctx.track(p["sweep"], "guidance sweep"):
        labels = digits(p["score_per_digit"] if gamma == p["guidance"] else p["sweep_per_digit"])
        callback = record if gamma == p["guidance"] else None
        samples = sample_digits(result.model, len(labels), c=F.one_hot(labels, 10).float(), guidance_scale=gamma, seed=seed, callback=callback)
        on_target = float(reads_as(class_probabilities(classifier, samples), labels).float().mean())
        ctx.metric(f"on_target_gamma_{gamma:g}", on_target)
        ctx.metric(f"samples_gamma_{gamma:g}", len(labels))
        final[gamma] = samples[: 10 * p["per_digit"]]
        ctx.grid(f"guidance {gamma:g}", final[gamma], ncols=10, value_range=(0.0, 1.0), gamma=gamma, seed=seed,
                 caption=f"γ = {gamma:g}: {on_target:.0%} of {len(labels)} samples read as their digit, seed {seed}")

    for epoch in ctx.track(p["sample_epochs"], "sampling after each epoch"):
        if epoch == config.epochs and p["guidance"] in final:
            samples = final[p["guidance"]]
        else:
            model = load_weights(ClassConditionalUNet(1, 10, config.num_hiddens), checkpoint_path(ctx.work_dir, epoch)).to(device)
            labels = digits(p["per_digit"])
            samples = sample_digits(model, len(labels), c=F.one_hot(labels, 10).float(), guidance_scale=p["guidance"], seed=seed)
        ctx.grid(f"epoch {epoch}", samples, ncols=10, value_range=(0.0, 1.0), epoch=epoch, seed=seed,
                 caption=f"{p['per_digit']} of each digit (columns 0–9) after epoch {epoch}, γ = {p['guidance']:g}, seed {seed}")
    ctx.gif("trajectory", frames, f"denoising one of each digit, γ = {p['guidance']:g}", value_range=(0.0, 1.0), ncols=10, scale=3, seed=seed)
