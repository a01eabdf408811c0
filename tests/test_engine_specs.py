"""Section spec validation: a bad spec is one sentence naming the file and the field, and exit code 2."""

from __future__ import annotations

import pytest
from conftest import part_a_source, section_source

from generator.engine.section import Section, SpecError


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


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (section_source("2.4", params="{'f': lambda x: x}"), "sections/b4.py: params.f: <function <lambda> at"),
        (section_source("2.4", params="{'o': object()}"), "sections/b4.py: params.o: <object object at"),
        (section_source("2.4", params="{1: 'a', 'b': 2}"), "sections/b4.py: params: key 1 is not a string; JSON keys are strings"),
        (section_source("2.4", params="{'nan': float('nan')}"), "sections/b4.py: params.nan: nan is not a finite number"),
        (section_source("2.4", extra=", profiles={'smoke': {'scale': {3}}}"), "sections/b4.py: profiles.smoke.scale: {3} (set) is not JSON data"),
        (section_source("9.9").replace("id='9.9'", "id='9.9\\n'"), "sections/b4.py: id: '9.9\\n' is not a section id"),
        (section_source("2.4", extra=", seeds=[2**70]"), "sections/b4.py: seeds[0]: 1180591620717411303424 is outside 0 ≤ seed < 2**32"),
        (section_source("2.4", extra=", seeds=[-1]"), "sections/b4.py: seeds[0]: -1 is outside 0 ≤ seed < 2**32"),
        (part_a_source("1.4", prompts="{'tiny': 'seven'}"), "sections/b4.py: prompts.tiny: must be a list of prompts, not str 'seven'; write ['seven']"),
        (part_a_source("1.4", prompts="{'tiny': [7]}"), "sections/b4.py: prompts.tiny[0]: 7 is not a prompt (a string), a list of prompts or a dict"),
        (part_a_source("1.4", extra=", inputs={'photo': 'inputs/nope.png'}"), "sections/b4.py: inputs.photo: 'inputs/nope.png' does not exist"),
        (part_a_source("1.4", extra=", inputs={'photo': {'tiny': 'builtin:nope'}}"), "sections/b4.py: inputs.photo: unknown builtin input 'builtin:nope'"),
        (section_source("2.4", upstream="'2.1'"), "sections/b4.py: upstream: must be a list of section ids, not '2.1'; write ['2.1']"),
        (part_a_source("1.4").replace('backends=["tiny"]', 'backends=["tiny", "dalle"]'), "sections/b4.py: backends: backend 'dalle' does not exist"),
        (section_source("2.4") + "\nimport sys\nsys.exit()\n", "sections/b4.py: module: it calls sys.exit() while being imported"),
        (section_source("2.4") + "\nraise KeyboardInterrupt\n", "sections/b4.py: module: importing it raised KeyboardInterrupt"),
    ],
)
def test_bad_spec_values_are_caught_before_anything_runs(project, source, expected):
    project.write("sections/b4.py", source)
    for command in ("status", "build"):
        result = project.gen(command, check=2)
        assert expected in " ".join(result.stderr.split()), result.stderr
        assert "Traceback" not in result.stderr + result.stdout and not (project.root / "cache").exists()


def test_clean_rejects_an_unknown_profile(project):
    assert "unknown profile 'huge'; choose from smoke, quick, full" in project.gen("clean", "--profile", "huge", check=2).stderr


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


def test_a_longer_cycle_and_a_section_reading_itself_are_named(project):
    project.write("sections/b1.py", section_source("2.1", upstream='("2.3",)'))
    project.write("sections/b3.py", section_source("2.3", upstream='("2.2",)'))
    message = " ".join(project.gen("build", check=2).stderr.split())
    assert "upstream: dependency cycle" in message
    cycle = message.split("dependency cycle ", 1)[1].split()
    names = [n for n in cycle if n != "→"][:4]
    assert names[0] == names[-1] and set(names) == {"2.1", "2.2", "2.3"}  # each reads the next: 2.1 → 2.3 → 2.2 → 2.1
    assert all(f"{a} → {b}" in message for a, b in [("2.1", "2.3"), ("2.3", "2.2"), ("2.2", "2.1")] if a in names)
    project.write("sections/b1.py", section_source("2.1", upstream='("2.1",)'))
    project.write("sections/b3.py", section_source("2.3"))
    assert "sections/b1.py: upstream: dependency cycle 2.1 → 2.1" in " ".join(project.gen("build", check=2).stderr.split())
