"""Every Part A section computed through the tiny backend (random-weight IF) with the smoke profile, and its page."""

from __future__ import annotations

import json

import pytest

# The figures each section must make with the smoke profile (stride 330: timesteps 990, 660, 330, 0).
TIMESTEPS = (250, 500, 750)
SDEDIT = {
    "1.7": ("test_image", "aerial_terrain", "chart_emblem"),
    "1.7.1": ("web_image", "house_drawing", "sailboat_drawing"),
    "1.7.3": ("test_image", "aerial_terrain", "web_image"),
}
PROMPTS_1_0 = ("an oil painting of a snowy mountain village", "a man wearing a hat", "a rocket ship")
EXPECTED_FIGURES = {
    "1.0": [f"{steps} steps stage {stage}: {prompt}" for steps in (1, 2) for prompt in PROMPTS_1_0 for stage in ("I", "II")],
    "1.3": ["original", *(f"{kind} t={t}" for t in TIMESTEPS for kind in ("noisy", "one-step"))],
    "1.4": ["t=660", "t=330", "t=0", "original", "iterative", "one-step", "blur", "trajectory"],
    "1.5": ["sample 1", "sample 2"],
    "1.6": ["sample 1", "sample 2"],
    **{sid: [f"{image} {what}" for image in images for what in ("i_start=1", "i_start=2", "original")] for sid, images in SDEDIT.items()},
    "1.7.2": [f"{image} {what}" for image in ("test_image", "web_image", "aerial_terrain") for what in ("original", "mask", "to replace", "seed 1729", "seed 1730")],
    "1.8": [f"{pair} seed {seed} {reading}" for pair, seeds, view in ((1, (1729, 1730), "flip"), (2, (1735, 1729), "flip"), (3, (1729, 1730), "flip"), (4, (1729, 1730), "jigsaw"))
            for seed in seeds for reading in ("upright", view)],
    "1.9": [f"{pair} seed {seed} {reading}" for pair, seeds in ((1, (1729, 1730)), (2, (1748, 1729)), (3, (1733, 1729))) for seed in seeds for reading in ("hybrid", "far")],
}


def manifest(project, section_id: str) -> dict:
    path = project.root / "cache" / section_id / "tiny" / "smoke" / "manifest.json"
    assert path.is_file(), f"section {section_id} has no tiny smoke result:\n{project.build_output.stdout[-3000:]}"
    return json.loads(path.read_text())


@pytest.mark.parametrize("section_id", sorted(EXPECTED_FIGURES))
def test_part_a_section_makes_its_figures_on_the_tiny_backend(smoke_site, section_id):
    result = manifest(smoke_site, section_id)
    names = [figure["name"] for figure in result["figures"]]
    assert names == EXPECTED_FIGURES[section_id]
    for figure in result["figures"]:
        assert (smoke_site.root / "cache" / section_id / "tiny" / "smoke" / figure["file"]).stat().st_size > 0


@pytest.mark.parametrize("section_id", sorted(EXPECTED_FIGURES))
def test_part_a_page_shows_every_figure_with_math_and_escaped_prompts(smoke_site, section_id):
    page = (smoke_site.root / "docs" / "part-a" / f"{section_id}.md").read_text()
    for figure in manifest(smoke_site, section_id)["figures"]:
        assert f"figures/{section_id}/tiny/smoke/{figure['file']}" in page, figure["name"]
    assert "\\(" in page and "\\[" in page
    assert "<figcaption>" in page and "seed 17" in page


@pytest.mark.parametrize("section_id", ["1.7.2", "1.8", "1.9"])
def test_seed_search_shows_the_chosen_seed_and_folds_the_others(smoke_site, section_id):
    page = (smoke_site.root / "docs" / "part-a" / f"{section_id}.md").read_text()
    figures = manifest(smoke_site, section_id)["figures"]
    chosen = [f for f in figures if f.get("chosen")]
    others = [f for f in figures if f.get("chosen") is False]
    assert chosen and others
    lines = page.splitlines()
    assert "/// details | Other seeds" in lines
    for figure in others:
        # an image of a seed not chosen appears only inside an "Other seeds" block: the last fence above it opens one
        index = next(i for i, line in enumerate(lines) if f"/{section_id}/tiny/smoke/{figure['file']}" in line)
        fence = next(line for line in reversed(lines[:index]) if line.startswith("///"))
        assert fence == "/// details | Other seeds", (figure["name"], fence)
    for figure in chosen:
        index = next(i for i, line in enumerate(lines) if f"/{section_id}/tiny/smoke/{figure['file']}" in line)
        fence = next(line for line in reversed(lines[:index]) if line.startswith("///"))
        assert fence != "/// details | Other seeds", figure["name"]


def test_anagram_and_hybrid_show_the_spec_seeds_for_if_architectures(smoke_site):
    for section_id, seeds in (("1.8", [1729, 1735, 1729, 1729]), ("1.9", [1729, 1748, 1733])):
        figures = manifest(smoke_site, section_id)["figures"]
        chosen = [f["seed"] for f in figures if f.get("chosen")][::2]
        assert chosen == seeds, section_id


def test_the_anagram_page_names_each_view(smoke_site):
    page = (smoke_site.root / "docs" / "part-a" / "1.8.md").read_text()
    assert "### “an oil painting of an old man” / “an oil painting of people around a campfire” (upside down)" in page
    assert "### “an oil painting of houseplants” / “an oil painting of marilyn monroe” (as a jigsaw, its pieces moved and turned)" in page


def test_prompts_are_printed_as_inert_text(smoke_site):
    page = (smoke_site.root / "docs" / "part-a" / "1.7.3.md").read_text()
    assert "the prompt “a rocket ship”" in page
    assert "<script" not in page


def mnist_manifest(project, section_id: str) -> dict:
    return json.loads((project.root / "cache" / section_id / "mnist" / "smoke" / "manifest.json").read_text())


# The reads_* metrics each MNIST result records: one number per pair, image or sample, from the 2.0 classifier.
READS = {
    "1.0": [f"reads_{steps}_steps_{k}" for steps in (1, 2) for k in (1, 2, 3)],
    "1.7.2": [f"reads_{image}_inpainted" for image in ("test_digit", "three", "one")],
    "1.7.3": [f"reads_{image}_{i}_{what}" for image in ("one", "three", "zero") for i in (1, 2) for what in ("prompt", "original")],
    # 1.8 and 1.9 record through PairSearch: <measure>_<pair>_<reading>, per pair candidates_, passes_ and trivial_
    "1.8": [f"{measure}_{pair}_{reading}" for pair in (1, 2, 3, 4, 5) for reading in ("upright", "view") for measure in ("reads", "not_digit", "nearest", "real")]
    + [f"{flag}_{pair}" for pair in (1, 2, 3, 4, 5) for flag in ("passes", "trivial")],
    "1.9": [f"{measure}_{pair}_{reading}" for pair in (1, 2, 3) for reading in ("far", "close") for measure in ("reads", "not_digit", "nearest")]
    + [f"plain_{pair}_far" for pair in (1, 2, 3)] + [f"{flag}_{pair}" for pair in (1, 2, 3) for flag in ("passes", "trivial")],
}


@pytest.mark.parametrize("section_id", sorted(READS))
def test_mnist_results_record_classifier_reads_between_zero_and_one(smoke_site, section_id):
    metrics = mnist_manifest(smoke_site, section_id)["metrics"]
    for name in READS[section_id]:
        assert name in metrics, name
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics[name])


def test_inpainting_page_prints_the_reads_of_the_manifest(smoke_site):
    page = (smoke_site.root / "docs" / "part-a" / "1.7.2.md").read_text().split("/// tab | MNIST UNet")[1]
    for name, value in mnist_manifest(smoke_site, "1.7.2")["metrics"].items():
        if name.startswith("reads_") and name.endswith("inpainted"):
            assert f"{value:.2f}" in page, name


@pytest.mark.parametrize(("section_id", "readings"), [("1.8", ("upright", "view")), ("1.9", ("close", "far"))])
def test_each_searched_pair_prints_its_scores_in_a_table_under_its_figure(smoke_site, section_id, readings):
    page = (smoke_site.root / "docs" / "part-a" / f"{section_id}.md").read_text().split("/// tab | MNIST UNet")[1].split("\n/// tab |")[0]
    metrics = mnist_manifest(smoke_site, section_id)["metrics"]
    blocks = page.split("/// details | How this was chosen and scored")[1:]
    pairs = sorted({int(name.split("_")[1]) for name in metrics if name.startswith("candidates_")})
    assert len(blocks) == len(pairs)
    for pair, block in zip(pairs, blocks, strict=True):
        rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:3] for line in block.splitlines() if line.startswith("| ")}
        for measure, row in (("reads", "classifier of 2.0: probability of the digit"), ("not_digit", "classifier of 2.0: “not a digit”")):
            assert rows[row] == [f"{metrics[f'{measure}_{pair}_{reading}']:.2f}" for reading in readings], (pair, row)
        nearest = next(values for label, values in rows.items() if "nearest real digits" in label)
        assert nearest == [f"{metrics[f'nearest_{pair}_{reading}'] * 100:.0f}%" for reading in readings]
        assert f"the best of {metrics[f'candidates_{pair}']} candidates sampled" in block
        assert ("both judges accept both" in block) == bool(metrics[f"passes_{pair}"])


def test_the_anagram_page_says_which_mnist_pairs_are_trivial(smoke_site):
    page = (smoke_site.root / "docs" / "part-a" / "1.8.md").read_text()
    metrics = mnist_manifest(smoke_site, "1.8")["metrics"]
    for pair in (1, 2, 3, 4, 5):
        assert metrics[f"trivial_{pair}"] == int(max(metrics[f"real_{pair}_upright"], metrics[f"real_{pair}_view"]) >= 0.1)
    assert page.count("The pair **is trivial**") == sum(metrics[f"trivial_{pair}"] for pair in (1, 2, 3, 4, 5))
    assert page.count("The pair is not trivial") == 5 - sum(metrics[f"trivial_{pair}"] for pair in (1, 2, 3, 4, 5))


def test_the_inpainting_mask_is_drawn_in_colour_over_its_image(smoke_site):
    from PIL import Image

    for backend in ("tiny", "mnist"):
        figures = json.loads((smoke_site.root / "cache" / "1.7.2" / backend / "smoke" / "manifest.json").read_text())["figures"]
        mask = next(f for f in figures if f["name"].endswith(" mask"))
        pixels = Image.open(smoke_site.root / "cache" / "1.7.2" / backend / "smoke" / mask["file"]).convert("RGB")
        assert (255, 140, 0) in {pixels.getpixel((x, y)) for x in range(pixels.width) for y in range(pixels.height)}, backend
