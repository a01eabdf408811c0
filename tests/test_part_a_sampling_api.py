"""`ctx.sampling(seed)`: Part A's sampling preamble on the Context gives the same tensors as the plain diffusion functions.

The sections 1.4-1.7.3 were rewritten onto it (issue 19) with every figure bit-identical; these tests keep that true:
the run against `generator.diffusion.sampling` called by hand, and each section's figures against its sampler written out
with the plain functions, on the tiny backend (random-weight IF) with the smoke grid, compared with torch.equal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from generator.diffusion import sampling
from generator.diffusion.backends.tiny import TinyBackend
from generator.diffusion.estimators import cfg
from generator.diffusion.schedule import forward, strided_timesteps
from generator.engine.files import StatCache
from generator.engine.fingerprints import CodeIndex, ParseMemo
from generator.engine.section import BASE_SEED, discover
from generator.run.context import Context
from generator.run.work import Reporter

REPO = Path(__file__).resolve().parents[1]
SEED = BASE_SEED
# Files besides ctx that still build the strided grid: 1.0's pipeline (its grid comes from a step count, not a stride),
# and 1.8's and 1.9's PairSearch, until it samples through ctx.sampling (issue 19).
OWN_GRID = {"generator/mnist/backend.py", "generator/mnist/search.py"}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBackend:
    return TinyBackend(embeddings_cache_dir=tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="module")
def sections() -> Iterator[dict[str, Any]]:
    """The report's section modules; the repository root is importable, as in a build, for `sections._sampling`."""
    from generator.diffusion.backends import BACKENDS

    sys.path.insert(0, str(REPO))
    yield {module.spec.id: module for module in discover(REPO / "sections", REPO / "templates", list(BACKENDS))}
    sys.path.remove(str(REPO))


class Steps(Reporter):
    """A reporter that remembers the progress steps and how far each advanced."""

    def __init__(self) -> None:
        self.steps: list[list[Any]] = []

    def step(self, description: str, total: int | None) -> None:
        self.steps.append([description, total, 0])

    def advance(self, amount: int = 1) -> None:
        self.steps[-1][2] += amount


def make_ctx(module: Any, backend: TinyBackend, tmp_path: Path, reporter: Reporter | None = None, **params: Any) -> Context:
    spec = module.spec
    ctx = Context(
        section=spec, profile="smoke", backend_name="tiny", backend_loader=lambda: backend, prompts=spec.prompts["tiny"], root=REPO,
        out_dir=tmp_path / "out", artifact_dir=tmp_path / "artifacts", work_dir=tmp_path / "work", upstream_artifacts={}, reporter=reporter or Reporter(),
    )
    ctx.params.update(params)
    return ctx


def figures_of(module: Any, backend: TinyBackend, tmp_path: Path) -> dict[str, torch.Tensor]:
    """A section's compute on the tiny backend (smoke profile): its figures' images by name."""
    ctx = make_ctx(module, backend, tmp_path)
    figures: dict[str, torch.Tensor] = {}
    ctx.figure = lambda name, image, caption="", value_range=(-1.0, 1.0), **meta: figures.__setitem__(name, image)
    module.compute(ctx)
    return figures


def cfg_of(backend: TinyBackend, prompt: str, scale: float) -> Any:
    return cfg(backend.estimator(backend.encode(prompt)), backend.estimator(backend.encode("")), scale)


def plain(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


# ---------------------------------------------------------------- the run against the plain functions


def test_a_run_is_the_strided_grid_of_its_stride_and_the_generator_of_its_seed(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    run = make_ctx(sections["1.5"], tiny, tmp_path, stride=330).sampling(SEED)
    assert run.timesteps == strided_timesteps(990, 330) == [990, 660, 330, 0]
    assert run.seed == SEED and run.schedule is tiny.schedule and run.clip_x0 == "none"
    assert torch.equal(run.noise(3), torch.randn((3, *tiny.image_shape), generator=plain(SEED)))
    # the next draw continues the same generator, as the DDPM steps' noise does after x_T
    again = plain(SEED)
    torch.randn((3, *tiny.image_shape), generator=again)
    assert torch.equal(run.noise(1), torch.randn((1, *tiny.image_shape), generator=again))


def test_sample_from_noise_equals_the_plain_loop_and_a_fresh_run_repeats_it(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    ctx = make_ctx(sections["1.6"], tiny, tmp_path)
    estimate = cfg_of(tiny, "a high quality photo", 7.0)
    run = ctx.sampling(SEED)
    ours = run.sample(estimate, run.noise(2))
    generator, timesteps = plain(SEED), strided_timesteps(990, ctx.params["stride"])
    noise = torch.randn((2, *tiny.image_shape), generator=generator)
    theirs = sampling.sample(estimate, tiny.schedule, timesteps, noise, generator=generator, clip_x0="none")
    assert torch.equal(ours, theirs)
    fresh = ctx.sampling(SEED)
    assert torch.equal(fresh.sample(estimate, fresh.noise(2)), ours)


def test_forward_then_sample_from_i_start_is_1_4s_plain_denoising(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    ctx = make_ctx(sections["1.4"], tiny, tmp_path)
    image, estimate, i_start = torch.rand(1, *tiny.image_shape) * 2 - 1, tiny.estimator(tiny.encode("a high quality photo")), 1
    run = ctx.sampling(SEED)
    noisy = run.forward(image, i_start)
    ours = run.sample(estimate, noisy, i_start=i_start)
    generator, timesteps = plain(SEED), strided_timesteps(990, ctx.params["stride"])
    their_noisy = forward(image, timesteps[i_start], tiny.schedule, torch.randn(image.shape, generator=generator))
    assert torch.equal(noisy, their_noisy)
    assert torch.equal(ours, sampling.sample(estimate, tiny.schedule, timesteps, their_noisy, i_start=i_start, generator=generator))


def test_sdedit_and_inpaint_equal_the_plain_functions_with_the_sections_clip_x0(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    ctx = make_ctx(sections["1.7.2"], tiny, tmp_path, clip_x0="clip")
    image, estimate = torch.rand(1, *tiny.image_shape) * 2 - 1, cfg_of(tiny, "a high quality photo", 7.0)
    mask = torch.zeros_like(image[:, :1])
    mask[..., 8:24, 8:24] = 1.0
    timesteps = strided_timesteps(990, ctx.params["stride"])

    generator = plain(SEED)
    theirs = sampling.sdedit(estimate, tiny.schedule, timesteps, image, 2, torch.randn(image.shape, generator=generator), generator, clip_x0="clip")
    assert torch.equal(ctx.sampling(SEED).sdedit(estimate, image, 2), theirs)

    generator = plain(SEED)
    noise = torch.randn((3, *image.shape[1:]), generator=generator)
    theirs = sampling.inpaint(estimate, tiny.schedule, timesteps, image, mask, noise, generator, clip_x0="clip")
    assert torch.equal(ctx.sampling(SEED).inpaint(estimate, image, mask, count=3), theirs)
    # clip_x0 reaches the loop: without it the same noise ends elsewhere
    generator = plain(SEED)
    noise = torch.randn((3, *image.shape[1:]), generator=generator)
    assert not torch.equal(sampling.inpaint(estimate, tiny.schedule, timesteps, image, mask, noise, generator, clip_x0="none"), theirs)


def test_progress_is_one_step_per_ddpm_step_and_the_callback_sees_each(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    reporter = Steps()
    ctx = make_ctx(sections["1.4"], tiny, tmp_path, reporter)
    run = ctx.sampling(SEED)
    seen: list[int] = []

    def zero(x: torch.Tensor, t: int) -> tuple[torch.Tensor, None]:
        return torch.zeros_like(x), None

    run.sample(zero, run.noise(1), i_start=1, callback=lambda state: seen.append(state["t"]), progress="denoising")
    assert seen == run.timesteps[1:] and reporter.steps == [["denoising", 3, 3]]
    run.sdedit(zero, torch.zeros(1, *tiny.image_shape), 2)
    assert reporter.steps == [["denoising", 3, 3]], "without `progress` the caller's ctx.track shows the progress"


# ---------------------------------------------------------------- the sections against their samplers written out


def test_1_5_and_1_6_are_the_plain_loop_from_the_same_x_T(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    for section_id in ("1.5", "1.6"):
        spec = sections[section_id].spec
        p, prompt = spec.params_for("smoke"), spec.prompts["tiny"][0]
        estimate = cfg_of(tiny, prompt, p["cfg_scale"]) if section_id == "1.6" else tiny.estimator(tiny.encode(prompt))
        generator = plain(spec.seeds[0])
        noise = torch.randn((p["samples"], *tiny.image_shape), generator=generator)
        images = sampling.sample(estimate, tiny.schedule, strided_timesteps(990, p["stride"]), noise, generator=generator, clip_x0=p["clip_x0"])
        figures = figures_of(sections[section_id], tiny, tmp_path / section_id)
        assert list(figures) == [f"sample {k}" for k in range(1, p["samples"] + 1)]
        for k, image in enumerate(images, start=1):
            assert torch.equal(figures[f"sample {k}"], image), (section_id, k)


def test_the_sdedit_sweep_is_plain_sdedit_with_a_fresh_generator_per_i_start(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    module = sections["1.7"]
    spec, ctx = module.spec, make_ctx(module, tiny, tmp_path)
    p, entry = spec.params_for("smoke"), spec.prompts["tiny"][0]
    image = tiny.load_image(ctx.input_path(entry["image"]))
    estimate = cfg_of(tiny, entry["prompt"], p["cfg_scale"])
    figures = figures_of(module, tiny, tmp_path)
    for i_start in p["i_starts"]:
        generator = plain(spec.seeds[0])
        edited = sampling.sdedit(estimate, tiny.schedule, strided_timesteps(990, p["stride"]), image, i_start, torch.randn(image.shape, generator=generator),
                                 generator, clip_x0=p["clip_x0"])
        assert torch.equal(figures[f"{entry['image']} i_start={i_start}"], edited[0]), i_start


def test_1_7_2_inpaints_each_seed_as_plain_inpaint(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    module = sections["1.7.2"]
    spec, ctx = module.spec, make_ctx(module, tiny, tmp_path)
    p, entry = spec.params_for("smoke"), spec.prompts["tiny"][0]
    image = tiny.load_image(ctx.input_path(entry["image"]))
    row0, row1, col0, col1 = entry["box"]
    mask = torch.zeros_like(image[:, :1])
    mask[..., row0:row1, col0:col1] = 1.0
    estimate = cfg_of(tiny, entry["prompt"], p["cfg_scale"])
    figures = figures_of(module, tiny, tmp_path)
    for seed in (spec.seeds[0] + k for k in range(p["tries"])):
        generator = plain(seed)
        filled = sampling.inpaint(estimate, tiny.schedule, strided_timesteps(990, p["stride"]), image, mask, torch.randn(image.shape, generator=generator),
                                  generator, clip_x0=p["clip_x0"])
        assert torch.equal(figures[f"{entry['image']} seed {seed}"], filled[0]), seed


def test_1_4_is_forward_then_plain_denoising(sections: dict, tiny: TinyBackend, tmp_path: Path) -> None:
    module = sections["1.4"]
    spec, ctx = module.spec, make_ctx(module, tiny, tmp_path)
    p, entry = spec.params_for("smoke"), spec.prompts["tiny"][0]
    image = tiny.load_image(ctx.input_path(entry["image"]))
    estimate, timesteps = tiny.estimator(tiny.encode(entry["prompt"])), strided_timesteps(990, p["stride"])
    generator = plain(spec.seeds[0])
    noisy = forward(image, timesteps[p["i_start"]], tiny.schedule, torch.randn(image.shape, generator=generator))
    clean = sampling.sample(estimate, tiny.schedule, timesteps, noisy, i_start=p["i_start"], generator=generator, clip_x0=p["clip_x0"])
    figures = figures_of(module, tiny, tmp_path)
    assert torch.equal(figures[f"t={timesteps[p['i_start']]}"], noisy[0]) and torch.equal(figures["iterative"], clean[0])


# ---------------------------------------------------------------- the code base


def test_every_section_that_samples_through_ctx_has_the_sampler_in_its_code_fingerprint() -> None:
    """ctx is not fingerprinted: a section that samples through ctx.sampling must still import the sampler somewhere."""
    index = CodeIndex(REPO, ("generator", "sections"), StatCache(None), ParseMemo(None))
    samplers = 0
    for path in sorted((REPO / "sections").glob("[!_]*.py")):
        closure = index.closure(path)
        if any("ctx.sampling(" in (REPO / rel).read_text() for rel in closure):
            samplers += 1
            assert "generator/diffusion/sampling.py" in closure, path.name
    assert samplers >= 7


def test_the_strided_grid_of_a_stride_is_built_once_by_ctx_sampling() -> None:
    files = sorted(p for folder in ("generator", "sections") for p in (REPO / folder).rglob("*.py"))
    building = {p.relative_to(REPO).as_posix() for p in files if "strided_timesteps(990, " in p.read_text()}
    assert building - OWN_GRID == {"generator/run/context.py"}
    assert (REPO / "generator" / "run" / "context.py").read_text().count("strided_timesteps(990, ") == 1
    assert not any("strided_timesteps(" in p.read_text() for p in (REPO / "sections").glob("*.py"))
