"""2.1 Single-step denoising UNet: D_θ(z) trained to map z = x + σε back to x at σ = 0.5."""

from generator.engine.section import BASE_SEED, Section

SECTION = Section(
    id="2.1",
    part="B",
    title="Single-step denoising UNet",
    template="b2_1_single_step_denoiser.md.j2",
    summary="A UNet trained to remove Gaussian noise of σ = 0.5 in one step, and how it fares at other σ.",
    params={
        "num_hiddens": 128, "batch_size": 256, "epochs": 5, "lr": 1e-4, "lr_schedule": "exponential", "sigma": 0.5, "max_train_images": None,
        "sample_epochs": [1, 5], "sigmas": [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0], "show_digits": 8,
    },
    profiles={
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 1, "lr": 5e-3, "lr_schedule": "onecycle", "sample_epochs": [1]},
        "smoke": {"num_hiddens": 8, "batch_size": 32, "epochs": 1, "lr": 1e-3, "max_train_images": 128, "sample_epochs": [1], "show_digits": 4},
    },
    seeds=[BASE_SEED],
    inputs={"mnist": "dataset:mnist"},  # the data is part of the fingerprint: a new data set retrains
)


def compute(ctx):
    import torch

    from generator.mnist.checkpoint import checkpoint_path, load_weights
    from generator.mnist.train import TrainConfig, train_denoiser
    from generator.mnist.unet import UnconditionalUNet
    from sections._mnist_training import draw_architecture, load_data, train_with_progress

    p, seed = ctx.params, ctx.seeds[0]
    data = load_data(ctx)
    digits = data.test_images[: p["show_digits"]]
    sigmas = p["sigmas"]

    # The noising process z = x + σε at every σ, one row per digit.
    noise = ctx.noise(seed, digits.shape)
    ctx.grid("noising", [x + s * e for x, e in zip(digits, noise, strict=True) for s in sigmas], ncols=len(sigmas), value_range=(0.0, 1.0),
             caption="z = x + σε for σ = " + ", ".join(f"{s:g}" for s in sigmas) + f" (columns), seed {seed}")

    config = TrainConfig.from_params(p, seed=seed)
    result = train_with_progress(ctx, train_denoiser, (data.train_images,), config, "L2 loss")
    draw_architecture(ctx, result.model)

    # Test digits at the training σ after the sample epochs (SPEC: 1 and 5): input, noisy, output.
    noisy = digits + p["sigma"] * ctx.noise(seed + 1, digits.shape)
    for epoch in p["sample_epochs"]:
        model = load_weights(UnconditionalUNet(1, config.num_hiddens), checkpoint_path(ctx.work_dir, epoch)).eval()
        with torch.no_grad():
            denoised = model(noisy)
        ctx.grid(f"epoch {epoch}", [*digits, *noisy, *denoised], ncols=len(digits), value_range=(0.0, 1.0), epoch=epoch,
                 caption=f"after epoch {epoch}: clean (top), noisy σ = {p['sigma']:g} (middle), denoised (bottom)")

    # Out of distribution: one digit at every σ, denoised by the final model.
    digit = digits[:1].expand(len(sigmas), -1, -1, -1)
    ood_noisy = digit + torch.tensor(sigmas).view(-1, 1, 1, 1) * ctx.noise(seed + 2, digit[:1].shape)
    with torch.no_grad():
        ood = result.model.cpu()(ood_noisy)
    ctx.grid("out of distribution", [*ood_noisy, *ood], ncols=len(sigmas), value_range=(0.0, 1.0),
             caption="one test digit noised at σ = " + ", ".join(f"{s:g}" for s in sigmas) + " (top) and denoised (bottom)")
    for s, clean in zip(sigmas, ood, strict=True):
        ctx.metric(f"ood_mse_sigma_{s:g}", float(((clean - digit[0]) ** 2).mean()))
