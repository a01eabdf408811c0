"""2.6 DDPM or flow matching? The two objectives of Part B side by side, from what 2.2–2.5 measured on their own models."""

from generator.engine.section import Section

SECTION = Section(
    id="2.6",
    part="B",
    title="DDPM or flow matching?",
    template="b2_6_ddpm_or_flow.md.j2",
    summary="The same UNet, data and budget trained as a DDPM and by flow matching: quality against sampler steps, epochs and seconds.",
    params={
        # (DDPM section, flow-matching section) of each pair; each measured its curves on its own model
        "unconditional": ["2.2", "2.4"],
        "class_conditioned": ["2.3", "2.5"],
        # the sampler step counts set side by side (each section measured them on its own model)
        "steps": [5, 10, 20, 50, 100, 300],
        # the settings that must agree for the comparison to be like for like
        "settings": ["num_hiddens", "batch_size", "epochs", "lr", "lr_schedule", "ema_decay", "max_train_images"],
    },
    profiles={"smoke": {"steps": [2, 5, 300]}},
    upstream=["2.2", "2.3", "2.4", "2.5"],
)


def compute(ctx):
    from sections._comparison import compare_class_conditioned, compare_unconditional, same_settings

    p = ctx.params
    same_settings(ctx, p["unconditional"], "unconditional")
    same_settings(ctx, p["class_conditioned"], "class_conditioned")
    compare_unconditional(ctx, *(ctx.upstream_result(section) for section in p["unconditional"]))
    compare_class_conditioned(ctx, *(ctx.upstream_result(section) for section in p["class_conditioned"]))
