"""probe.py: the cheap, torch-free answer to "can the deepfloyd backend run its models here?"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generator.diffusion.backends.probe import NO_CUDA, NO_TOKEN, cached_snapshot, cuda_available, deepfloyd_unavailable_reason

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face home, no token, and a machine assumed to have CUDA unless a test says otherwise."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("GEN_ASSUME_CUDA", "1")
    return tmp_path / "hf"


def cache_snapshot(hf_home: Path, model_id: str, commit: str = "c0ffee") -> None:
    repo = hf_home / "hub" / ("models--" + model_id.replace("/", "--"))
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_sections_that_only_use_the_schedule_can_always_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEN_ASSUME_CUDA", "0")
    assert deepfloyd_unavailable_reason(needs_model=False) is None


def test_no_cuda_is_reported_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEN_ASSUME_CUDA", "0")
    assert not cuda_available()
    assert deepfloyd_unavailable_reason(needs_model=True) == NO_CUDA
    assert "--backend mnist" in NO_CUDA


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
    assert deepfloyd_unavailable_reason(needs_model=True, stage_1="DeepFloyd/IF-I-L-v1.0") is None
    assert deepfloyd_unavailable_reason(needs_model=True, stage_1="DeepFloyd/IF-I-XL-v1.0") == NO_TOKEN


def test_importing_probe_does_not_import_torch() -> None:
    code = "import sys, generator.diffusion.backends.probe as p; p.deepfloyd_unavailable_reason(True); print(sorted({'torch', 'diffusers', 'transformers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
