"""Part B sections and the mnist backend, as built by the smoke build of the whole report."""

from __future__ import annotations

import json


def manifest(project, section: str, backend: str = "none") -> dict:
    return json.loads((project.root / f"cache/{section}/{backend}/smoke/manifest.json").read_text())


def names(m: dict) -> list[str]:
    return [figure["name"] for figure in m["figures"]]


def test_classifier_section_records_its_accuracy_and_saves_a_checkpoint(smoke_site):
    m = manifest(smoke_site, "2.0")
    assert 0.0 <= m["metrics"]["test_accuracy"] <= 1.0 and m["metrics"]["test_images"] == 1000
    assert "bundled offline subset" in m["notes"]["data"] and "9,000 train / 1,000 test" in m["notes"]["data"]
    assert [a["name"] for a in m["artifacts"]] == ["classifier.safetensors"]
    assert (smoke_site.root / "artifacts/2.0/none/smoke/classifier.safetensors").is_file()


def test_single_step_denoiser_page_has_every_figure(smoke_site):
    m = manifest(smoke_site, "2.1")
    assert names(m) == ["noising", "loss", "epoch 1", "out of distribution"]
    assert m["metrics"]["final_loss"] > 0 and m["metrics"]["train_images"] == 128
    assert set(m["metrics"]) >= {f"ood_mse_sigma_{s}" for s in ("0", "0.2", "0.4", "0.5", "0.6", "0.8", "1")}


def test_time_conditioned_page_has_grids_gif_and_histogram(smoke_site):
    m = manifest(smoke_site, "2.2")
    assert names(m) == ["loss", "epoch 1", "epoch 2", "trajectory", "histogram"]
    assert abs(sum(m["metrics"][f"share_{d}"] for d in range(10)) - 1.0) < 1e-9
    assert m["inputs"]["upstream"] == {"2.0/none/smoke": manifest(smoke_site, "2.0")["fingerprint"]}


def test_class_conditioned_page_has_grids_sweep_and_on_target_shares(smoke_site):
    m = manifest(smoke_site, "2.3")
    assert names(m) == ["loss", "epoch 2", "guidance 0", "guidance 5", "guidance 10", "trajectory"]
    assert all(0.0 <= m["metrics"][f"on_target_gamma_{g}"] <= 1.0 for g in ("0", "5", "10"))
    assert (smoke_site.root / "artifacts/2.3/none/smoke/unet.safetensors").is_file()


def test_mnist_backend_runs_every_part_a_section_that_uses_it(smoke_site):
    for section in ("1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.7.1", "1.7.2", "1.7.3", "1.8", "1.9"):
        m = manifest(smoke_site, section, "mnist")
        assert m["figures"], section
        if section not in ("1.1", "1.2"):  # sections that call the model read 2.3's UNet and 2.0's classifier
            assert set(m["inputs"]["upstream"]) == {"2.3/none/smoke", "2.0/none/smoke"}, section
    page = (smoke_site.root / "docs/part-a/1.8.md").read_text()
    assert "/// tab | MNIST UNet" in page and "/// tab | Tiny IF (random weights)" in page
