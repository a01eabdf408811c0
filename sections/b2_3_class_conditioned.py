"""2.3 Class-conditioned diffusion UNet: ε_θ(x_t, t, c) with classifier-free guidance."""

from generator.section import BASE_SEED, Section

SECTION = Section(
    id="2.3",
    part="B",
    title="Class-conditioned diffusion UNet",
    template="b2_3_class_conditioned.md.j2",
    summary="The DDPM of 2.2 conditioned on the digit, sampled with classifier-free guidance; share of samples on target.",
    params={
        "num_hiddens": 64, "batch_size": 128, "epochs": 20, "lr": 1e-3, "p_uncond": 0.1, "max_train_images": None,
        "sample_epochs": [5, 20], "per_digit": 4, "guidance": 5.0, "sweep": [0.0, 5.0, 10.0], "score_per_digit": 10,
    },
    profiles={
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 10, "lr": 3e-3, "sample_epochs": [3, 10]},
        "smoke": {"num_hiddens": 8, "batch_size": 32, "epochs": 2, "lr": 3e-3, "max_train_images": 128, "sample_epochs": [2], "per_digit": 1,
                  "score_per_digit": 1},
    },
    seeds=[BASE_SEED],
    upstream=["2.0"],
)


def compute(ctx):
    import shutil

    import torch
    import torch.nn.functional as F

    from generator.mnist.checkpoint import checkpoint_path, load_model, load_weights
    from generator.mnist.classifier import classify
    from generator.mnist.ddpm import sample_digits
    from generator.mnist.train import TrainConfig, train_class_conditioned
    from generator.mnist.unet import ClassConditionalUNet
    from sections._mnist_training import load_data, train_with_progress, trajectory_recorder

    p, seed = ctx.params, ctx.seeds[0]
    data = load_data(ctx)
    # ExponentialLR with γ = 0.1^(1/epochs): the learning rate falls tenfold over the run
    config = TrainConfig.from_params({**p, "lr_gamma": 0.1 ** (1.0 / p["epochs"])}, seed=seed)
    result = train_with_progress(ctx, train_class_conditioned, data, config, "‖ε − ε_θ(x_t, t, c)‖²", with_labels=True)
    shutil.copyfile(checkpoint_path(ctx.work_dir, config.epochs), ctx.artifact("unet.safetensors"))

    def one_hot(per_digit):
        """Digits 0..9 in columns, per_digit rows: one-hot [10 · per_digit, 10]."""
        return F.one_hot(torch.arange(10).repeat(per_digit), 10).float()

    for epoch in ctx.track(p["sample_epochs"], "sampling after each epoch"):
        model = load_weights(ClassConditionalUNet(1, 10, config.num_hiddens), checkpoint_path(ctx.work_dir, epoch))
        samples = sample_digits(model, 10 * p["per_digit"], c=one_hot(p["per_digit"]), guidance_scale=p["guidance"], seed=seed)
        ctx.grid(f"epoch {epoch}", samples, ncols=10, value_range=(0.0, 1.0), epoch=epoch, seed=seed,
                 caption=f"{p['per_digit']} of each digit (columns 0–9) after epoch {epoch}, γ = {p['guidance']:g}, seed {seed}")

    classifier = load_model(ctx.upstream_artifact("2.0", "classifier.safetensors"))
    labels = torch.arange(10).repeat(p["score_per_digit"])
    for gamma in ctx.track(p["sweep"], "guidance sweep"):
        samples = sample_digits(result.model, len(labels), c=F.one_hot(labels, 10).float(), guidance_scale=gamma, seed=seed + 1)
        on_target = float((classify(classifier, samples) == labels).float().mean())
        ctx.metric(f"on_target_gamma_{gamma:g}", on_target)
        shown = samples[: 10 * p["per_digit"]]
        ctx.grid(f"guidance {gamma:g}", shown, ncols=10, value_range=(0.0, 1.0), gamma=gamma, seed=seed + 1,
                 caption=f"γ = {gamma:g}: {on_target:.0%} of {len(labels)} samples classified as their digit, seed {seed + 1}")

    record, frames = trajectory_recorder()
    sample_digits(result.model, 10, c=one_hot(1), guidance_scale=p["guidance"], seed=seed, callback=record)
    ctx.gif("trajectory", frames, f"denoising one of each digit, γ = {p['guidance']:g}", value_range=(0.0, 1.0), ncols=10, scale=3, seed=seed)
