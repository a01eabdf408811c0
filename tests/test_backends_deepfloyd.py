"""The deepfloyd backend: real model ids through from_pretrained, and one clear sentence when they can't load."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import Mock

import huggingface_hub.constants
import pytest
import torch
from diffusers import IFPipeline
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

from generator.diffusion.backends.base import BackendUnavailable
from generator.diffusion.backends.deepfloyd import TENSOR_OUTPUT_ONLY, DeepFloydBackend, DeepFloydConfig, load_failure
from generator.diffusion.backends.probe import GATED, NO_CUDA, NO_TOKEN
from generator.diffusion.backends.tiny import TinyBackend

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The tiny models gain nothing from threads, and on a busy CPU the threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, offline Hugging Face cache and no token: nothing can be downloaded."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hf" / "hub"


@pytest.fixture
def with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend CUDA is there so that loading gets past the GPU check (after the backend chose its device)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def backend(tmp_path: Path, **config: object) -> DeepFloydBackend:
    return DeepFloydBackend({"embeddings_cache_dir": str(tmp_path / "embeddings"), **config})


def gated_error() -> GatedRepoError:
    response = Mock(status_code=401, headers={})
    return GatedRepoError("401 Client Error. Access to model DeepFloyd/IF-I-XL-v1.0 is restricted.", response=response)


def test_without_a_gpu_loading_fails_with_one_sentence_before_any_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(IFPipeline, "from_pretrained", Mock(side_effect=AssertionError("tried to download")))
    deepfloyd = backend(tmp_path)
    for use in (lambda: deepfloyd.encode("a rocket ship"), lambda: deepfloyd.estimator(torch.zeros(1, 77, 4096))):
        with pytest.raises(BackendUnavailable) as raised:
            use()
        assert str(raised.value) == NO_CUDA == "DeepFloyd IF needs a CUDA GPU; run on a GPU machine or use --backend mnist."


def test_a_gated_repo_error_becomes_the_licence_and_login_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_cuda: None) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_not_yet_approved")
    monkeypatch.setattr(IFPipeline, "from_pretrained", Mock(side_effect=gated_error()))
    with pytest.raises(BackendUnavailable) as raised:
        backend(tmp_path).encode("a rocket ship")
    assert str(raised.value) == GATED
    assert "https://huggingface.co/DeepFloyd/IF-I-XL-v1.0" in GATED and "huggingface-cli login" in GATED and "hf auth login" in GATED
    assert isinstance(raised.value.__cause__, GatedRepoError)


def test_without_a_token_or_cached_weights_the_hub_is_never_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_cuda: None) -> None:
    monkeypatch.setattr(IFPipeline, "from_pretrained", Mock(side_effect=AssertionError("tried to download")))
    with pytest.raises(BackendUnavailable, match="no Hugging Face token") as raised:
        backend(tmp_path).estimator(torch.zeros(1, 77, 4096))
    assert str(raised.value) == NO_TOKEN


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (gated_error(), GATED),
        (OSError("There was a specific connection error when trying to load DeepFloyd/IF-I-XL-v1.0:\n403 Client Error"), GATED),
        (RepositoryNotFoundError("404", response=Mock(status_code=404, headers={})), "was not found on the Hugging Face Hub"),
        (LocalEntryNotFoundError("offline"), "is not in the local Hugging Face cache"),
        (torch.OutOfMemoryError("CUDA out of memory"), "set cpu_offload = true"),
        (ImportError("bitsandbytes is not installed"), "set t5_8bit = false"),
        (OSError("Error no file named diffusion_pytorch_model.fp16.safetensors found"), "delete its folder under"),
    ],
)
def test_loading_failures_map_to_one_sentence_that_says_what_to_do(error: BaseException, expected: str) -> None:
    message = load_failure(error, "DeepFloyd/IF-I-XL-v1.0")
    assert expected in message and "\n" not in message and message.endswith(".")


def raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    """`outer` as diffusers raises it: `raise outer from inner`."""
    try:
        try:
            raise inner
        except BaseException as caught:
            raise outer from caught
    except BaseException as raised:
        return raised


def test_errors_wrapped_by_diffusers_are_found_through_the_exception_chain() -> None:
    wrapped_gated = raised_from(OSError("Cannot load model DeepFloyd/IF-I-XL-v1.0"), gated_error())
    assert load_failure(wrapped_gated, "DeepFloyd/IF-I-XL-v1.0") == GATED
    no_network = raised_from(OSError("Cannot load model: the model is not fully cached locally"), socket.gaierror(-2, "Name or service not known"))
    assert "the Hub can't be reached" in load_failure(no_network, "DeepFloyd/IF-I-XL-v1.0")


def test_config_accepts_the_pyproject_table_and_rejects_typos_and_other_models() -> None:
    config = DeepFloydConfig.from_mapping({"stage_1": "DeepFloyd/IF-I-M-v1.0", "cpu_offload": True, "embeddings_cache_dir": "x"})
    assert config.stage_1 == "DeepFloyd/IF-I-M-v1.0" and config.stage_2 == "DeepFloyd/IF-II-L-v1.0" and config.cpu_offload
    with pytest.raises(ValueError, match="Unknown key 'cpu_ofload'"):
        DeepFloydConfig.from_mapping({"cpu_ofload": True})
    with pytest.raises(ValueError, match="is not an IF stage I model"):
        DeepFloydConfig(stage_1="stabilityai/stable-diffusion-2")


def save_as_hub_snapshot(pipe: object, hub: Path, model_id: str) -> None:
    repo = hub / ("models--" + model_id.replace("/", "--"))
    pipe.save_pretrained(repo / "snapshots" / COMMIT, variant="fp16")
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)


@pytest.fixture
def if_in_hub_cache(offline_hub: Path) -> TinyBackend:
    """The tiny models saved in the hub cache under the real IF model ids, as a download would leave them."""
    tiny = TinyBackend()
    text, stage_1, stage_2 = tiny._build_text_pipeline(), tiny._build_stage_1(), tiny._build_stage_2()
    full = IFPipeline(tokenizer=text.tokenizer, text_encoder=text.text_encoder, unet=stage_1.unet, scheduler=stage_1.scheduler, **TENSOR_OUTPUT_ONLY)
    save_as_hub_snapshot(full, offline_hub, "DeepFloyd/IF-I-XL-v1.0")
    save_as_hub_snapshot(stage_2, offline_hub, "DeepFloyd/IF-II-L-v1.0")
    return tiny


def test_real_model_ids_load_through_from_pretrained_from_the_local_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, if_in_hub_cache: TinyBackend) -> None:
    """The deepfloyd loading code runs end to end on the cached tiny models: offline, on a CPU."""
    deepfloyd = backend(tmp_path)  # chooses the CPU; loading then believes CUDA is there
    deepfloyd.dtype = torch.float32  # fp16 convolutions are slow on a CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    embeds = deepfloyd.encode("a rocket ship")
    assert embeds.shape == (1, 77, 32) and embeds.dtype == torch.float32
    torch.testing.assert_close(embeds, if_in_hub_cache.encode("a rocket ship"))

    eps, v = deepfloyd.estimator(embeds)(torch.randn(2, 3, 64, 64), 500)
    assert deepfloyd._text is None, "T5 is freed once the UNet is loaded"
    assert eps.shape == v.shape == (2, 3, 64, 64) and eps.dtype == torch.float32

    images = deepfloyd.upsample(torch.zeros(1, 3, 64, 64), embeds, deepfloyd.encode(""), torch.Generator().manual_seed(0), num_inference_steps=1)
    assert images.shape == (1, 3, 256, 256)
    assert deepfloyd._text is None, "T5 is freed again after encoding a new prompt while a UNet is loaded"
    assert deepfloyd.describe()["revisions"] == {"DeepFloyd/IF-I-XL-v1.0": COMMIT, "DeepFloyd/IF-II-L-v1.0": COMMIT}


def test_t5_8bit_without_bitsandbytes_says_how_to_fix_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, if_in_hub_cache: TinyBackend) -> None:
    deepfloyd = backend(tmp_path, t5_8bit=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(BackendUnavailable, match="bitsandbytes.*set t5_8bit = false"):
        deepfloyd.encode("a rocket ship")
