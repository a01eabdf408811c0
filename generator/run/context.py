"""The `ctx` a compute function receives: inputs, seeded noise, progress, and the figure writers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from generator.engine.inputs import resolve_input
from generator.engine.section import Section
from generator.run.project import INPUT_SCHEMES
from generator.run.work import Reporter

T = TypeVar("T")


def _strings(value: Any) -> Iterator[str]:
    """Every prompt in a section's prompts: strings in nested lists and tuples, and the "prompt"/"prompts" of dict entries."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for key in ("prompt", "prompts"):
            if key in value:
                yield from _strings(value[key])


@dataclass(frozen=True)
class UpstreamResult:
    """An upstream result as another section reads it: its section id, params and metrics."""

    section: str
    params: dict[str, Any]
    metrics: dict[str, Any]


class Context:
    """Everything a section's compute function may use; it never touches paths or the cache.

    Sampling (Part A): `run = ctx.sampling(seed)` is one seeded run of the strided DDPM loop on the backend, the preamble
    that every sampler shares, so that a compute names only its trick:

        run = ctx.sampling(seed)
        images = run.sample(cfg_estimator(backend, prompt, 7.0), run.noise(5), progress="sampling")  # 1.6
        edited = ctx.sampling(seed).sdedit(estimate, image, i_start)                                 # 1.7
        filled = ctx.sampling(seed).inpaint(estimate, image, mask, count=32)                         # 1.7.2

    - `run.timesteps`: the strided grid 990, 990 − stride, …, 0 of params["stride"], which `i_start` indexes;
      `run.generator`: the CPU generator of `seed`; `run.seed`; `run.schedule`: the backend's; `run.clip_x0`:
      params["clip_x0"] ("none" where the section has none).
    - Every draw comes from `run.generator` in call order: `run.noise(count)` (x_T, [count, *backend.image_shape]) or the
      ε that `run.forward(image, i)`, `run.sdedit` and `run.inpaint` draw first, then each DDPM step's z. A fresh
      `ctx.sampling(seed)` repeats the same numbers: make one per sample (or batch) whose noise starts afresh.
    - `run.sample(estimator, x, *, i_start=0, callback=None, progress=None)`: DDPM steps from x at timesteps[i_start]
      to x₀; `run.sdedit(estimator, image, i_start)`: the image noised to timesteps[i_start], then denoised;
      `run.inpaint(estimator, image, mask, *, count=None)`: new content where mask = 1, `count` samples (default one
      per image). They are generator/diffusion/sampling.py's functions with the run's schedule, timesteps, generator
      and clip_x0; `callback(state)` sees every step as there. `progress="…"` shows the run's DDPM steps as a progress
      step of that name; leave it None inside a loop that `ctx.track` already shows.
    - This file is not in the code fingerprint, the sampler is: a section that samples through `ctx` imports
      `sections._sampling` (its `cfg_estimator`, `samples_from_noise`), which imports generator.diffusion.sampling.
    """

    def __init__(
        self,
        *,
        section: Section,
        profile: str,
        backend_name: str | None,
        backend_loader: Callable[[], Any] | None,
        prompts: Sequence[Any],
        root: Path,
        out_dir: Path,
        artifact_dir: Path,
        work_dir: Path,
        upstream_artifacts: Mapping[str, Path],
        upstream_results: Mapping[str, Mapping[str, Any]] | None = None,
        reporter: Reporter,
    ):
        self.section = section
        self.profile = profile
        self.backend_name = backend_name
        self.params: dict[str, Any] = section.params_for(profile)
        self.prompts = list(prompts)
        self.seeds = list(section.seeds)
        self._root = root
        self._out = out_dir
        self._artifacts = artifact_dir
        self.work_dir = work_dir
        self._upstream = dict(upstream_artifacts)
        self._upstream_results = dict(upstream_results or {})
        self._reporter = reporter
        self._backend_loader = backend_loader
        self._backend: Any = None
        self.figures: list[dict[str, Any]] = []
        self.metrics: dict[str, float] = {}
        self.notes: dict[str, str] = {}
        self.artifacts: list[str] = []

    # ------------------------------------------------------------ inputs

    @property
    def backend(self) -> Any:
        """The backend object, constructed on first use (its models load lazily on their own)."""
        if self._backend is None:
            if self._backend_loader is None:
                raise RuntimeError(f"section {self.section.id} runs without a backend")
            self._backend = self._backend_loader()
            if self.section.uses_model:
                # Encode every prompt up front: a text encoder (T5-XXL for IF) then loads once per section.
                for prompt in dict.fromkeys(["", *_strings(self.prompts)]):
                    self._backend.encode(prompt)
        return self._backend

    @property
    def device(self) -> str:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def input_path(self, name: str) -> Path:
        """The file behind the spec's `inputs[name]`."""
        return resolve_input(self.section.inputs_for(self.backend_name)[name], self._root, INPUT_SCHEMES)

    def generator(self, seed: int) -> Any:
        """A CPU torch.Generator seeded with `seed`: the same seed gives the same numbers everywhere."""
        import torch

        return torch.Generator("cpu").manual_seed(int(seed))

    def noise(self, seed: int, shape: Sequence[int]) -> Any:
        """ε ~ N(0, I) of `shape`, drawn on the CPU from `seed` (bit-identical across runs)."""
        import torch

        return torch.randn(tuple(shape), generator=self.generator(seed))

    def sampling(self, seed: int) -> SamplingRun:
        """One seeded run of the strided DDPM loop on this section's backend (see the class docstring)."""
        return SamplingRun(self, seed)

    def upstream_artifact(self, section_id: str, name: str) -> Path:
        """A file another section saved with `ctx.artifact`; the section must list it in `upstream`."""
        if section_id not in self._upstream:
            raise KeyError(f"section {self.section.id} does not list {section_id!r} in upstream")
        path = self._upstream[section_id] / name
        if not path.is_file():
            raise FileNotFoundError(f"section {section_id} has no artifact {name!r}; run `gen build --section {section_id} --force`")
        return path

    # ------------------------------------------------------------ progress

    def upstream_result(self, section_id: str) -> UpstreamResult:
        """The params and metrics of a result this section reads (listed in its `upstream`), as its manifest holds them."""
        if section_id not in self._upstream_results:
            raise KeyError(f"section {self.section.id} reads {section_id!r}, which is not in its upstream; add it to `upstream`")
        found = self._upstream_results[section_id]
        return UpstreamResult(section_id, dict(found.get("params", {})), dict(found.get("metrics", {})))

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate `items`, showing them as one step of this section's progress bar."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        self._reporter.step(description, total)
        for item in items:
            yield item
            self._reporter.advance()

    def step(self, description: str, total: int | None = None) -> Callable[[int], None]:
        """Start a step by hand; returns `advance(n)` for loops the section does not own."""
        self._reporter.step(description, total)
        return self._reporter.advance

    def log(self, message: str) -> None:
        self._reporter.log(message)

    # ------------------------------------------------------------ writers

    def _file(self, name: str, suffix: str) -> Path:
        stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or "figure"
        taken = {entry["file"] for entry in self.figures}
        candidate, n = f"{stem}{suffix}", 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}{suffix}"
        return self._out / candidate

    def _record(self, kind: str, name: str, path: Path, caption: str, meta: Mapping[str, Any]) -> None:
        if any(entry["name"] == name for entry in self.figures):
            raise ValueError(f"figure name {name!r} is used twice in section {self.section.id}")
        self.figures.append({**dict(meta), "kind": kind, "name": name, "file": path.name, "caption": caption})

    def figure(self, name: str, image: Any, caption: str = "", value_range: tuple[float, float] = (-1.0, 1.0), **meta: Any) -> None:
        """One image (CHW tensor or array in `value_range`) with a caption; `meta` (seed, t, …) goes to the page."""
        from generator.site import media

        pixels = media.to_uint8(image, value_range)
        path = self._file(name, ".png")
        media.write(path, media.png_bytes(pixels))
        self._record("image", name, path, caption, {"width": pixels.shape[1], "height": pixels.shape[0], **meta})

    def grid(self, name: str, images: Sequence[Any], ncols: int, caption: str = "", value_range: tuple[float, float] = (-1.0, 1.0), **meta: Any) -> None:
        """Many images tiled into one PNG, row-major, `ncols` per row."""
        from generator.site import media

        pixels = media.grid(list(images), ncols, value_range)
        path = self._file(name, ".png")
        media.write(path, media.png_bytes(pixels))
        self._record("grid", name, path, caption, {"width": pixels.shape[1], "height": pixels.shape[0], "ncols": ncols, **meta})

    def gif(self, name: str, frames: Sequence[Any], caption: str = "", value_range: tuple[float, float] = (-1.0, 1.0), duration_ms: int = 80,
            scale: int = 1, ncols: int | None = None, **meta: Any) -> None:
        """An animation (e.g. a denoising trajectory) as a looping GIF; with `ncols`, each frame is a batch tiled into a grid.

        The file holds the frames at their own pixels; `scale` is the size the page shows them at (the manifest's width
        and height, drawn pixelated). Upscaling in the file instead would multiply its bytes by about scale² (2.4's
        50-frame trajectory: 3.2 MB at 4x, 0.56 MB at 1x), and the results are committed."""
        from generator.site import media

        frames = [media.grid(list(frame), ncols, value_range) for frame in frames] if ncols is not None else list(frames)
        if not frames:
            raise ValueError(f"ctx.gif({name!r}) was given no frames; an animation needs at least one.")
        height, width = media.to_uint8(frames[0], value_range).shape[:2]
        path = self._file(name, ".gif")
        media.write(path, media.gif_bytes(frames, value_range, duration_ms))
        self._record("gif", name, path, caption, {"frames": len(frames), "width": width * scale, "height": height * scale, "scale": scale, **meta})

    def svg(self, name: str, data: bytes, caption: str = "", **meta: Any) -> None:
        """A drawing made as SVG bytes (e.g. a model diagram), shown as a figure."""
        from generator.site import media

        path = self._file(name, ".svg")
        media.write(path, data)
        self._record("diagram", name, path, caption, meta)

    def plot(self, name: str, series: Mapping[str, Sequence[float]], caption: str = "", *, xlabel: str = "step", ylabel: str = "loss", logy: bool = True,
             smooth: int = 0, bars: bool = False, x: Sequence[float] | None = None, logx: bool = False, **meta: Any) -> None:
        """A line plot (a loss curve, or series against x) of one or more named series, or a bar chart of one."""
        from generator.site import media

        path = self._file(name, ".png")
        media.write(path, media.plot_png(dict(series), xlabel=xlabel, ylabel=ylabel, logy=logy, smooth=smooth, bars=bars, x=x, logx=logx))
        self._record("plot", name, path, caption, meta)

    def metric(self, name: str, value: float) -> None:
        """A number for the page and `gen status --json`; NaN or an infinity raises, so the result fails and the last good one stays."""
        number = float(value) if not isinstance(value, int) else value
        if not float("-inf") < number < float("inf"):  # false for NaN too
            raise ValueError(f"Metric {name!r} of section {self.section.id} is {number}, not a finite number, so this result is not kept.")
        self.metrics[name] = number

    def note(self, name: str, text: str) -> None:
        """A short text for the page (e.g. which data the section used)."""
        self.notes[name] = str(text)

    def artifact(self, name: str) -> Path:
        """A path to write a large file (a checkpoint) that other sections may read; kept out of git."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"artifact name {name!r} must be a plain file name")
        self._artifacts.mkdir(parents=True, exist_ok=True)
        if name not in self.artifacts:
            self.artifacts.append(name)
        return self._artifacts / name


class SamplingRun:
    """One seeded run of Part A's strided DDPM loop: timesteps, generator, noise, clip_x0 and progress (see Context)."""

    def __init__(self, ctx: Context, seed: int):
        from generator.diffusion.schedule import strided_timesteps

        self._ctx = ctx
        self.seed = int(seed)
        self.timesteps: list[int] = strided_timesteps(990, ctx.params["stride"])
        self.generator = ctx.generator(self.seed)
        self.clip_x0: str = ctx.params.get("clip_x0", "none")

    @property
    def schedule(self) -> Any:
        return self._ctx.backend.schedule

    def noise(self, count: int = 1) -> Any:
        """x_T ~ N(0, I) for `count` images of the backend's shape: the run's next draw."""
        return self._draw((count, *self._ctx.backend.image_shape))

    def forward(self, image: Any, i: int) -> Any:
        """x_t = sqrt(ᾱ_t) x₀ + sqrt(1 − ᾱ_t) ε at t = timesteps[i], ε the run's next draw (SPEC 1.1)."""
        from generator.diffusion.schedule import forward

        return forward(image, self.timesteps[i], self.schedule, self._draw(image.shape))

    def sample(self, estimator: Any, x: Any, *, i_start: int = 0, callback: Callable[[dict[str, Any]], None] | None = None,
               progress: str | None = None) -> Any:
        """Iterative denoising of x from timesteps[i_start] down to x₀ (sampling.sample)."""
        from generator.diffusion import sampling

        return sampling.sample(estimator, self.schedule, self.timesteps, x, i_start=i_start, generator=self.generator,
                               callback=self._steps(progress, i_start, callback), clip_x0=self.clip_x0)

    def sdedit(self, estimator: Any, image: Any, i_start: int, *, callback: Callable[[dict[str, Any]], None] | None = None,
               progress: str | None = None) -> Any:
        """SDEdit: the image noised to timesteps[i_start] by the run's first draw, then denoised (sampling.sdedit)."""
        from generator.diffusion import sampling

        return sampling.sdedit(estimator, self.schedule, self.timesteps, image, i_start, self._draw(image.shape), self.generator,
                               callback=self._steps(progress, i_start, callback), clip_x0=self.clip_x0)

    def inpaint(self, estimator: Any, image: Any, mask: Any, *, count: int | None = None,
                callback: Callable[[dict[str, Any]], None] | None = None, progress: str | None = None) -> Any:
        """Inpainting: `count` samples (one per image by default) with new content where mask = 1 (sampling.inpaint)."""
        from generator.diffusion import sampling

        noise = self._draw((len(image) if count is None else count, *image.shape[1:]))
        return sampling.inpaint(estimator, self.schedule, self.timesteps, image, mask, noise, self.generator,
                                callback=self._steps(progress, 0, callback), clip_x0=self.clip_x0)

    def _draw(self, shape: Sequence[int]) -> Any:
        import torch

        return torch.randn(tuple(shape), generator=self.generator)

    def _steps(self, progress: str | None, i_start: int, callback: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None] | None:
        """`callback`, and with `progress` a progress step that advances once per DDPM step."""
        if progress is None:
            return callback
        advance = self._ctx.step(progress, len(self.timesteps) - i_start)

        def each(state: dict[str, Any]) -> None:
            if callback is not None:
                callback(state)
            advance(1)

        return each
