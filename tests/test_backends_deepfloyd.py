"""The deepfloyd backend's own loading code on tiny IF repos in the Hub's layout, offline on a CPU; one sentence per failure."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import Mock

import huggingface_hub.constants
import pytest
import torch
from diffusers import IFPipeline
from huggingface_hub import scan_cache_dir
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

from generator.diffusion.backends import BACKENDS
from generator.diffusion.backends.base import BackendUnavailable
from generator.diffusion.backends.deepfloyd import DeepFloydBackend, DeepFloydConfig
from generator.diffusion.backends.hub_layout import snapshot_folder, write_if_folder, write_if_hub_cache
from generator.diffusion.backends.load_failures import load_failure
from generator.diffusion.backends.probe import GATED, NO_BITSANDBYTES, NO_CUDA, NO_TOKEN, deepfloyd_unavailable_reason

STAGE_1, STAGE_2 = "DeepFloyd/IF-I-XL-v1.0", "DeepFloyd/IF-II-L-v1.0"


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The tiny models gain nothing from threads, and on a busy CPU the threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache and no token; huggingface_hub itself may not reach the Hub."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hf" / "hub"


@pytest.fixture(scope="module")
def pristine_hub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Tiny IF-I-XL and IF-II-L in a hub cache, written once: {repo id: snapshot commit}."""
    hub = tmp_path_factory.mktemp("pristine") / "hub"
    return hub, write_if_hub_cache(hub)


@pytest.fixture
def if_hub(pristine_hub: tuple[Path, dict[str, str]], offline_hub: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test's own copy of the tiny IF hub cache, with HF_HUB_OFFLINE=1 as on an air-gapped machine."""
    shutil.copytree(pristine_hub[0], offline_hub, symlinks=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return pristine_hub[1]


@pytest.fixture
def with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend CUDA is there so that loading gets past the GPU check."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def backend(tmp_path: Path, **config: object) -> DeepFloydBackend:
    return DeepFloydBackend({"embeddings_cache_dir": str(tmp_path / "embeddings"), **config})


def on_cpu(tmp_path: Path, **config: object) -> DeepFloydBackend:
    return backend(tmp_path, device="cpu", **config)


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and message.count(". ") == 0


def test_the_fixture_is_a_valid_hub_cache_in_the_if_repos_layout(if_hub: dict[str, str], offline_hub: Path) -> None:
    cache = scan_cache_dir(offline_hub)
    assert not cache.warnings
    assert {repo.repo_id: [rev.commit_hash for rev in repo.revisions] for repo in cache.repos} == {model: [commit] for model, commit in if_hub.items()}
    stage_1 = snapshot_folder(offline_hub, STAGE_1)
    index = json.loads((stage_1 / "model_index.json").read_text())
    assert index["_class_name"] == "IFPipeline" and index["text_encoder"] == ["transformers", "T5EncoderModel"]
    files = {path.relative_to(stage_1).as_posix() for path in stage_1.rglob("*") if path.is_file()}
    assert {"unet/diffusion_pytorch_model.fp16.safetensors", "text_encoder/model.safetensors.index.fp16.json", "tokenizer/spiece.model", "scheduler/scheduler_config.json"} <= files
    assert any(name.startswith("text_encoder/model.fp16-00001-of-") for name in files), "T5 is sharded, as in the IF repos"
    assert (stage_1 / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_symlink(), "snapshot files link to blobs, as a download leaves them"
    assert json.loads((snapshot_folder(offline_hub, STAGE_2) / "model_index.json").read_text())["_class_name"] == "IFSuperResolutionPipeline"


def test_the_real_backend_loads_the_hub_layout_offline_on_a_cpu(if_hub: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """from_pretrained(variant="fp16") on the real ids: the T5 tokenizer from spiece.model, T5, both UNets, fp32 on the CPU."""
    deepfloyd = on_cpu(tmp_path)
    assert deepfloyd.dtype == torch.float32 and deepfloyd.device.type == "cpu"
    embeds = deepfloyd.encode("a rocket ship")
    assert embeds.shape == (1, 77, 32) and embeds.dtype == torch.float32
    assert deepfloyd.embedding_path("a rocket ship").is_file()

    eps, v = deepfloyd.estimator(embeds)(torch.randn(2, 3, 64, 64), 500)
    assert deepfloyd._text is None, "T5 is freed once the UNet is loaded"
    assert eps.shape == v.shape == (2, 3, 64, 64) and eps.dtype == torch.float32 and torch.isfinite(eps).all()

    images = deepfloyd.upsample(torch.zeros(1, 3, 64, 64), embeds, deepfloyd.encode(""), torch.Generator().manual_seed(0), num_inference_steps=1)
    assert images.shape == (1, 3, 256, 256)
    assert deepfloyd._text is None, "T5 is freed again after encoding a new prompt while a UNet is loaded"
    assert deepfloyd.describe()["revisions"] == if_hub
    assert deepfloyd.describe()["dtype"] == "float32"

    # a second backend reads the embeddings from disk: T5 never loads
    again = on_cpu(tmp_path)
    monkeypatch.setattr(again, "_build_text_pipeline", lambda: pytest.fail("T5 loaded for a cached prompt"))
    assert torch.equal(again.encode("a rocket ship"), embeds)


def test_without_a_gpu_the_cuda_device_fails_with_one_sentence_before_any_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(IFPipeline, "from_pretrained", Mock(side_effect=AssertionError("tried to download")))
    deepfloyd = backend(tmp_path)
    assert deepfloyd.dtype == torch.float16
    for use in (lambda: deepfloyd.encode("a rocket ship"), lambda: deepfloyd.estimator(torch.zeros(1, 77, 4096))):
        with pytest.raises(BackendUnavailable) as raised:
            use()
        assert str(raised.value) == NO_CUDA and 'device = "cpu"' in NO_CUDA and "--backend mnist" in NO_CUDA


def test_a_missing_snapshot_offline_says_to_unset_hf_hub_offline(if_hub: dict[str, str], offline_hub: Path, tmp_path: Path) -> None:
    shutil.rmtree(offline_hub / "models--DeepFloyd--IF-I-XL-v1.0")
    with pytest.raises(BackendUnavailable) as raised:
        on_cpu(tmp_path).encode("a rocket ship")
    message = str(raised.value)
    assert message.startswith(f"{STAGE_1} is not in the Hugging Face cache at {offline_hub} and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE")
    assert one_sentence(message) and deepfloyd_unavailable_reason(True, {"device": "cpu"}) == message


def test_a_missing_stage_two_snapshot_fails_only_when_stage_two_loads(if_hub: dict[str, str], offline_hub: Path, tmp_path: Path) -> None:
    shutil.rmtree(offline_hub / "models--DeepFloyd--IF-II-L-v1.0")
    assert deepfloyd_unavailable_reason(True, {"device": "cpu"}) is None
    deepfloyd = on_cpu(tmp_path)
    embeds = deepfloyd.encode("a rocket ship")
    with pytest.raises(BackendUnavailable, match=f"^{STAGE_2} is not in the Hugging Face cache"):
        deepfloyd.upsample(torch.zeros(1, 3, 64, 64), embeds, embeds, None, num_inference_steps=1)


def test_a_corrupt_safetensors_file_names_it_and_says_to_download_again(if_hub: dict[str, str], offline_hub: Path, tmp_path: Path) -> None:
    weights = snapshot_folder(offline_hub, STAGE_1) / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    blob = weights.resolve()
    blob.write_bytes(blob.read_bytes()[:1000])  # an interrupted download
    deepfloyd = on_cpu(tmp_path)
    embeds = deepfloyd.encode("a rocket ship")  # T5 is intact
    with pytest.raises(BackendUnavailable) as raised:
        deepfloyd.estimator(embeds)
    message = str(raised.value)
    assert message == f"unet/diffusion_pytorch_model.fp16.safetensors of {STAGE_1} is damaged and cannot be read; delete {offline_hub / 'models--DeepFloyd--IF-I-XL-v1.0'} to download it again."


@pytest.mark.parametrize(("content", "expected"), [('{"_class_name": "StableDiffusionPipeline"}', "names the pipeline 'StableDiffusionPipeline', not IFPipeline"), ("{not json", "is not valid JSON")])
def test_a_wrong_model_index_is_caught_before_loading(content: str, expected: str, if_hub: dict[str, str], offline_hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = snapshot_folder(offline_hub, STAGE_1) / "model_index.json"
    index.unlink()
    index.write_text(content)
    monkeypatch.setattr(IFPipeline, "from_pretrained", Mock(side_effect=AssertionError("loaded a wrong repo")))
    with pytest.raises(BackendUnavailable) as raised:
        on_cpu(tmp_path).encode("a rocket ship")
    message = str(raised.value)
    assert expected in message and message.endswith(f"delete {offline_hub / 'models--DeepFloyd--IF-I-XL-v1.0'} to download it again.") and "\n" not in message
    assert deepfloyd_unavailable_reason(True, {"device": "cpu"}) == message


def test_t5_8bit_without_bitsandbytes_says_how_to_fix_it(if_hub: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "bitsandbytes" else find_spec(name, *args))
    monkeypatch.setattr(IFPipeline, "from_pretrained", Mock(side_effect=AssertionError("loaded T5 without 8-bit support")))
    with pytest.raises(BackendUnavailable) as raised:
        on_cpu(tmp_path, t5_8bit=True).encode("a rocket ship")
    assert str(raised.value) == NO_BITSANDBYTES and one_sentence(NO_BITSANDBYTES)
    assert deepfloyd_unavailable_reason(True, {"device": "cpu", "t5_8bit": True}) == NO_BITSANDBYTES


def test_local_model_folders_load_and_are_fingerprinted_by_their_contents(tmp_path: Path) -> None:
    stage_1, stage_2 = write_if_folder(tmp_path / "if-i", 1), write_if_folder(tmp_path / "if-ii", 2)
    config = {"device": "cpu", "stage_1": str(stage_1), "stage_2": str(stage_2)}
    assert deepfloyd_unavailable_reason(True, config) is None
    deepfloyd = on_cpu(tmp_path, stage_1=str(stage_1), stage_2=str(stage_2))
    eps, _ = deepfloyd.estimator(deepfloyd.encode("a rocket ship"))(torch.randn(1, 3, 64, 64), 500)
    assert eps.shape == (1, 3, 64, 64)
    assert deepfloyd.upsample(torch.zeros(1, 3, 64, 64), deepfloyd.encode(""), deepfloyd.encode(""), None, 1).shape == (1, 3, 256, 256)
    assert deepfloyd.describe()["revisions"][str(stage_1)].startswith("local folder, digest ")

    identity = BACKENDS["deepfloyd"].identity(config)
    assert identity["stage_1"] == {"folder": str(stage_1), "digest": identity["stage_1"]["digest"]} and len(identity["stage_1"]["digest"]) == 16
    scheduler = stage_1 / "scheduler" / "scheduler_config.json"
    scheduler.write_text(scheduler.read_text().replace('"sample_max_value": 1.5', '"sample_max_value": 2.0'))
    assert BACKENDS["deepfloyd"].identity(config)["stage_1"]["digest"] != identity["stage_1"]["digest"], "a changed config changes the fingerprint"
    assert BACKENDS["deepfloyd"].identity(config)["stage_2"] == identity["stage_2"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "is not a folder; download the weights there with `hf download DeepFloyd/IF-I-XL-v1.0 --local-dir"),
        ("no index", "has no model_index.json, so it is not a diffusers model folder"),
        ("stage II folder", "names the pipeline 'IFSuperResolutionPipeline', not IFPipeline; stage_1 must be a folder saved from diffusers' IFPipeline"),
    ],
)
def test_a_local_folder_that_is_not_stage_one_is_one_sentence_up_front(case: str, expected: str, tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    if case == "no index":
        folder.mkdir()
    elif case == "stage II folder":
        write_if_folder(folder, 2)
    reason = deepfloyd_unavailable_reason(True, {"device": "cpu", "stage_1": str(folder)})
    assert reason is not None and expected in reason and one_sentence(reason)
    with pytest.raises(BackendUnavailable) as raised:
        on_cpu(tmp_path, stage_1=str(folder)).encode("a rocket ship")
    assert str(raised.value) == reason


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


def gated_error() -> GatedRepoError:
    response = Mock(status_code=401, headers={})
    return GatedRepoError("401 Client Error. Access to model DeepFloyd/IF-I-XL-v1.0 is restricted.", response=response)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (gated_error(), GATED),
        (OSError("There was a specific connection error when trying to load DeepFloyd/IF-I-XL-v1.0:\n403 Client Error"), GATED),
        (RepositoryNotFoundError("404", response=Mock(status_code=404, headers={})), "was not found on the Hugging Face Hub"),
        (LocalEntryNotFoundError("offline"), "is not in the local Hugging Face cache"),
        (torch.OutOfMemoryError("CUDA out of memory"), "set cpu_offload = true"),
        (ImportError("bitsandbytes is not installed"), "set t5_8bit = false"),
        (OSError("Error no file named diffusion_pytorch_model.fp16.safetensors found"), "models--DeepFloyd--IF-I-XL-v1.0 to download it again"),
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


def test_config_accepts_the_pyproject_table_and_rejects_typos_devices_and_other_models(tmp_path: Path) -> None:
    config = DeepFloydConfig.from_mapping({"stage_1": "DeepFloyd/IF-I-M-v1.0", "cpu_offload": True, "embeddings_cache_dir": "x"})
    assert config.stage_1 == "DeepFloyd/IF-I-M-v1.0" and config.stage_2 == STAGE_2 and config.cpu_offload and config.device == "cuda"
    assert DeepFloydConfig(stage_1=str(tmp_path)).stage_1 == str(tmp_path), "a folder is a model too"
    with pytest.raises(ValueError, match="Unknown key 'cpu_ofload'"):
        DeepFloydConfig.from_mapping({"cpu_ofload": True})
    with pytest.raises(ValueError, match="is neither an IF model id nor a folder"):
        DeepFloydConfig(stage_1="stabilityai/stable-diffusion-2")
    with pytest.raises(ValueError, match="is not a device"):
        DeepFloydConfig(device="gpu")
    with pytest.raises(ValueError, match='cpu_offload = true .* needs device = "cuda"'):
        DeepFloydConfig(device="cpu", cpu_offload=True)
