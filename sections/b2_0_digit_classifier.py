"""2.0 Measuring samples: a small CNN that tells which digit a sample shows, or that it shows no digit."""

from generator.engine.section import BASE_SEED, Section

SECTION = Section(
    id="2.0",
    part="B",
    title="Measuring samples: a digit classifier",
    template="b2_0_digit_classifier.md.j2",
    summary="A small CNN trained on the MNIST training digits and on images that are no digit; 2.2 and 2.3 score their samples with it.",
    params={
        "channels": 32, "batch_size": 128, "epochs": 6, "lr": 2e-3, "lr_schedule": "exponential", "lr_gamma": 0.6, "max_train_images": None,
        "negative_share": 0.2, "held_out_negatives": 7000,
    },
    profiles={
        "quick": {"epochs": 3, "lr": 3e-3, "lr_schedule": "onecycle"},
        "smoke": {"channels": 8, "batch_size": 32, "epochs": 1, "max_train_images": 256, "held_out_negatives": 140},
    },
    seeds=[BASE_SEED],
    inputs={"mnist": "dataset:mnist"},  # the data is part of the fingerprint: a new data set retrains
)


def compute(ctx):
    import shutil

    import torch

    from generator.mnist.checkpoint import checkpoint_path
    from generator.mnist.classifier import class_probabilities, predicted_class, train_classifier
    from generator.mnist.negatives import NEGATIVES, NOT_A_DIGIT, not_digits
    from generator.mnist.train import TrainConfig
    from sections._mnist_training import load_data, train_with_progress

    p, seed = ctx.params, ctx.seeds[0]
    data = load_data(ctx)
    config = TrainConfig.from_params({**p, "num_hiddens": p["channels"]}, seed=seed)
    result = train_with_progress(ctx, train_classifier, (data.train_images, data.train_labels), config, "cross-entropy", negative_share=p["negative_share"])
    shutil.copyfile(checkpoint_path(ctx.work_dir, config.epochs), ctx.artifact("classifier.safetensors"))

    # Accuracy on the official test digits: the most probable of the 11 classes must be the digit.
    predicted = predicted_class(class_probabilities(result.model, data.test_images))
    ctx.metric("test_accuracy", float((predicted == data.test_labels).float().mean()))
    ctx.metric("test_images", len(data.test_images))
    wrong = (predicted != data.test_labels).nonzero().flatten()[:16]
    if len(wrong):
        ctx.grid("mistakes", data.test_images[wrong], ncols=8, value_range=(0.0, 1.0),
                 caption="test digits it gets wrong: " + ", ".join(f"{int(data.test_labels[i])}→{_name(int(predicted[i]))}" for i in wrong))

    # Held out: negatives made from the test digits with another seed, which training never saw.
    negatives = not_digits(data.test_images, data.test_labels, p["held_out_negatives"], torch.Generator().manual_seed(seed + 2))
    rejected = predicted_class(class_probabilities(result.model, negatives)) == NOT_A_DIGIT
    ctx.metric("reject_rate", float(rejected.float().mean()))
    ctx.metric("held_out_negatives", len(negatives))
    generator = torch.Generator().manual_seed(seed + 3)
    examples = torch.cat([make(data.test_images, data.test_labels, 8, generator) for make in NEGATIVES.values()])
    ctx.grid("negatives", examples, ncols=8, value_range=(0.0, 1.0),
             caption=f"what “not a digit” is trained on, one row per kind ({', '.join(NEGATIVES).replace('_', ' ')}), seed {seed + 3}")
    accepted = (~rejected).nonzero().flatten()[:16]
    if len(accepted):
        ctx.grid("accepted negatives", negatives[accepted], ncols=8, value_range=(0.0, 1.0),
                 caption=f"held-out negatives it still reads as a digit ({int((~rejected).sum())} of {len(negatives)})")


def _name(label):
    return "no digit" if label == 10 else str(label)
