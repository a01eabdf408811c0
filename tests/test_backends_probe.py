"""probe.py: the cheap, torch-free answer to "can the deepfloyd backend run its models here?"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.diffusion.backends.probe import NO_CUDA, NO_TOKEN, cached_snapshot, cuda_available, deepfloyd_unavailable_reason, local_model_digest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face home, no token, and a machine assumed to have CUDA unless a test says otherwise."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("GEN_ASSUME_CUDA", "1")
    return tmp_path / "hf"


def cache_snapshot(hf_home: Path, model_id: str, commit: str = "c0ffee", pipeline: str = "IFPipeline") -> Path:
    repo = hf_home / "hub" / ("models--" + model_id.replace("/", "--"))
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "model_index.json").write_text(json.dumps({"_class_name": pipeline}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_sections_that_only_use_the_schedule_can_always_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEN_ASSUME_CUDA", "0")
    assert deepfloyd_unavailable_reason(needs_model=False) is None


def test_no_cuda_is_reported_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEN_ASSUME_CUDA", "0")
    assert not cuda_available()
    assert deepfloyd_unavailable_reason(needs_model=True) == NO_CUDA
    assert "--backend mnist" in NO_CUDA


def test_device_cpu_needs_no_gpu_but_still_needs_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEN_ASSUME_CUDA", "0")
    assert deepfloyd_unavailable_reason(needs_model=True, config={"device": "cpu"}) == NO_TOKEN
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert deepfloyd_unavailable_reason(needs_model=True, config={"device": "cpu"}) is None


def test_cuda_without_token_or_cached_weights_says_accept_the_licence_and_log_in() -> None:
    reason = deepfloyd_unavailable_reason(needs_model=True)
    assert reason == NO_TOKEN
    assert "https://huggingface.co/DeepFloyd/IF-I-XL-v1.0" in reason and "huggingface-cli login" in reason


def test_a_token_in_the_environment_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert deepfloyd_unavailable_reason(needs_model=True) is None


def test_a_token_saved_by_hf_auth_login_is_enough(hf_home: Path) -> None:
    hf_home.mkdir(parents=True)
    (hf_home / "token").write_text("hf_test\n")
    assert deepfloyd_unavailable_reason(needs_model=True) is None


def test_weights_already_in_the_hub_cache_need_no_token(hf_home: Path) -> None:
    cache_snapshot(hf_home, "DeepFloyd/IF-I-L-v1.0")
    assert cached_snapshot("DeepFloyd/IF-I-L-v1.0") == "c0ffee"
    assert deepfloyd_unavailable_reason(needs_model=True, config={"stage_1": "DeepFloyd/IF-I-L-v1.0"}) is None
    assert deepfloyd_unavailable_reason(needs_model=True, config={"stage_1": "DeepFloyd/IF-I-XL-v1.0"}) == NO_TOKEN


def test_offline_without_the_snapshot_says_to_unset_hf_hub_offline_even_with_a_token(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    reason = deepfloyd_unavailable_reason(needs_model=True)
    assert reason == (f"DeepFloyd/IF-I-XL-v1.0 is not in the Hugging Face cache at {hf_home / 'hub'} and HF_HUB_OFFLINE is set; "
                      "unset HF_HUB_OFFLINE to download it once, or set stage_1 to a local folder in [tool.gen.backend.deepfloyd].")
    cache_snapshot(hf_home, "DeepFloyd/IF-I-XL-v1.0")
    assert deepfloyd_unavailable_reason(needs_model=True) is None


def test_a_cached_snapshot_of_the_wrong_pipeline_is_reported(hf_home: Path) -> None:
    cache_snapshot(hf_home, "DeepFloyd/IF-I-XL-v1.0", pipeline="IFSuperResolutionPipeline")
    reason = deepfloyd_unavailable_reason(needs_model=True)
    assert reason is not None and "names the pipeline 'IFSuperResolutionPipeline', not IFPipeline; delete" in reason


def test_a_local_folder_digest_follows_its_configs_and_file_sizes_not_its_mtimes(tmp_path: Path) -> None:
    folder = tmp_path / "if"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "IFPipeline"}')
    (folder / "unet" / "config.json").write_text('{"layers_per_block": 3}')
    weights = folder / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    weights.write_bytes(b"x" * 100)
    digest = local_model_digest(str(folder))
    weights.write_bytes(b"y" * 100)
    assert local_model_digest(str(folder)) == digest, "same size: the weights are not hashed"
    weights.write_bytes(b"y" * 101)
    assert local_model_digest(str(folder)) != digest
    (folder / "unet" / "config.json").write_text('{"layers_per_block": 2}')
    assert local_model_digest(str(folder)) not in (digest, local_model_digest(str(folder / "missing")))


def test_importing_probe_does_not_import_torch() -> None:
    code = "import sys, generator.diffusion.backends.probe as p; p.deepfloyd_unavailable_reason(True); print(sorted({'torch', 'diffusers', 'transformers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
