"""What the Part B sections share: the data, training with progress and resume, the loss figure, the trajectory frames."""

def load_data(ctx):
    """MNIST from where the build found it (`[tool.gen] mnist_dir`, the registry copy, else the bundled subset),
    named with its size on the page and in the build output."""
    from generator.mnist.data import load_mnist

    data = load_mnist(ctx.input_path("mnist"))
    ctx.note("data", data.source)
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

    result = train(*inputs, config, checkpoint_dir=ctx.work_dir, progress=progress, **options)
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
