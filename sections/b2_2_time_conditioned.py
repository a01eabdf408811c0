"""2.2 Time-conditioned diffusion UNet: ε_θ(x_t, t) trained on MNIST and sampled with T = 300 DDPM steps."""

from generator.section import BASE_SEED, Section

SECTION = Section(
    id="2.2",
    part="B",
    title="Time-conditioned diffusion UNet",
    template="b2_2_time_conditioned.md.j2",
    summary="A DDPM (T = 300) whose UNet is conditioned on t; samples after several epochs and their digit histogram.",
    params={
        "num_hiddens": 64, "batch_size": 128, "epochs": 20, "lr": 1e-3, "max_train_images": None,
        "sample_epochs": [1, 5, 10, 15, 20], "samples": 40, "histogram_samples": 200, "gif_samples": 16,
    },
    profiles={
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 10, "lr": 3e-3, "sample_epochs": [1, 3, 5, 8, 10], "histogram_samples": 100},
        "smoke": {"num_hiddens": 8, "batch_size": 32, "epochs": 2, "lr": 3e-3, "max_train_images": 128, "sample_epochs": [1, 2], "samples": 4,
                  "histogram_samples": 8, "gif_samples": 4},
    },
    seeds=[BASE_SEED],
    upstream=["2.0"],
)


def compute(ctx):
    from generator.mnist.checkpoint import checkpoint_path, load_model, load_weights
    from generator.mnist.classifier import class_histogram
    from generator.mnist.ddpm import sample_digits
    from generator.mnist.train import TrainConfig, train_time_conditioned
    from generator.mnist.unet import TimeConditionalUNet
    from sections._mnist_training import load_data, train_with_progress, trajectory_recorder

    p, seed = ctx.params, ctx.seeds[0]
    data = load_data(ctx)
    # ExponentialLR with γ = 0.1^(1/epochs): the learning rate falls tenfold over the run
    config = TrainConfig.from_params({**p, "lr_gamma": 0.1 ** (1.0 / p["epochs"])}, seed=seed)
    result = train_with_progress(ctx, train_time_conditioned, data, config, "‖ε − ε_θ(x_t, t)‖²")

    for epoch in ctx.track(p["sample_epochs"], "sampling after each epoch"):
        model = load_weights(TimeConditionalUNet(1, config.num_hiddens), checkpoint_path(ctx.work_dir, epoch))
        samples = sample_digits(model, p["samples"], seed=seed)
        ctx.grid(f"epoch {epoch}", samples, ncols=10, value_range=(0.0, 1.0), epoch=epoch, seed=seed,
                 caption=f"{p['samples']} samples after epoch {epoch} of {config.epochs}, seed {seed}")

    record, frames = trajectory_recorder()
    sample_digits(result.model, p["gif_samples"], seed=seed, callback=record)
    ctx.gif("trajectory", frames, f"denoising {p['gif_samples']} samples from t = 300 to 0", value_range=(0.0, 1.0),
            ncols=int(p["gif_samples"] ** 0.5), scale=4, seed=seed)

    classifier = load_model(ctx.upstream_artifact("2.0", "classifier.safetensors"))
    samples = sample_digits(result.model, p["histogram_samples"], seed=seed + 1)
    histogram = class_histogram(classifier, samples).tolist()
    for digit, count in enumerate(histogram):
        ctx.metric(f"share_{digit}", count / len(samples))
    ctx.metric("histogram_samples", len(samples))
    ctx.plot("histogram", {"samples per digit": histogram}, f"which digit the classifier of 2.0 sees in {len(samples)} unconditional samples",
             xlabel="digit", ylabel="samples", logy=False, bars=True)
