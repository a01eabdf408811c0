"""The tiny backend: a random-weight IF run through the same diffusers code path as DeepFloyd IF, on a CPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generator.diffusion.backends.base import Backend
from generator.diffusion.backends.tiny import TINY_T5, TinyBackend

PROMPT = "a high quality photo"


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The tiny models gain nothing from threads, and on a busy CPU the threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBackend:
    return TinyBackend(embeddings_cache_dir=tmp_path_factory.mktemp("embeddings"))


def test_constructing_a_backend_loads_no_model() -> None:
    backend = TinyBackend()
    assert isinstance(backend, Backend)
    assert (backend._text, backend._stage_1, backend._stage_2) == (None, None, None)
    assert backend.image_shape == (3, 64, 64) and backend.value_range == (-1.0, 1.0) and backend.predicts_variance


def test_schedule_is_deepfloyd_ifs_cosine_schedule(tiny: TinyBackend) -> None:
    for t, alpha_bar in [(250, 0.846), (500, 0.492), (750, 0.143)]:
        assert tiny.schedule.alpha_bar(t) == pytest.approx(alpha_bar, abs=2e-3)


def test_encode_gives_77_token_embeddings_and_the_empty_prompt_differs(tiny: TinyBackend) -> None:
    conditional, unconditional = tiny.encode(PROMPT), tiny.encode("")
    assert conditional.shape == unconditional.shape == (1, 77, TINY_T5["d_model"])
    assert conditional.dtype == torch.float32
    assert not torch.allclose(conditional, unconditional)


def test_embeddings_reloaded_from_disk_equal_the_computed_ones(tiny: TinyBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    computed = tiny.encode("a rocket ship")
    path = tiny.embedding_path("a rocket ship")
    assert path is not None and path.is_file() and path.suffix == ".safetensors"
    fresh = TinyBackend(embeddings_cache_dir=tiny.config.embeddings_cache_dir)
    monkeypatch.setattr(fresh, "_build_text_pipeline", lambda: pytest.fail("the text encoder ran for a cached prompt"))
    assert torch.equal(fresh.encode("a rocket ship"), computed)


def test_estimator_splits_the_six_unet_channels_into_eps_and_variance_for_a_batch(tiny: TinyBackend) -> None:
    x_t = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    eps, v = tiny.estimator(tiny.encode(PROMPT))(x_t, 500)
    assert eps.shape == v.shape == x_t.shape
    assert eps.dtype == v.dtype == torch.float32
    unet = tiny._stage_1.unet
    with torch.no_grad():
        out = unet(x_t, 500, encoder_hidden_states=tiny.encode(PROMPT).expand(3, -1, -1)).sample
    assert torch.equal(torch.cat([eps, v], dim=1), out)


def test_guided_estimator_is_cfg_of_the_two_estimators_in_one_batched_pass(tiny: TinyBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.diffusion.estimators import cfg

    x_t = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    conditional, unconditional = tiny.encode(PROMPT), tiny.encode("")
    expected_eps, expected_v = cfg(tiny.estimator(conditional), tiny.estimator(unconditional), 7.0)(x_t, 690)
    unet = tiny._stage_1.unet
    calls = []
    monkeypatch.setattr(unet, "forward", lambda *args, _f=unet.forward, **kw: calls.append(args[0].shape) or _f(*args, **kw))
    eps, v = tiny.guided_estimator(conditional, unconditional, 7.0)(x_t, 690)
    assert calls == [(4, 3, 64, 64)], "one UNet call on [x_t; x_t]"
    torch.testing.assert_close(eps, expected_eps, atol=1e-4, rtol=0)
    torch.testing.assert_close(v, expected_v, atol=1e-5, rtol=0)


def test_generate_runs_the_if_pipeline_to_64px_images_in_range(tiny: TinyBackend) -> None:
    images = tiny.generate(tiny.encode(PROMPT), tiny.encode(""), torch.Generator().manual_seed(1729), num_inference_steps=3)
    assert images.shape == (1, 3, 64, 64) and images.dtype == torch.float32
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0


def test_upsample_runs_stage_two_to_256px_images_in_range(tiny: TinyBackend) -> None:
    images64 = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    images = tiny.upsample(images64, tiny.encode(PROMPT), tiny.encode(""), torch.Generator().manual_seed(1729), num_inference_steps=1)
    assert images.shape == (2, 3, 256, 256) and images.dtype == torch.float32
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_same_seed_gives_bit_identical_outputs_on_cpu(tiny: TinyBackend) -> None:
    other = TinyBackend()
    embeds, negative = other.encode(PROMPT), other.encode("")
    assert torch.equal(embeds, tiny.encode(PROMPT))
    first, second = (b.generate(embeds, negative, torch.Generator().manual_seed(7), num_inference_steps=2) for b in (tiny, other))
    assert torch.equal(first, second)
    x_t = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(tiny.estimator(embeds)(x_t, 690), other.estimator(embeds)(x_t, 690), strict=True))


def test_building_the_models_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    backend = TinyBackend()
    backend.estimator(backend.encode(PROMPT))
    assert torch.equal(torch.rand(3), expected)


def test_describe_names_the_models_dtype_and_device(tiny: TinyBackend) -> None:
    info = tiny.describe()
    assert info["backend"] == "tiny" and info["label"] == "Tiny IF (random weights)"
    assert info["dtype"] == "float32" and info["device"] == "cpu" and info["revisions"]["tiny"]


def test_load_image_centre_crops_resizes_and_scales_to_minus_one_one(tiny: TinyBackend, tmp_path: Path) -> None:
    pixels = np.zeros((40, 120), dtype=np.uint8)
    pixels[:, 40:80] = 255  # the centre square is white, the sides black
    Image.fromarray(pixels, mode="L").save(tmp_path / "wide.png")
    image = tiny.load_image(tmp_path / "wide.png")
    assert image.shape == (1, 3, 64, 64) and image.dtype == torch.float32
    assert image.min() >= -1.0 and image.max() <= 1.0
    assert image[..., 4:-4].min() > 0.95


def test_load_image_of_a_missing_file_is_one_sentence(tiny: TinyBackend, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^No image at .*; put the file there"):
        tiny.load_image(tmp_path / "missing.png")
