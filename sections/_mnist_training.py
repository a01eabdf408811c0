"""What the Part B sections share: training with progress and resume, the loss figure, the trajectory frames."""


def load_data(ctx):
    """MNIST (the IDX files, else the bundled subset), named on the page and in the build output."""
    from generator.mnist.data import load_mnist

    data = load_mnist()
    ctx.note("data", data.source)
    ctx.log(f"data: {data.source}")
    return data


def train_with_progress(ctx, train, data, config, loss_label, *, with_labels=False):
    """Train (resuming from the epoch checkpoints in ctx.work_dir), then plot the loss and record its final value."""
    count = min(len(data.train_images), config.max_train_images or len(data.train_images))
    advance = ctx.step("training", config.epochs * -(-count // config.batch_size))
    inputs = (data.train_images, data.train_labels) if with_labels else (data.train_images,)
    result = train(*inputs, config, checkpoint_dir=ctx.work_dir, progress=lambda *_: advance(1))
    ctx.plot("loss", {loss_label: result.losses}, f"training loss over {len(result.losses)} steps (log scale)", smooth=20)
    ctx.metric("final_loss", sum(result.losses[-20:]) / len(result.losses[-20:]))
    ctx.metric("train_images", count)
    return result


def trajectory_recorder(every=10):
    """A sampling callback that keeps x_{t−1} every `every` steps and at the end, and the frames it kept."""
    frames = []

    def record(step):
        if step["t"] % every == 1 or step["t"] == 1:
            frames.append(step["x"].float().clamp(0, 1))

    return record, frames
