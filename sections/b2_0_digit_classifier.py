"""2.0 Measuring samples: a small CNN trained once to tell which digit a generated sample shows."""

from generator.section import BASE_SEED, Section

SECTION = Section(
    id="2.0",
    part="B",
    title="Measuring samples: a digit classifier",
    template="b2_0_digit_classifier.md.j2",
    summary="A small CNN trained on the MNIST training digits; 2.2 and 2.3 use it to score their samples.",
    params={"channels": 32, "batch_size": 64, "epochs": 6, "lr": 2e-3, "lr_gamma": 0.6, "max_train_images": None},
    profiles={"quick": {"channels": 16}, "smoke": {"channels": 8, "batch_size": 32, "epochs": 1, "max_train_images": 256}},
    seeds=[BASE_SEED],
)


def compute(ctx):
    import shutil

    from generator.mnist.checkpoint import checkpoint_path
    from generator.mnist.classifier import accuracy, classify, train_classifier
    from generator.mnist.train import TrainConfig
    from sections._mnist_training import load_data, train_with_progress

    p = ctx.params
    data = load_data(ctx)
    config = TrainConfig.from_params({**p, "num_hiddens": p["channels"]}, seed=ctx.seeds[0])
    result = train_with_progress(ctx, train_classifier, data, config, "cross-entropy", with_labels=True)
    shutil.copyfile(checkpoint_path(ctx.work_dir, config.epochs), ctx.artifact("classifier.safetensors"))

    test_accuracy = accuracy(result.model, data.test_images, data.test_labels)
    ctx.metric("test_accuracy", test_accuracy)
    ctx.metric("test_images", len(data.test_images))
    predicted = classify(result.model, data.test_images)
    wrong = (predicted != data.test_labels).nonzero().flatten()[:16]
    if len(wrong):
        ctx.grid("mistakes", data.test_images[wrong], ncols=8, value_range=(0.0, 1.0),
                 caption="test digits it gets wrong: " + ", ".join(f"{int(data.test_labels[i])}→{int(predicted[i])}" for i in wrong))
