"""Section spec validation: a bad spec is one sentence naming the file and the field, and exit code 2."""

from __future__ import annotations

import pytest
from conftest import section_source

from generator.section import Section, SpecError


@pytest.mark.parametrize(
    ("rel", "source", "expected"),
    [
        ("sections/b4.py", section_source("2.1"), "sections/b4.py: id: '2.1' is already used by b1.py"),
        ("sections/b4.py", section_source("2.4").replace("page.md.j2", "nope.md.j2"), "sections/b4.py: template: 'nope.md.j2' is not in templates/"),
        ("sections/b4.py", section_source("2.4", extra=", seeds=[1729, 'x']"), "sections/b4.py: seeds[1]: 'x' is not an int"),
        ("sections/b4.py", section_source("2.4", upstream='("9.9",)'), "sections/b4.py: upstream: section '9.9' does not exist"),
        ("sections/b4.py", section_source("2.4").split("def compute")[0], "sections/b4.py: compute: define `def compute(ctx):`"),
        ("sections/b4.py", section_source("../x"), "sections/b4.py: id: '../x' is not a section id"),
        ("sections/b4.py", section_source("2.4", extra=", profiles={'quick': {'nope': 1}}"), "sections/b4.py: profiles.quick: overrides unknown params ['nope']"),
    ],
)
def test_invalid_spec_names_file_and_field_and_exits_2(project, rel, source, expected):
    project.write(rel, source)
    result = project.gen("status", check=2)
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_prompts_for_an_unknown_backend_are_rejected(project):
    source = section_source("2.4").replace('part="B"', 'part="A"') .replace("upstream=()", "upstream=(), prompts={'dalle': ['a cat']}")
    project.write("sections/b4.py", source)
    result = project.gen("build", check=2)
    assert "sections/b4.py: prompts: backend 'dalle' does not exist" in " ".join(result.stderr.split())


def test_dependency_cycle_is_rejected(project):
    project.write("sections/b1.py", section_source("2.1", upstream='("2.2",)'))
    result = project.gen("build", check=2)
    assert "dependency cycle" in result.stderr and ("2.1 → 2.2 → 2.1" in result.stderr or "2.2 → 2.1 → 2.2" in result.stderr)


def test_unknown_section_option_is_a_usage_error(project):
    result = project.gen("build", "--section", "7.7", check=2)
    assert "unknown section '7.7'" in result.stderr


def test_unknown_profile_and_backend_are_usage_errors(project):
    assert "unknown profile 'huge'" in project.gen("build", "--profile", "huge", check=2).stderr
    assert "unknown backend 'dalle'" in project.gen("build", "--backend", "dalle", check=2).stderr


def test_section_validates_its_fields_in_python():
    with pytest.raises(SpecError, match="seeds"):
        Section(id="1.1", part="A", title="t", template="x.md.j2", seeds=["1729"])
    with pytest.raises(SpecError, match="part"):
        Section(id="1.1", part="C", title="t", template="x.md.j2")
    assert Section(id="1.1", part="A", title="t", template="x.md.j2", params={"a": 1}, profiles={"smoke": {"a": 2}}).params_for("smoke") == {"a": 2}


def test_prompts_render_as_text_never_html(project):
    evil = "<script>alert(1)</script> *bold* [link](http://x) $x$"
    source = section_source("2.4").replace('"a square of value " + str(value)', repr(evil))
    project.write("sections/b4.py", source)
    project.gen("build")
    page = (project.root / "site/2.4/index.html") if (project.root / "site/2.4/index.html").exists() else next((project.root / "site").rglob("2.4/index.html"))
    html = page.read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<strong>bold</strong>" not in html and "<em>bold</em>" not in html and 'href="http://x"' not in html
