"""One GPU check of the deepfloyd backend and of the stage-I sampling loop, within a time budget; results under $OUT.

Part 1 runs tiny random-weight IF repos in the Hub layout (generator/diffusion/backends/hub_layout.py) through the
real DeepFloydBackend, offline, in fp16 on CUDA: as configured by default, with cpu_offload, and with t5_8bit when
bitsandbytes is importable. Each run encodes prompts (T5), samples 4 strided CFG steps, upsamples with stage II and
runs IF's own pipeline; the peak GPU memory of each is recorded.

Part 2 times the stage-I strided CFG loop (34 timesteps from 990, γ = 7, IF's dynamic thresholding) with random
weights at IF-I sizes, batch 1 and 4: diffusers' stock IFPipeline on the UNet (prompt_embeds given, timesteps=),
this project's loop as sections run it (two UNet passes per step), its batched guided_estimator, and that with
channels_last, a CUDA graph, and (last, on the first size, if the budget still allows: compiling takes minutes)
torch.compile. IF-I-XL's UNet config is the published one; IF-I-L's and IF-I-M's
were not found, so they are XL's with 320 and 192 base channels (0.94B and 0.37B parameters, the 900M and 400M of
DeepFloyd's model zoo).

Every result is written to gpu_check.json and gpu_check.md as soon as it exists; a task that the budget can't fit is
skipped with the reason, and a watchdog stops the run when the budget is spent, keeping what is written.

    python bench/gpu_check.py [--budget-s 240] [--out DIR] [--sizes M,L,XL] [--batches 1,4] [--stride 30] [--no-compile]
    python bench/gpu_check.py --device cpu --sizes tiny --stride 990 --batches 1 --repeats 1   # the CPU rehearsal the tests run

Beyond torch, transformers 5, huggingface_hub 1.3x, accelerate, safetensors, sentencepiece and tokenizers it needs
diffusers and protobuf (transformers 5 reads T5's spiece.model through it); for a machine without an index, carry
these wheels (14.5 MB for CPython 3.12 on x86_64; pip takes what is already installed) and install them first:

    pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 -d scratch/wheels \
        diffusers==0.42.1 protobuf==7.36.2 pillow==13.0.0 requests==2.34.2 urllib3==2.8.0 idna==3.20 \
        certifi==2026.10.19.post1 charset-normalizer==3.5.3 importlib_metadata==10.2.0 zipp==4.1.2
    pip install --no-index --find-links scratch/wheels diffusers==0.42.1 protobuf && python bench/gpu_check.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the GPU machine runs a copy of the repository, not an installed package

# IF-I-XL's unet/config.json as published (DeepFloyd/IF-I-XL-v1.0: model_channels 704, channel_mult 1,2,3,4,
# num_res_blocks 3, attention at 32/16/8 px, encoder_channels 2816, att_pool_heads 64); 4.30B parameters.
IF_I_UNET: dict[str, Any] = {
    "sample_size": 64, "in_channels": 3, "out_channels": 6, "layers_per_block": 3,
    "down_block_types": ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"],
    "up_block_types": ["SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn", "encoder_hid_dim": 4096, "encoder_hid_dim_type": "text_proj", "attention_head_dim": 64,
    "addition_embed_type": "text", "addition_embed_type_num_heads": 64, "cross_attention_norm": "group_norm",
    "resnet_time_scale_shift": "scale_shift", "act_fn": "gelu", "norm_num_groups": 32,
}
BASE_CHANNELS = {"M": 192, "L": 320, "XL": 704}
SIZE_SOURCE = {"XL": "published config", "L": "derived: XL's config, 320 base channels", "M": "derived: XL's config, 192 base channels", "tiny": "the tiny backend's config"}
PROMPT_DIM = 4096
CFG_SCALE = 7.0


def unet_config(size: str) -> dict[str, Any]:
    """The stage-I UNet config of an IF-I size ("M", "L", "XL"), or the tiny backend's ("tiny")."""
    if size == "tiny":
        from generator.diffusion.backends.tiny import TINY_STAGE_1_UNET

        return dict(TINY_STAGE_1_UNET)
    channels = BASE_CHANNELS[size]
    return {**IF_I_UNET, "block_out_channels": [channels * m for m in (1, 2, 3, 4)], "cross_attention_dim": 4 * channels}


class Report:
    """Results as they come: every change rewrites gpu_check.json and gpu_check.md under the output folder."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out, self.started, self.budget_s = out, time.perf_counter(), budget_s
        self.data: dict[str, Any] = {"budget_s": budget_s, "environment": {}, "hub_layout": [], "timing": [], "notes": []}
        self.lock = threading.Lock()
        self.task = "starting"

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def add(self, part: str, row: dict[str, Any]) -> None:
        with self.lock:
            self.data[part].append(row)
            self.write()

    def note(self, text: str) -> None:
        with self.lock:
            self.data["notes"].append(text)
            self.write()

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        for name, text in (("gpu_check.json", json.dumps(self.data, indent=2)), ("gpu_check.md", markdown(self.data))):
            partial = self.out / (name + ".partial")
            partial.write_text(text + "\n")
            os.replace(partial, self.out / name)


def markdown(data: dict[str, Any]) -> str:
    env = data["environment"]
    lines = [f"# GPU check on {env.get('device_name', '?')}", "", f"torch {env.get('torch')}, CUDA {env.get('cuda')}, diffusers {env.get('diffusers')}, "
             f"transformers {env.get('transformers')}, huggingface_hub {env.get('huggingface_hub')}; {data.get('elapsed_s')} s of a {data['budget_s']} s budget.", ""]
    lines += ["## Part 1: tiny IF in the Hub layout through DeepFloydBackend (offline)", "", "| option | result | peak GPU memory (MiB) | seconds |", "|---|---|---:|---:|"]
    lines += [f"| {r['option']} | {r['result']} | {r.get('peak_mib', '')} | {r.get('seconds', '')} |" for r in data["hub_layout"]]
    lines += ["", "## Part 2: stage-I strided CFG loop, random weights", "",
              "| size (params) | batch | variant | it/s | × stock | peak GPU memory (MiB) | note |", "|---|---:|---|---:|---:|---:|---|"]
    for r in data["timing"]:
        speed = f"{r['it_s']:.1f}" if "it_s" in r else ""
        ratio = f"{r['vs_stock']:.2f}" if "vs_stock" in r else ""
        lines.append(f"| {r['size']} ({r['params_b']:.2f}B) | {r['batch']} | {r['variant']} | {speed} | {ratio} | {r.get('peak_mib', '')} | {r.get('note', '')} |")
    lines += ["", *(f"- {note}" for note in data["notes"])]
    return "\n".join(lines)


def environment(device: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda}
    for package in ("diffusers", "transformers", "huggingface_hub", "accelerate", "safetensors", "sentencepiece", "tokenizers", "protobuf", "bitsandbytes"):
        try:
            env[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            env[package] = None
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        env.update(device_name=props.name, memory_gib=round(props.total_memory / 2**30, 1), capability=f"{props.major}.{props.minor}")
    else:
        import platform

        env["device_name"] = f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    return env


def peak_mib(device: str) -> float | str:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else "n/a"


def reset_memory(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# -- part 1 ----------------------------------------------------------------------------------------------------


def check_hub_layout(report: Report, device: str, hub: Path, commits: dict[str, str]) -> None:
    """The real backend on the tiny Hub-layout repos: plain, cpu_offload, t5_8bit; peak GPU memory of each."""
    for option in ("plain", "cpu_offload", "t5_8bit"):
        report.task = f"part 1, {option}"
        if option == "cpu_offload" and not device.startswith("cuda"):
            report.add("hub_layout", {"option": option, "result": "skipped: cpu_offload needs CUDA"})
        elif option == "t5_8bit" and importlib.util.find_spec("bitsandbytes") is None:
            report.add("hub_layout", {"option": option, "result": "skipped: bitsandbytes not installed"})
        elif report.left() < 30:
            report.add("hub_layout", {"option": option, "result": f"skipped: budget ({report.left():.0f} s left)"})
        else:
            report.add("hub_layout", run_backend_once(device, option, commits))


def run_backend_once(device: str, option: str, commits: dict[str, str]) -> dict[str, Any]:
    import torch

    from generator.diffusion.backends.deepfloyd import DeepFloydBackend
    from generator.diffusion.estimators import cfg
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import strided_timesteps

    reset_memory(device)
    started = time.perf_counter()
    row: dict[str, Any] = {"option": option}
    try:
        backend = DeepFloydBackend({"device": device, "embeddings_cache_dir": None, "cpu_offload": option == "cpu_offload", "t5_8bit": option == "t5_8bit"})
        cond, uncond = backend.encode("an oil painting of houseplants"), backend.encode("")
        generator = torch.Generator().manual_seed(1729)
        noise = torch.randn((2, 3, 64, 64), generator=generator)
        estimate = cfg(backend.estimator(cond), backend.estimator(uncond), CFG_SCALE)
        small = sample(estimate, backend.schedule, strided_timesteps(990, 330), noise, generator=generator, clip_x0="dynamic")
        # stage II at 256 px is the slow part of a CPU rehearsal; on a GPU it is a moment
        steps = 2 if device.startswith("cuda") else 1
        large = backend.upsample(small[:steps].clamp(-1, 1), cond, uncond, torch.Generator().manual_seed(0), num_inference_steps=steps)
        own = backend.generate(cond, uncond, torch.Generator().manual_seed(0), num_inference_steps=steps)
        finite = all(bool(torch.isfinite(x).all()) for x in (small, large, own))
        revisions_ok = backend.describe()["revisions"] == commits
        row.update(result="ok" if finite and revisions_ok else f"ran, but finite={finite}, revisions recorded={revisions_ok}",
                   dtype=str(backend.dtype), text_encoder_freed=backend._text is None, shapes=[list(small.shape), list(large.shape), list(own.shape)])
    except Exception as error:  # noqa: BLE001 - the check records any failure and goes on
        row["result"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
    row.update(peak_mib=peak_mib(device), seconds=round(time.perf_counter() - started, 1))
    backend = None
    reset_memory(device)
    return row


# -- part 2 ----------------------------------------------------------------------------------------------------


class UNetRunner:
    """The UNet as the backend's estimators call it, run eagerly, channels_last, or replayed from a CUDA graph per input shape."""

    def __init__(self, unet: Any, *, channels_last: bool = False, cuda_graph: bool = False, module: Any = None) -> None:
        self.unet, self.module = unet, module if module is not None else unet
        self.dtype, self.channels_last, self.cuda_graph = unet.dtype, channels_last, cuda_graph
        self.graphs: dict[tuple, tuple] = {}

    def __call__(self, x: Any, t: Any, encoder_hidden_states: Any) -> Any:
        import torch

        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.module is not self.unet and not torch.is_tensor(t):
            t = torch.tensor(t, device=x.device)  # a Python int would be a constant to torch.compile: one recompile per timestep
        if not self.cuda_graph:
            return types.SimpleNamespace(sample=self.module(x, t, encoder_hidden_states=encoder_hidden_states).sample)
        key = (tuple(x.shape), tuple(encoder_hidden_states.shape))
        if key not in self.graphs:
            self.graphs[key] = self.capture(x, encoder_hidden_states)
        graph, static_x, static_t, static_context, static_out = self.graphs[key]
        static_x.copy_(x)
        static_t.fill_(int(t))
        static_context.copy_(encoder_hidden_states)
        graph.replay()
        return types.SimpleNamespace(sample=static_out)

    def capture(self, x: Any, context: Any) -> tuple:
        import torch

        static_x, static_context = x.clone(), context.clone()
        static_t = torch.full((), 500, dtype=torch.long, device=x.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream: allocator, cuDNN choices, compiled kernels
                self.module(static_x, static_t, encoder_hidden_states=static_context)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.module(static_x, static_t, encoder_hidden_states=static_context).sample
        return graph, static_x, static_t, static_context, static_out


def time_size(report: Report, device: str, size: str, batches: list[int], stride: int, compiled: bool = False, repeats: int = 2) -> None:
    """The variants at one UNet size: stock IFPipeline first, then this project's loop and its speed-ups; or the compiled one alone."""
    import torch
    from diffusers import DDPMScheduler, IFPipeline, UNet2DConditionModel

    from generator.diffusion.backends.deepfloyd import TENSOR_OUTPUT_ONLY, DeepFloydBackend
    from generator.diffusion.backends.load_failures import quiet_loading
    from generator.diffusion.estimators import cfg
    from generator.diffusion.sampling import sample
    from generator.diffusion.schedule import IF_STAGE_I_SCHEDULER_CONFIG, strided_timesteps

    config = unet_config(size)
    if compiled and report.left() < 170:
        report.add("timing", {"size": size, "params_b": 0.0, "batch": "-", "variant": "torch.compile", "note": f"skipped: budget ({report.left():.0f} s left, a compile takes minutes)"})
        return
    with torch.device("meta"):
        params_b = sum(p.numel() for p in UNet2DConditionModel(**config).parameters()) / 1e9
    base = {"size": size, "params_b": params_b, "source": SIZE_SOURCE[size]}
    cuda = device.startswith("cuda")
    # building in fp32 then casting holds 6 bytes a parameter for a moment; activations at batch 8 are small beside them
    if cuda and params_b * 1e9 * 6 * 1.25 > torch.cuda.mem_get_info()[0]:
        report.add("timing", {**base, "batch": "-", "variant": "all", "note": "skipped: not enough GPU memory"})
        return
    report.task = f"part 2, building {size}"
    reset_memory(device)
    dtype = torch.float16 if cuda else torch.float32
    with torch.device(device), quiet_loading():  # random weights made on the GPU: seconds for 4.3B parameters, minutes on a CPU
        unet = UNet2DConditionModel(**config).to(dtype).eval()
    pipe = IFPipeline(tokenizer=None, text_encoder=None, unet=unet, scheduler=DDPMScheduler.from_config(IF_STAGE_I_SCHEDULER_CONFIG), **TENSOR_OUTPUT_ONLY)
    pipe.set_progress_bar_config(disable=True)
    report.data["environment"].setdefault("attention_processors", sorted({type(p).__name__ for p in unet.attn_processors.values()}))
    backend = DeepFloydBackend({"device": device, "embeddings_cache_dir": None})
    timesteps = strided_timesteps(990, stride)
    dim = config.get("encoder_hid_dim") or PROMPT_DIM
    embed_generator = torch.Generator().manual_seed(0)
    cond, uncond = (torch.randn((1, 77, dim), generator=embed_generator).to(device, dtype) for _ in range(2))

    def gen() -> Any:
        return torch.Generator(device).manual_seed(1729)

    def stock(batch: int, steps: list[int]) -> Any:
        return pipe(prompt_embeds=cond.expand(batch, -1, -1), negative_prompt_embeds=uncond.expand(batch, -1, -1), timesteps=steps,
                    guidance_scale=CFG_SCALE, generator=gen(), output_type="pt").images

    def ours(runner: UNetRunner | None, batched: bool) -> Any:
        def run(batch: int, steps: list[int]) -> Any:
            # the backend's own estimators, on this UNet (or a runner of it) in place of a loaded stage-I pipeline
            backend._stage_1 = types.SimpleNamespace(unet=runner or unet, _execution_device=torch.device(device))
            estimate = backend.guided_estimator(cond, uncond, CFG_SCALE) if batched else cfg(backend.estimator(cond), backend.estimator(uncond), CFG_SCALE)
            noise = torch.randn((batch, 3, 64, 64), generator=gen(), device=device)
            return sample(estimate, backend.schedule, steps, noise, generator=gen(), clip_x0="dynamic")

        return run

    variants: list[tuple[str, Any]] = [
        ("stock IFPipeline", stock),
        ("ours, 2 UNet passes (as sections run)", ours(None, batched=False)),
        ("ours, batched CFG pass", ours(None, batched=True)),
        ("ours, batched + channels_last", "channels_last"),
    ]
    if cuda:
        variants.append(("ours, batched + CUDA graph", "graph"))
    if compiled:
        variants = [("ours, batched + torch.compile + CUDA graph" if cuda else "ours, batched + torch.compile", "compile")]
    for batch in batches:
        stock_it_s = next((r["it_s"] for r in report.data["timing"] if (r["size"], r["batch"], r["variant"]) == (size, batch, "stock IFPipeline") and "it_s" in r), None)
        for name, run in variants:
            report.task = f"part 2, {size} batch {batch}, {name}"
            row = {**base, "batch": batch, "variant": name}
            estimate_s = 150.0 if run == "compile" else 15.0 if size == "XL" else 8.0
            if report.left() < estimate_s + 10:
                report.add("timing", {**row, "note": f"skipped: budget ({report.left():.0f} s left, needs ~{estimate_s:.0f} s)"})
                continue
            try:
                if isinstance(run, str):
                    run = ours(make_runner(unet, run, cuda), batched=True)
                row.update(measure(run, batch, timesteps, device, repeats))
            except Exception as error:  # noqa: BLE001 - one failed variant must not end the check
                row["note"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            finally:
                unet.to(memory_format=torch.contiguous_format)
            if name.startswith("stock") and "it_s" in row:
                stock_it_s = row["it_s"]
                row["vs_stock"] = 1.0
            elif stock_it_s and "it_s" in row:
                row["vs_stock"] = row["it_s"] / stock_it_s
            report.add("timing", row)


def make_runner(unet: Any, kind: str, cuda: bool) -> UNetRunner:
    import torch

    if kind == "channels_last":
        unet.to(memory_format=torch.channels_last)
        return UNetRunner(unet, channels_last=True)
    if kind == "graph":
        return UNetRunner(unet, cuda_graph=True)
    return UNetRunner(unet, cuda_graph=cuda, module=torch.compile(unet, dynamic=False))


def measure(run: Any, batch: int, timesteps: list[int], device: str, repeats: int = 2) -> dict[str, Any]:
    """it/s of the full loop, best of `repeats` after a 3-step warm-up (which also captures graphs and compiles)."""
    import torch

    def synced(steps: list[int]) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        images = run(batch, steps)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        finite.append(bool(torch.isfinite(images).all()))
        return time.perf_counter() - started

    finite: list[bool] = []
    reset_memory(device)
    warm_up = synced(timesteps[:3])
    best = min(synced(timesteps) for _ in range(repeats))
    row = {"it_s": len(timesteps) / best, "seconds_per_loop": round(best, 3), "warm_up_s": round(warm_up, 2), "peak_mib": peak_mib(device)}
    # random fp16 weights may overflow; the timing holds all the same
    return row if all(finite) else {**row, "note": "samples not finite (random weights)"}


# -- main --------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=240.0, help="stop within this many seconds, keeping what is written")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")), help="output folder (default: $OUT)")
    parser.add_argument("--device", default="cuda", help='"cuda" (fp16) or "cpu" (fp32, a rehearsal)')
    parser.add_argument("--sizes", default="M,L,XL", help="IF-I UNet sizes to time: M, L, XL, or tiny")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--stride", type=int, default=30, help="30 gives the 34 timesteps 990 … 0")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (timed last, on the first size, when the budget allows)")
    parser.add_argument("--repeats", type=int, default=2, help="timed loops per variant after the warm-up; the best counts")
    parser.add_argument("--skip-hub-layout", action="store_true")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    report = Report(args.out, args.budget_s)
    # the watchdog keeps the promise of the budget even if a compile or a load hangs: what is written stays
    watchdog = threading.Timer(max(args.budget_s - 3, 1), lambda: (report.note(f"stopped by the budget watchdog during: {report.task}"), os._exit(0)))
    watchdog.daemon = True
    watchdog.start()

    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    # huggingface_hub reads these when it is imported: set them before anything imports it
    os.environ.update(HF_HOME=str(scratch / "hf"), HF_HUB_CACHE=str(scratch / "hf" / "hub"), HF_HUB_OFFLINE="1")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        os.environ.pop(name, None)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        report.note("no CUDA device: nothing was run; use --device cpu for a rehearsal")
        return 1
    report.data["environment"] = environment(args.device)
    report.data["arguments"] = {k: str(v) for k, v in vars(args).items()}
    report.write()

    if not args.skip_hub_layout:
        report.task = "part 1, writing the tiny Hub-layout repos"
        from generator.diffusion.backends.hub_layout import write_if_hub_cache

        commits = write_if_hub_cache(scratch / "hf" / "hub")
        check_hub_layout(report, args.device, scratch / "hf" / "hub", commits)

    batches = [int(b) for b in args.batches.split(",")]
    sizes = [size.strip() for size in args.sizes.split(",")]
    for size in sizes:
        try:
            time_size(report, args.device, size, batches, args.stride, repeats=args.repeats)
        except Exception as error:  # noqa: BLE001 - report and go on to the next size
            report.add("timing", {"size": size, "params_b": 0.0, "batch": "-", "variant": "all", "note": f"failed: {type(error).__name__}: {str(error)[:200]}"})
        reset_memory(args.device)  # the size's UNet went with time_size's frame
    if not args.no_compile:
        # last: a compile that outlasts the budget then costs nothing but itself (the watchdog keeps what is written)
        time_size(report, args.device, sizes[0], batches, args.stride, compiled=True, repeats=args.repeats)

    best = {}
    for row in report.data["timing"]:
        if "vs_stock" in row:
            key = (row["size"], row["batch"])
            best[key] = max(best.get(key, 0.0), row["vs_stock"])
    report.note("best speed-up over stock IFPipeline: " + ", ".join(f"{size} batch {batch}: {ratio:.2f}x" for (size, batch), ratio in best.items()))
    watchdog.cancel()
    print(markdown(report.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
