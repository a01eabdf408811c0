"""2.3 Class-conditioned diffusion UNet: ε_θ(x_t, t, c) with classifier-free guidance."""

from generator.engine.section import BASE_SEED, Section

SECTION = Section(
    id="2.3",
    part="B",
    title="Class-conditioned diffusion UNet",
    template="b2_3_class_conditioned.md.j2",
    summary="The DDPM of 2.2 conditioned on the digit, sampled with classifier-free guidance; the share of samples that read as their digit.",
    params={
        "objective": "ddpm", "num_hiddens": 64, "batch_size": 128, "epochs": 20, "lr": 1e-3, "lr_schedule": "exponential", "ema_decay": 0.0, "p_uncond": 0.1,
        "max_train_images": None, "steps_sweep": [5, 10, 20, 50, 100, 300], "steps_per_digit": 20, "sample_epochs": [5, 20], "per_digit": 4, "guidance": 5.0, "sweep": [0.0, 5.0, 10.0],
        "score_per_digit": 50, "sweep_per_digit": 50,
    },
    profiles={
        # 2 cores: OneCycle at 8e-3 read 0.998 on target after 2 epochs, 5e-3 only 0.978 (scratch judge; BENCHMARKS.md)
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 2, "lr": 8e-3, "lr_schedule": "onecycle", "ema_decay": 0.999, "sample_epochs": [1, 2],
                  "sweep_per_digit": 5},
        "smoke": {"steps_sweep": [2, 5, 300], "steps_per_digit": 1, "num_hiddens": 8, "batch_size": 32, "epochs": 2, "lr": 3e-3, "max_train_images": 128, "sample_epochs": [2], "per_digit": 1,
                  "score_per_digit": 1, "sweep_per_digit": 1},
    },
    seeds=[BASE_SEED],
    upstream=["2.0"],
    inputs={"mnist": "dataset:mnist"},  # the data is part of the fingerprint: a new data set retrains
)


def compute(ctx):
    from sections._mnist_training import class_conditioned

    class_conditioned(ctx)
