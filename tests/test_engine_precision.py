"""[tool.gen] precision: how the MNIST models compute, in the fingerprint only when it is forced."""

from __future__ import annotations

import json

import pytest
import torch

from generator.mnist.precision import FORCED, fastest_precision


def test_a_forced_precision_is_part_of_a_part_b_fingerprint_and_auto_changes_nothing(project):
    project.gen("build", "--no-site")
    status = {r["section"]: r for r in json.loads(project.gen("status", "--json").stdout)}
    assert all(r["state"] == "fresh" for r in status.values())
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'precision = "auto"\n')
    assert {r["state"] for r in json.loads(project.gen("status", "--json").stdout)} == {"fresh"}  # auto: no fingerprint changes
    pyproject.write_text(pyproject.read_text().replace('precision = "auto"', 'precision = "bf16"'))
    status = json.loads(project.gen("status", "--json").stdout)
    assert {r["state"] for r in status} == {"stale"}
    assert status[0]["reasons"] == ['precision: added "bf16"']


def test_an_unknown_precision_is_one_sentence(project):
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'precision = "fp8"\n')
    out = project.gen("status", check=2)
    assert "[tool.gen] precision must be one of 'auto', 'fp32', 'bf16', not 'fp8'" in " ".join(out.stderr.split())


@pytest.mark.parametrize(("forced", "dtype"), [("fp32", None), ("bf16", torch.bfloat16)])
def test_the_forced_precision_is_what_the_models_compute_in(monkeypatch, forced, dtype):
    monkeypatch.setenv(FORCED, forced)
    precision = fastest_precision("cpu")
    assert precision.autocast_dtype == dtype and precision.describe().startswith(f"cpu {forced}")
