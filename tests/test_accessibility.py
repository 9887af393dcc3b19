"""Accessibility audit of the chapters, read statically from the notebooks (nothing is run).

Every figure must be described for readers who cannot see it and be readable by readers who
cannot tell red from green:

* each code cell that draws a figure has, in its cell metadata, a short visible caption
  (``mystnb: figure: caption:``) and a description (``mystnb: image: alt:``) that becomes the
  ``alt`` attribute of the image on the website (without it a screen reader reads out the
  image's file name); no chapter shows a visible "Alt text:" paragraph instead;
* a cell that draws with matplotlib directly labels both axes and sets a title; a cell that
  draws only through a package helper relies on the helper, whose source must label both axes;
* colours are named from colour-blind-safe sets (``tab:`` colours, greys, black, white) and
  colour maps are perceptually uniform or the ``tab10`` qualitative map.

The failure messages name the chapter and the cell, so a gap can be found and fixed.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

import causalrec as cr

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]*_*.ipynb"))

# A call that makes a figure or puts marks on one (``optimizer.step()`` is not drawing).
FIGURE = re.compile(r"\bplt\.(?:subplots|subplot|figure)\(")
DRAWING = re.compile(
    r"\bplt\.(?:plot|bar|barh|hist|scatter|imshow|pie)\("
    r"|\.plot(?:\.\w+)?\("
    r"|\.(?:bar|barh|hist|scatter|imshow|matshow|semilogx|semilogy|loglog|errorbar|pcolormesh"
    r"|contourf?|boxplot|violinplot|pie|fill_between|stem)\("
)
# Package helpers that label their own axes (checked below from their source) ...
HELPERS = {
    "cr.plots.plot_long_tail": lambda: cr.plots.plot_long_tail,
    "cr.plots.plot_rate_by_bin": lambda: cr.plots.plot_rate_by_bin,
    "cr.plots.plot_model_comparison": lambda: cr.plots.plot_model_comparison,
    "cr.plots.plot_user_history": lambda: cr.plots.plot_user_history,
    "cr.plots.plot_effects": lambda: cr.plots.plot_effects,
    "cr.plots.plot_importance": lambda: cr.plots.plot_importance,
}
# ... and diagrams, which have no axes to label (the alt text still describes them).
DIAGRAMS = {"cr.plots.draw_graph": lambda: cr.plots.draw_graph}

SAFE_COLOUR = re.compile(r"^(?:tab:\w+|C\d|black|white|gr[ae]y|light(?:gr[ae]y)|0?\.\d+|[01](?:\.0)?|none)$")
SAFE_MAPS = {"tab10", "tab20", "viridis", "cividis", "plasma", "magma", "inferno", "Greys", "gray",
             "tableau-colorblind10"}


def _cells(chapter):
    return json.loads(chapter.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"])


def _code_without_comments_and_strings(text):
    text = re.sub(r"#[^\n]*", "", text)
    return re.sub(r"(\"\"\"|''')[\s\S]*?\1", "", text)


def _local_plotting_functions(chapter):
    """Names of functions a chapter defines whose body draws (a later call draws a figure too)."""
    names = set()
    for cell in _cells(chapter):
        if cell["cell_type"] != "code":
            continue
        code = _code_without_comments_and_strings(_source(cell))
        for match in re.finditer(r"^def (\w+)\(.*?(?=^\S|\Z)", code, re.M | re.S):
            if FIGURE.search(match.group(0)) or DRAWING.search(match.group(0)):
                names.add(match.group(1))
    return names


def figure_cells(chapter):
    """(index, source, markdown since the previous code cell) for each code cell that draws."""
    found, markdown = [], []
    local = _local_plotting_functions(chapter)
    for index, cell in enumerate(_cells(chapter)):
        text = _source(cell)
        if cell["cell_type"] == "markdown":
            markdown.append(text)
            continue
        code = _code_without_comments_and_strings(text)
        calls_local = any(re.search(rf"(?<![\w.]){name}\(", code) and not re.search(rf"def {name}\(", code)
                          for name in local)
        if (FIGURE.search(code) or DRAWING.search(code) or calls_local
                or any(f"{name}(" in code for name in (*HELPERS, *DIAGRAMS))):
            found.append((index, code, "\n".join(markdown)))
        markdown = []
    return found


def missing_caption(chapter):
    """Figure cells without a short visible caption (mystnb.figure.caption, 2 to 30 words)."""
    cells = _cells(chapter)
    return [f"{chapter.stem} cell {index}" for index, _, _ in figure_cells(chapter)
            if not 2 <= len(cells[index].get("metadata", {}).get("mystnb", {})
                            .get("figure", {}).get("caption", "").split()) <= 30]


def visible_alt_paragraphs(chapter):
    """Markdown cells that show an "Alt text:" paragraph to every reader."""
    return [f"{chapter.stem} cell {index}" for index, cell in enumerate(_cells(chapter))
            if cell["cell_type"] == "markdown" and "Alt text:" in _source(cell)]


def missing_image_alt(chapter):
    """Figure cells whose metadata gives the website's <img> no alt attribute (mystnb.image.alt)."""
    cells = _cells(chapter)
    missing = []
    for index, _, _ in figure_cells(chapter):
        alt = cells[index].get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
        if len(alt.split()) < 5:
            missing.append(f"{chapter.stem} cell {index}")
    return missing


def axis_gaps(chapter):
    """Figure cells that draw with matplotlib directly but do not set xlabel, ylabel and a title."""
    gaps = []
    for index, code, _ in figure_cells(chapter):
        direct = code
        for name in (*HELPERS, *DIAGRAMS):
            direct = direct.replace(f"{name}(", "helper(")
        if not DRAWING.search(direct):
            continue                         # marks drawn by helpers only
        missing = [word for word in ("xlabel", "ylabel", "title") if word not in direct]
        if missing:
            gaps.append(f"{chapter.stem} cell {index}: draws without setting {', '.join(missing)}")
    return gaps


def colour_gaps(chapter):
    gaps = []
    for index, cell in enumerate(_cells(chapter)):
        if cell["cell_type"] != "code":
            continue
        code = _code_without_comments_and_strings(_source(cell))
        for value in re.findall(r"\b(?:colou?r|facecolor|edgecolor|ecolor)\s*=\s*[\"']([^\"']+)[\"']", code):
            if not SAFE_COLOUR.match(value):
                gaps.append(f"{chapter.stem} cell {index}: colour {value!r} (use tab10 'tab:...' colours)")
        for group in re.findall(r"\bcolou?r\s*=\s*\[([^\]]*)\]", code):
            for value in re.findall(r"[\"']([^\"']+)[\"']", group):
                if not SAFE_COLOUR.match(value):
                    gaps.append(f"{chapter.stem} cell {index}: colour {value!r} (use tab10 'tab:...' colours)")
        maps = re.findall(r"cmap\s*=\s*[\"'](\w+?)(?:_r)?[\"']", code)
        maps += re.findall(r"(?:get_cmap|colormaps\.get_cmap)\(\s*[\"'](\w+?)(?:_r)?[\"']", code)
        maps += re.findall(r"\bplt\.cm\.(\w+?)(?:_r)?\b", code)
        maps += re.findall(r"\bcolormaps\[[\"'](\w+?)(?:_r)?[\"']\]", code)
        for name in maps:
            if name not in SAFE_MAPS:
                gaps.append(f"{chapter.stem} cell {index}: colour map {name!r} (use viridis, cividis or tab10)")
    return gaps


def test_the_audit_finds_figures_and_flags_what_is_missing(tmp_path):
    """The detector itself: a made-up chapter with one good and three bad figure cells."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# 99 Test\n"},
        {"cell_type": "code", "metadata": {}, "source": "optimizer.step()\nmodel.fit(x)\n", "outputs": []},
        {"cell_type": "markdown", "metadata": {}, "source": "Alt text: a line going up.\n"},
        {"cell_type": "code", "outputs": [],
         "metadata": {"mystnb": {"image": {"alt": "A line rising from left to right."},
                                 "figure": {"caption": "Distance over time."}}},
         "source": "fig, ax = plt.subplots()\nax.plot(x, y, color='tab:blue')\n"
                   "ax.set(xlabel='x (s)', ylabel='y (m)', title='t')\n"},
        {"cell_type": "markdown", "metadata": {}, "source": "A figure with no description.\n"},
        {"cell_type": "code", "metadata": {}, "outputs": [],
         "source": "ax = frame.plot.bar(color=['red', 'tab:green'])\nax.set_title('t')\n"},
        {"cell_type": "code", "metadata": {}, "outputs": [],
         "source": "ax.imshow(grid, cmap='jet')  # ax.set(xlabel=..., ylabel=...)\n"},
        {"cell_type": "markdown", "metadata": {}, "source": "Alt text: bars.\n"},
        {"cell_type": "code", "metadata": {}, "outputs": [],
         "source": "ax = cr.plots.plot_model_comparison(results, 'AUC')\n"},
    ]
    chapter = tmp_path / "99_test.ipynb"
    chapter.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))

    figures = figure_cells(chapter)
    assert [index for index, _, _ in figures] == [3, 5, 6, 8]
    assert missing_caption(chapter) == ["99_test cell 5", "99_test cell 6", "99_test cell 8"]
    assert visible_alt_paragraphs(chapter) == ["99_test cell 2", "99_test cell 7"]
    assert missing_image_alt(chapter) == ["99_test cell 5", "99_test cell 6", "99_test cell 8"]
    assert axis_gaps(chapter) == ["99_test cell 5: draws without setting xlabel, ylabel",
                                  "99_test cell 6: draws without setting xlabel, ylabel, title"]
    assert colour_gaps(chapter) == ["99_test cell 5: colour 'red' (use tab10 'tab:...' colours)",
                                    "99_test cell 6: colour map 'jet' (use viridis, cividis or tab10)"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_a_caption_and_no_visible_alt_paragraph(chapter):
    missing = missing_caption(chapter)
    assert not missing, ("figure cells without a short caption in their metadata "
                         "({'mystnb': {'figure': {'caption': '...'}}}): " + ", ".join(missing))
    visible = visible_alt_paragraphs(chapter)
    assert not visible, "visible 'Alt text:' paragraphs (put them in mystnb.image.alt): " + ", ".join(visible)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_image_has_an_alt_attribute_on_the_website(chapter):
    missing = missing_image_alt(chapter)
    assert not missing, ("figure cells without an alt text in their metadata "
                         "({'mystnb': {'image': {'alt': '...'}}}, at least five words): " + ", ".join(missing))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_labels_its_axes_and_has_a_title(chapter):
    gaps = axis_gaps(chapter)
    assert not gaps, "; ".join(gaps)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_figures_use_colour_blind_safe_colours(chapter):
    gaps = colour_gaps(chapter)
    assert not gaps, "; ".join(gaps)


@pytest.mark.parametrize("name", [*HELPERS], ids=str)
def test_the_helpers_the_audit_trusts_label_both_axes(name):
    source = inspect.getsource(HELPERS[name]())
    assert re.search(r"set_xlabel\(|xlabel\s*=", source), f"{name} does not set an x label"
    assert re.search(r"set_ylabel\(|ylabel\s*=", source), f"{name} does not set a y label"
