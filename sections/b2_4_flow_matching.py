"""2.4 Time-conditioned flow matching: u_θ(x_t, t) trained on MNIST and sampled by Euler steps from noise to data."""

from generator.engine.section import BASE_SEED, Section

SECTION = Section(
    id="2.4",
    part="B",
    title="Time-conditioned flow matching",
    template="b2_4_flow_matching.md.j2",
    summary="The UNet of 2.2 trained by flow matching (the course's Part B since Fall 2025): it learns the velocity from noise to data.",
    params={
        # the course's flow-matching hyperparameters; it does not fix T, and 50 Euler steps is what this report samples with
        "objective": "flow", "steps": 50, "num_hiddens": 64, "batch_size": 64, "epochs": 10, "lr": 1e-2, "lr_schedule": "exponential",
        "ema_decay": 0.0, "max_train_images": None, "steps_sweep": [5, 10, 20, 50, 100, 300], "epoch_samples": 200, "sample_epochs": [1, 5, 10], "samples": 40, "score_samples": 500, "gif_samples": 16,
        "even_shares": [0.05, 0.15],
    },
    profiles={
        # the quick settings of 2.2 exactly, so that 2.6 compares the two objectives on one network, data and budget;
        # 5 epochs read 0.614 legible at 50 steps, 6 epochs 0.656 (target 0.62; one thread, AMD EPYC, fp32)
        "quick": {"num_hiddens": 16, "batch_size": 64, "epochs": 6, "lr": 5e-3, "lr_schedule": "onecycle", "ema_decay": 0.999, "sample_epochs": [1, 3, 6]},
        "smoke": {"steps_sweep": [2, 5, 300], "epoch_samples": 4, "steps": 5,
                  "num_hiddens": 8, "batch_size": 32, "epochs": 2, "lr": 3e-3, "max_train_images": 128, "sample_epochs": [1, 2], "samples": 4,
                  "score_samples": 8, "gif_samples": 4},
    },
    seeds=[BASE_SEED],
    upstream=["2.0"],
    inputs={"mnist": "dataset:mnist"},  # the data is part of the fingerprint: a new data set retrains
)


def compute(ctx):
    from sections._mnist_training import time_conditioned

    time_conditioned(ctx)
