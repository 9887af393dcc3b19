"""The book: every chapter is well formed, and the site builds with zero warnings.

The chapters themselves run under ``pytest --nbval-lax`` (collected from ``book/``);
the build here does not execute them a second time.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]*_*.ipynb"))


def _toc_files():
    return re.findall(r"file:\s*(\S+)", (BOOK / "_toc.yml").read_text(encoding="utf-8"))


def _cells(notebook):
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"])


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = _toc_files()
    for name in listed:
        assert (BOOK / f"{name}.ipynb").exists() or (BOOK / f"{name}.md").exists(), name
    for chapter in CHAPTERS:
        assert chapter.stem in listed, f"{chapter.name} is not in book/_toc.yml"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_house_rules(chapter):
    cells = _cells(chapter)
    meta = json.loads(chapter.read_text(encoding="utf-8"))["metadata"]
    assert meta.get("kernelspec", {}).get("name") == "python3"
    assert cells[0]["cell_type"] == "markdown"
    assert re.match(rf"# {chapter.stem.split('_')[0]} \S", _source(cells[0])), "first cell: '# NN Title'"
    code = [c for c in cells if c["cell_type"] == "code"]
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "outputs must be stripped"
        text = _source(cell)
        assert "sys.path" not in text and "!pip" not in text and "%pip" not in text
    assert any("import causalrec as cr" in _source(c) for c in code)
    assert any(re.search(r"^\s*assert ", _source(c), re.M) for c in code), "assert the key numbers"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if not c.stem.startswith("00")], ids=lambda p: p.stem)
def test_chapter_has_three_self_checking_exercises(chapter):
    cells = _cells(chapter)
    text = [_source(c) for c in cells]
    exercises = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", "\n".join(text))
    assert len(exercises) >= 3, f"{chapter.name} has {len(exercises)} exercises"
    for label in exercises:
        start = next(i for i, t in enumerate(text) if re.search(rf"\{{solution-start\}} {label}\b", t))
        assert ":class: dropdown" in text[start], f"{label}: solution must be hidden by default"
        solution = cells[start + 1]
        assert solution["cell_type"] == "code" and "solution" in solution["metadata"].get("tags", [])
        assert "{solution-end}" in text[start + 2]
        assert "exercises.check(" in text[start + 3], f"{label}: a check cell follows the solution"
        hidden = cells[start + 4]
        assert "remove-cell" in hidden["metadata"].get("tags", []) and "assert" in text[start + 4]


def test_book_builds_without_warnings(tmp_path):
    config = (BOOK / "_config.yml").read_text(encoding="utf-8")
    config = re.sub(r"execute_notebooks:\s*\w+", "execute_notebooks: \"off\"", config)
    source = tmp_path / "book"
    shutil.copytree(BOOK, source, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    (source / "_config.yml").write_text(config, encoding="utf-8")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(source), "--warningiserror", "--keep-going"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = source / "_build" / "html"
    for name in _toc_files():
        assert (html / f"{name}.html").exists(), name
