"""CPU training throughput of the Part B models (fp32 / bf16 autocast / channels_last), against plain matmul GFLOP/s.

    python bench/train_throughput.py              # images/s and GFLOP/s per model and precision (~3-5 min)

Each run rewrites its own section of BENCHMARKS.md (pass --no-write to only print). Variants are timed
round-robin, a few steps each per round, so that load from other processes hits them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.engine.discovery import load_sections  # noqa: E402
from generator.mnist.classifier import classifier_loss  # noqa: E402
from generator.mnist.digit_classifier import DigitClassifier  # noqa: E402
from generator.mnist.objectives import BatchLoss, denoiser_loss, epsilon_loss, part_b_schedule  # noqa: E402
from generator.mnist.precision import Precision, cpu_has_amx  # noqa: E402
from generator.mnist.train import TrainConfig, seeded  # noqa: E402
from generator.mnist.unet import ClassConditionalUNet, TimeConditionalUNet, UnconditionalUNet  # noqa: E402
from generator.run.project import open_project  # noqa: E402

BENCHMARKS = ROOT / "BENCHMARKS.md"
CPU = torch.device("cpu")
VARIANTS = {
    "fp32": Precision(CPU),
    "channels_last": Precision(CPU, None, channels_last=True),
    "bf16": Precision(CPU, torch.bfloat16),
    "bf16+channels_last": Precision(CPU, torch.bfloat16, channels_last=True),
}
MIN_ROUND_S = 0.5  # fast variants repeat steps within a round so that timer noise stays small
FULL_SIZE_BATCH = 32  # the full profiles' batches (128/256) take tens of seconds per fp32 step on 2 cores


def model_cases() -> list[tuple[str, str, TrainConfig, Callable[[], torch.nn.Module], BatchLoss]]:
    """(model, profile, config, builder, loss) for the classifier and each UNet at the full and quick sizes."""
    schedule = part_b_schedule()
    cases = []
    specs = {module.spec.id: module.spec for module in load_sections(open_project(ROOT))}
    for profile in ("full", "quick"):
        # The hyperparameters the report's sections train with (their params for this profile).
        params = specs["2.0"].params_for(profile)
        clf = TrainConfig.from_params({**params, "num_hiddens": params["channels"]})
        den, tc, cc = (TrainConfig.from_params(specs[section].params_for(profile)) for section in ("2.1", "2.2", "2.3"))
        cases += [
            ("DigitClassifier (2.0)", profile, clf, lambda d=clf.num_hiddens: DigitClassifier(d), classifier_loss),
            ("UnconditionalUNet (2.1)", profile, den, lambda d=den.num_hiddens: UnconditionalUNet(1, d), denoiser_loss(den.sigma)),
            ("TimeConditionalUNet (2.2)", profile, tc, lambda d=tc.num_hiddens: TimeConditionalUNet(1, d), epsilon_loss(schedule)),
            ("ClassConditionalUNet (2.3)", profile, cc, lambda d=cc.num_hiddens: ClassConditionalUNet(1, 10, d), epsilon_loss(schedule, cc.p_uncond)),
        ]
    return cases


def flops_per_image(build: Callable[[], torch.nn.Module], batch_loss: BatchLoss, batch: int) -> float:
    """Forward + backward FLOPs of one training step divided by the batch size."""
    model = build().train()
    x, labels = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        batch_loss(model, x, labels, torch.Generator().manual_seed(0)).backward()
    return counter.get_total_flops() / batch


def time_training(build: Callable[[], torch.nn.Module], batch_loss: BatchLoss, config: TrainConfig, batch: int, rounds: int) -> dict[str, float]:
    """Median training images/s per precision variant; each round runs every variant for about MIN_ROUND_S."""
    generator = torch.Generator().manual_seed(0)
    x, labels = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    runs = {}
    for name, precision in VARIANTS.items():
        model = precision.prepare(seeded(config, build)).train()
        runs[name] = (precision, model, torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True))  # as train_model does on a CPU

    def steps(name: str, count: int) -> float:
        precision, model, optimizer = runs[name]
        started = time.perf_counter()
        for _ in range(count):
            with precision.autocast():
                loss = batch_loss(model, precision.inputs(x), labels, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    warmup = {name: steps(name, 1) for name in VARIANTS}  # also builds the oneDNN primitives
    count = {name: max(1, round(MIN_ROUND_S / seconds)) for name, seconds in warmup.items()}
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name in VARIANTS:
            rates[name].append(count[name] * batch / steps(name, count[name]))
    return {name: statistics.median(values) for name, values in rates.items()}


def matmul_gflops(rounds: int, n: int = 1024) -> dict[str, float]:
    """Median GFLOP/s of an n x n matmul in fp32 and bf16 (2 n^3 FLOPs)."""
    rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
    operands = {dtype: (torch.rand(n, n).to(getattr(torch, full)), torch.rand(n, n).to(getattr(torch, full))) for dtype, full in (("fp32", "float32"), ("bf16", "bfloat16"))}
    for _ in range(rounds + 1):
        for dtype, (a, b) in operands.items():
            started = time.perf_counter()
            for _ in range(5):
                a @ b
            rates[dtype].append(5 * 2 * n**3 / (time.perf_counter() - started) / 1e9)
    return {dtype: statistics.median(values[1:]) for dtype, values in rates.items()}


def throughput(rounds: int) -> str:
    """Markdown: images/s and GFLOP/s per model, size and precision, beside plain matmul GFLOP/s measured before and after."""
    before = matmul_gflops(rounds)
    rows = []
    for model, profile, config, build, batch_loss in model_cases():
        batch = FULL_SIZE_BATCH if profile == "full" else config.batch_size
        gflop = flops_per_image(build, batch_loss, batch) / 1e9
        rates = time_training(build, batch_loss, config, batch, rounds)
        rows.append((model, profile, config, batch, gflop, rates))
        print(model, profile, {v: round(r) for v, r in rates.items()}, flush=True)
    after = matmul_gflops(rounds)
    bf16 = (before["bf16"] + after["bf16"]) / 2
    lines = [
        f"Measured by `python bench/train_throughput.py` on {machine()}; medians of {rounds} round-robin rounds of Adam steps (at least {MIN_ROUND_S} s per variant per round).",
        f"Full-size models are timed at batch {FULL_SIZE_BATCH} (their profile batches take too long per fp32 step); quick-size models at their profile batch.",
        "GFLOP/s = forward+backward FLOPs per image (torch.utils.flop_counter) x images/s; the last column is the best variant's",
        "GFLOP/s against plain bf16 matmul in the same run (the mean of a measurement before and one after the models).",
        "",
        "| model | profile (D, batch) | GFLOP/img | " + " | ".join(f"{v} img/s (GFLOP/s)" for v in VARIANTS) + " | best vs fp32 | best vs bf16 matmul |",
        "|---|---|---:|" + "---:|" * len(VARIANTS) + "---:|---:|",
    ]
    for model, profile, config, batch, gflop, rates in rows:
        cells = " | ".join(f"{rates[v]:.0f} ({rates[v] * gflop:.0f})" for v in VARIANTS)
        best = max(rates, key=rates.__getitem__)
        lines.append(f"| {model} | {profile} ({config.num_hiddens}, {batch}) | {gflop:.3f} | {cells} | {best} x{rates[best] / rates['fp32']:.1f} | {rates[best] * gflop / bf16:.0%} |")
    lines += [
        "",
        f"Plain 1024x1024 matmul in the same run: fp32 {before['fp32']:.0f} / {after['fp32']:.0f} GFLOP/s, bf16 {before['bf16']:.0f} / {after['bf16']:.0f} GFLOP/s (before / after).",
    ]
    return "\n".join(lines)


def machine() -> str:
    """CPU model, core count, torch version and the system load when the run started."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")] if cpuinfo.exists() else []
    cpu = names[0] if names else platform.machine()
    bf16 = "AMX" if cpu_has_amx() else ("AVX512-BF16, no AMX" if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() else "no native bf16")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu} ({bf16}), {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__} (1-min load average at start {load:.1f})"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the '## title' section of BENCHMARKS.md."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    head = f"## {title}"
    if head in text:
        before, rest = text.split(head, 1)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
    else:
        before, after = text.rstrip("\n") + "\n\n", ""
    BENCHMARKS.write_text(f"{before}{head}\n\n{body}\n{after}".rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    title, body = "Training throughput (CPU)", throughput(args.rounds)
    print(body)
    if not args.no_write:
        write_section(title, body)


if __name__ == "__main__":
    main()
