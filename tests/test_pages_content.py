"""What the pages say: each backend's tab speaks of its own figures, numbers come from the spec and the manifest,
the DeepFloyd IF stand-in is explained, and the built HTML is clean."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import pytest

from generator.engine.discovery import load_sections
from generator.engine.files import StatCache
from generator.engine.plan import choose, plan
from generator.run.project import open_project
from generator.site.publish import page_results
from generator.site.render import Renderer, Result, page_path

REPO = Path(__file__).resolve().parents[1]
PHOTO_WORDS = re.compile(r"\b(photos?|colou?rs?|textures?|well-lit|saturated|high quality|rocket)\b", re.IGNORECASE)
DIGIT_WORDS = re.compile(r"\b(digits?|MNIST|strokes?)\b")


def tabs(markdown: str) -> dict[str, str]:
    """The text of each `/// tab | Label` block of a page (nested `///` blocks included)."""
    found, label, depth, body = {}, None, 0, []
    for line in markdown.splitlines():
        if line.startswith("/// "):
            if depth == 0 and line.startswith("/// tab | "):
                label, body = line[len("/// tab | "):].strip(), []
                depth = 1
                continue
            depth += depth > 0
        elif line.strip() == "///" and depth:
            depth -= 1
            if depth == 0:
                found[label] = "\n".join(body)
                continue
        if depth:
            body.append(line)
    return found


def prose(markdown: str) -> str:
    """A tab's own words: without figures (their captions come from the sections), code and the provenance line."""
    markdown = re.sub(r"<figure.*?</figure>", "", markdown, flags=re.S)
    markdown = re.sub(r'<p class="gen-(provenance|inputs)">.*?</p>', "", markdown, flags=re.S)
    return re.sub(r"`[^`]*`", "", markdown)


@pytest.fixture(scope="module")
def report(smoke_site):
    project = open_project(smoke_site.root)
    modules = load_sections(project)
    the_plan = plan(project, modules, choose(project, "smoke", ["tiny", "mnist"]), StatCache(project.artifacts_dir / ".stat-cache.json"))
    return project, {m.spec.id: m for m in modules}, the_plan


def results_for(report, section_id: str) -> list[Result]:
    project, modules, the_plan = report
    return page_results(project, modules[section_id], the_plan, ["tiny", "mnist"])


def as_deepfloyd(result: Result) -> Result:
    """A tiny result dressed as DeepFloyd IF's, to render the DeepFloyd tab's own prose (no weights here)."""
    return dataclasses.replace(result, backend="deepfloyd", label="DeepFloyd IF")


def render(report, template: str, **context) -> str:
    """A template rendered, with the character references that keep printed values inert read back as text."""
    project, _, _ = report
    return html.unescape(Renderer(project.templates_dir).env.get_template(template).render(**context))


def all_pages(report) -> list[dict]:
    project, modules, _ = report
    return [{"section": m.spec, "url": page_path(project.docs_dir, m.spec).relative_to(project.docs_dir).as_posix(),
             "results": results_for(report, sid)} for sid, m in modules.items()]


PART_A = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.7.1", "1.7.2", "1.7.3", "1.8", "1.9"]


def test_built_site_has_no_markdown_attribute_leftovers_or_empty_paragraphs(smoke_site) -> None:
    pages = [p for p in (smoke_site.root / "site").rglob("*.html") if not {"assets", "search"} & set(p.parts)]
    assert len(pages) > 10
    for page in pages:
        html = page.read_text()
        assert not re.search(r"\smarkdown=\"", html), page
        assert not re.search(r"<p>\s*</p>", html), page


@pytest.mark.parametrize("section_id", PART_A)
def test_mnist_tab_never_speaks_of_photos(smoke_site, section_id: str) -> None:
    page = tabs((smoke_site.root / "docs" / "part-a" / f"{section_id}.md").read_text())
    assert "MNIST UNet" in page
    words = PHOTO_WORDS.findall(prose(page["MNIST UNet"]))
    assert not words, words


@pytest.mark.parametrize("section_id", PART_A)
def test_deepfloyd_tab_speaks_of_its_images_not_digits(report, section_id: str) -> None:
    project, modules, _ = report
    results = results_for(report, section_id)
    tiny = next(r for r in results if r.backend == "tiny")
    page = render(report, modules[section_id].spec.template, section=modules[section_id].spec, results=[as_deepfloyd(tiny)], profile="smoke")
    text = prose(tabs(page)["DeepFloyd IF"])
    assert not DIGIT_WORDS.findall(text), DIGIT_WORDS.findall(text)
    assert "random weights" not in text


def test_a_deepfloyd_tab_without_results_explains_the_model_the_licence_the_memory_and_the_command(smoke_site) -> None:
    tab = tabs((smoke_site.root / "docs" / "part-a" / "1.6.md").read_text())["DeepFloyd IF"]
    for fact in ("gated", "DeepFloyd IF License Agreement", "huggingface.co/DeepFloyd/IF-I-XL-v1.0", "hf auth login",
                 "gen build --backend deepfloyd", "cpu_offload = true", "t5_8bit = true", "11 GB", "8.6 GB", "2.4 GB",
                 "gen build --section 1.6 --backend deepfloyd"):
        assert fact in tab, fact
    schedule_only = tabs((smoke_site.root / "docs" / "part-a" / "1.1.md").read_text())["DeepFloyd IF"]
    assert "not its weights" in schedule_only and "hf auth login" not in schedule_only


def test_home_page_says_there_are_no_deepfloyd_results_and_why(smoke_site) -> None:
    home = (smoke_site.root / "docs" / "index.md").read_text()
    assert "No DeepFloyd IF results are in this build" in home
    assert "stand-in" in home and "gated" in home and "T5-XXL" in home
    assert "/// details | How to compute the DeepFloyd IF results" in home


def test_every_result_tab_names_its_input_images_and_their_source(smoke_site) -> None:
    one_step = tabs((smoke_site.root / "docs" / "part-a" / "1.3.md").read_text())
    assert "Grace Hopper" in one_step["Tiny IF (random weights)"] and "grace_hopper.jpg" in one_step["Tiny IF (random weights)"]
    assert "inputs/digits/seven.png" in one_step["MNIST UNet"] and "scripts/draw_inputs.py" in one_step["MNIST UNet"]
    assert "Grace Hopper" not in one_step["MNIST UNet"]


@pytest.mark.parametrize("section_id", ["1.8", "1.9"])
def test_anagram_and_hybrid_name_the_seeds_they_show(smoke_site, report, section_id: str) -> None:
    page = tabs((smoke_site.root / "docs" / "part-a" / f"{section_id}.md").read_text())
    for result in results_for(report, section_id):
        named = [int(seed) for seed in re.findall(r"Shown: (?:candidate \d+ of the batch of \d+ from )?seed (\d+)", page[result.label])]
        chosen = [f.meta for f in result.figures if f.meta.get("chosen")]
        shown = [next(m["seed"] for m in chosen if m["pair"] == pair) for pair in dict.fromkeys(m["pair"] for m in chosen)]
        assert named == shown, result.label


def with_params(section, **changes):
    return dataclasses.replace(section, params={**section.params, **changes})


@pytest.mark.parametrize(
    ("section_id", "changes", "expected", "gone"),
    [
        ("1.6", {"cfg_scale": 3.5}, [r"\gamma = 3.5"], [r"\gamma = 7"]),
        ("1.0", {"cfg_scale": 4.0, "steps": [10, 40]}, [r"\gamma = 4", "compares 10 and 40"], [r"\gamma = 7", "20 and 50"]),
        ("1.7", {"i_starts": [2, 4], "stride": 30}, ["{2, 4}", "t\\) = 930, 870"], ["{1, 3, 5, 7, 10, 20}"]),
        ("1.4", {"i_start": 12, "stride": 30}, ["t = 630", "`i_start = 12`"], ["t = 690"]),
        ("2.3", {"p_uncond": 0.25}, [r"p_\text{uncond} = 0.25"], [r"p_\text{uncond} = 0.1"]),
        ("2.1", {"sigma": 0.3}, [r"\sigma = 0.3"], [r"\sigma = 0.5"]),
    ],
)
def test_prose_prints_the_values_of_the_spec(report, section_id, changes, expected, gone) -> None:
    _, modules, _ = report
    section = with_params(modules[section_id].spec, **changes)
    page = render(report, section.template, section=section, results=results_for(report, section_id), profile="smoke")
    approach = page.split("## Results")[0]
    for text in expected:
        assert text in approach, text
    for text in gone:
        assert text not in approach, text


def test_templates_type_no_value_that_the_spec_owns() -> None:
    for template in (REPO / "templates").rglob("*.j2"):
        text = template.read_text()
        for typed in (r"\gamma = 7", "1729", "1735", r"p_\text{uncond} = 0.1", "[1, 3, 5, 7, 10, 20]", "i_start = 10", "t = 690", "kernel 33", "kernel 13"):
            assert typed not in text, f"{template.name} types {typed!r}; print it from the spec or the manifest"


def test_classifier_scores_are_printed_when_a_section_records_them(report) -> None:
    _, modules, _ = report
    results = results_for(report, "1.8")
    mnist = next(r for r in results if r.backend == "mnist")
    reads = {f"{measure}_{pair}_{reading}": 0.0 for pair in range(1, 6) for reading in ("upright", "view") for measure in ("reads", "not_digit", "real")}
    reads |= {f"candidates_{pair}": 64 for pair in range(1, 6)} | {f"{flag}_{pair}": 0 for pair in range(1, 6) for flag in ("passes", "trivial")}
    reads |= {"reads_1_upright": 0.91, "reads_1_view": 0.84, "real_1_view": 0.03, "passes_1": 1}
    scored = dataclasses.replace(mnist, manifest={**mnist.manifest, "metrics": reads})
    page = tabs(render(report, "a1_8_visual_anagrams.md.j2", section=modules["1.8"].spec, results=[scored], profile="smoke"))["MNIST UNet"]
    flat = " ".join(page.split())
    assert "| classifier of 2.0: probability of the digit | 0.91 | 0.84 |" in flat and "| real test digits of the other prompt that already read so | 0% | 3% |" in flat
    assert "Upright it reads 4; rotated 90° it reads 7." in flat and "Upright it should read 7 and upside down 2, but the judges do not accept both readings." in flat
    one_step = next(r for r in results_for(report, "1.3") if r.backend == "mnist")
    scored = dataclasses.replace(one_step, manifest={**one_step.manifest, "metrics": {"reads_one_step_t750": 0.83}})
    page = tabs(render(report, "a1_3_one_step_denoising.md.j2", section=modules["1.3"].spec, results=[scored], profile="smoke"))["MNIST UNet"]
    assert "| one step t750 | 0.83 |" in page


def test_part_a_overview_lists_every_part_a_section_with_both_models_prompts(report) -> None:
    page = render(report, "pages/overview-part-a.md.j2", pages=all_pages(report), profile="smoke")
    for section_id in PART_A:
        assert f"[{section_id} " in page, section_id
    assert "“a rocket ship”" in page and "one → “7”" in page and "“4” / “7” rotated by 90°" in page
    assert "DeepFloyd IF License Agreement" in page and "hf auth login" in page and "stand-in" in page


def test_closing_page_quotes_the_measured_numbers(report) -> None:
    page = render(report, "pages/closing.md.j2", pages=all_pages(report), profile="smoke")
    class_conditioned = next(r for r in results_for(report, "2.3"))
    for gamma in class_conditioned.params["sweep"]:
        share = class_conditioned.metrics[f"on_target_gamma_{gamma:g}"]
        assert f"at \\(\\gamma = {gamma:g}\\)" in page and f"{share * 100:.0f}%" in page
    time_conditioned = next(r for r in results_for(report, "2.2"))
    assert f"of {time_conditioned.metrics['score_samples']} unconditional\nsamples" in page
    assert "[credits](credits.md)" in page and "[Part A overview](overview-part-a.md)" in page


def test_the_footer_names_the_seeds_shown_not_the_spec_seeds():
    from generator.site.render import make_result

    figure = {"kind": "image", "file": "x.png", "caption": ""}
    searched = make_result("mnist", "MNIST", {"profile": "quick", "provenance": {"seeds": [1729, 1735]}, "figures": [
        {**figure, "name": "1 chosen", "seed": 1730, "index": 12, "chosen": True},
        {**figure, "name": "1 runner-up", "seed": 1729, "index": 3, "chosen": False},
        {**figure, "name": "2 chosen", "seed": 1731, "index": 0, "chosen": True}]}, "f")
    assert searched.seeds_shown == ["1730 (candidate 12)", "1731 (candidate 0)"]
    plain = make_result("tiny", "tiny", {"profile": "smoke", "provenance": {"seeds": [1729, 1735]}, "figures": [{**figure, "name": "a"}]}, "f")
    assert plain.seeds_shown == ["1729", "1735"]
