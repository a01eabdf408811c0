"""`gen build --backend deepfloyd` through the real loading code: tiny IF repos in the Hub layout, HF_HUB_OFFLINE=1, a CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import GenProject, copy_project

from generator.diffusion.backends.hub_layout import write_if_hub_cache

PART_A = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.7.1", "1.7.2", "1.7.3", "1.8", "1.9"]


@pytest.fixture(scope="module")
def offline_if(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenProject, Path, dict[str, str]]:
    """The report copied, with [tool.gen.backend.deepfloyd] device = "cpu", and a hub cache holding tiny IF-I-XL and IF-II-L."""
    root = tmp_path_factory.mktemp("offline-if")
    (root / "report").mkdir()
    project = copy_project(root / "report")
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('device = "cuda"', 'device = "cpu"', 1))
    hub = root / "hf" / "hub"
    return project, hub, write_if_hub_cache(hub)


@pytest.fixture
def offline_env(offline_if: tuple[GenProject, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    project, hub, _ = offline_if
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(hub.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GEN_ASSUME_CUDA", "0")


def test_every_part_a_section_builds_on_the_real_deepfloyd_backend_offline(offline_if: tuple[GenProject, Path, dict[str, str]], offline_env: None) -> None:
    project, _, commits = offline_if
    # Part A only: Part B trains MNIST UNets whatever the backend, and the tiny build already covers it
    sections = [arg for section in PART_A for arg in ("--section", section)]
    result = project.gen("build", "--profile", "smoke", "--backend", "deepfloyd", *sections, "--no-site", timeout=900)
    assert not (project.root / "cache" / "2.3").exists()
    for section in PART_A:
        manifest = json.loads((project.root / "cache" / section / "deepfloyd" / "smoke" / "manifest.json").read_text())
        assert manifest["figures"], section
        described = manifest["provenance"]["backend"]
        if section in ("1.1", "1.2"):
            continue  # schedule only: no model, nothing to describe
        assert described["revisions"] == commits, section
        assert (described["device"], described["dtype"]) == ("cpu", "float32")
    stage_2 = [f for f in json.loads((project.root / "cache" / "1.0" / "deepfloyd" / "smoke" / "manifest.json").read_text())["figures"] if "stage II" in f["name"]]
    assert len(stage_2) == 6, "stage II upsampled every 1.0 sample"
    # one cached T5 embedding per distinct prompt of the run, keyed by the encoder
    embeddings = list((project.root / "artifacts" / ".embeddings" / "DeepFloyd--IF-I-XL-v1.0").glob("*.safetensors"))
    assert len(embeddings) >= 10
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_snapshot_fails_the_build_with_one_sentence(offline_if: tuple[GenProject, Path, dict[str, str]], offline_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, hub, _ = offline_if
    empty = tmp_path / "empty-hub"
    empty.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    result = project.gen("build", "--profile", "smoke", "--backend", "deepfloyd", "--section", "1.5", "--force", "--no-site", check=1)
    sentence = f"DeepFloyd/IF-I-XL-v1.0 is not in the Hugging Face cache at {empty} and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE to download it once"
    assert sentence in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stdout + result.stderr
    shutil.rmtree(empty)
