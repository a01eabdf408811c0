"""2.2 Time-conditioned diffusion UNet: ε_θ(x_t, t) trained on MNIST and sampled with T = 300 DDPM steps."""

from generator.section import BASE_SEED, Section

SECTION = Section(
    id="2.2",
    part="B",
    title="Time-conditioned diffusion UNet",
    template="b2_2_time_conditioned.md.j2",
    summary="A DDPM (T = 300) whose UNet is conditioned on t; samples after several epochs, and how many of them read as digits.",
    params={
        "num_hiddens": 64, "batch_size": 128, "epochs": 20, "lr": 1e-3, "lr_schedule": "exponential", "ema_decay": 0.0, "max_train_images": None,
        "sample_epochs": [1, 5, 10, 15, 20], "samples": 40, "score_samples": 200, "gif_samples": 16,
    },
    profiles={
        # 2 cores: more steps beat a wider UNet (a scratch judge read D = 32 for 2 epochs 0.53, D = 16 for 4 epochs 0.61);
        # the 2.0 classifier reads 4 epochs 0.555 and 5 epochs 0.63 (target 0.60), 1s and 7s over-drawn (BENCHMARKS.md)
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 5, "lr": 5e-3, "lr_schedule": "onecycle", "ema_decay": 0.999, "sample_epochs": [1, 3, 5]},
        "smoke": {"num_hiddens": 8, "batch_size": 32, "epochs": 2, "lr": 3e-3, "max_train_images": 128, "sample_epochs": [1, 2], "samples": 4,
                  "score_samples": 8, "gif_samples": 4},
    },
    seeds=[BASE_SEED],
    upstream=["2.0"],
    inputs={"mnist": "dataset:mnist"},  # the data is part of the fingerprint: a new data set retrains
)


def compute(ctx):
    from generator.mnist.checkpoint import checkpoint_path, load_model, load_weights
    from generator.mnist.classifier import class_probabilities, legible, predicted_class
    from generator.mnist.estimators import sample_digits
    from generator.mnist.train import TrainConfig, train_time_conditioned
    from generator.mnist.unet import TimeConditionalUNet
    from sections._mnist_training import draw_architecture, load_data, train_with_progress, trajectory_recorder

    p, seed = ctx.params, ctx.seeds[0]
    data = load_data(ctx)
    # SPEC: ExponentialLR with γ = 0.1^(1/epochs), so the learning rate falls tenfold over the run
    config = TrainConfig.from_params({**p, "lr_gamma": 0.1 ** (1.0 / p["epochs"])}, seed=seed)
    result = train_with_progress(ctx, train_time_conditioned, (data.train_images,), config, "‖ε − ε_θ(x_t, t)‖²")
    draw_architecture(ctx, result.model)

    # The final model's samples: scored, the last grid, and the denoising trajectory of the first few.
    record, frames = trajectory_recorder(p["gif_samples"])
    final = sample_digits(result.model, p["score_samples"], seed=seed, callback=record)
    for epoch in ctx.track(p["sample_epochs"], "sampling after each epoch"):
        if epoch == config.epochs:
            samples = final[: p["samples"]]
        else:
            model = load_weights(TimeConditionalUNet(1, config.num_hiddens), checkpoint_path(ctx.work_dir, epoch))
            samples = sample_digits(model.to(next(result.model.parameters()).device), p["samples"], seed=seed)
        ctx.grid(f"epoch {epoch}", samples, ncols=10, value_range=(0.0, 1.0), epoch=epoch, seed=seed,
                 caption=f"{p['samples']} samples after epoch {epoch} of {config.epochs}, seed {seed}")
    ctx.gif("trajectory", frames, f"denoising {p['gif_samples']} samples from t = 300 to 0", value_range=(0.0, 1.0),
            ncols=int(p["gif_samples"] ** 0.5), scale=4, seed=seed)

    # Which digits it draws, by the classifier of 2.0: legible = some digit at probability ≥ 0.9, not "not a digit".
    probabilities = class_probabilities(load_model(ctx.upstream_artifact("2.0", "classifier.safetensors")), final)
    readable = legible(probabilities)
    drawn = predicted_class(probabilities)[readable]
    ctx.metric("legible_share", float(readable.float().mean()))
    ctx.metric("score_samples", len(final))
    for digit in range(10):
        ctx.metric(f"share_{digit}", float((drawn == digit).float().mean()) if len(drawn) else 0.0)
    counts = [int((drawn == digit).sum()) for digit in range(10)] + [int((~readable).sum())]
    ctx.plot("histogram", {"samples": counts}, f"what the classifier of 2.0 reads in {len(final)} unconditional samples (bar 10: no digit at probability ≥ 0.9)",
             xlabel="digit", ylabel="samples", logy=False, bars=True)
