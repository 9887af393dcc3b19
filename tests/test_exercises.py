"""The self-checking exercises: feedback without the answer, and the student notebooks.

Every student notebook is checked structurally (valid notebook JSON, solutions gone, checks
kept); only the shortest chapter's is executed end to end (nbval already runs every chapter
with its solutions, and the hidden ``assert result`` cells there prove each check accepts them).
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

import causalrec as cr
from causalrec.exercises import close_to

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]*_*.ipynb"))
STUDENT_CHAPTERS = [p for p in CHAPTERS if '"solution"' in p.read_text(encoding="utf-8")]
SHORTEST = "15_formulas.ipynb"  # 6 s with solutions (benchmarks/results/book.json): the one executed


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _solutions():
    """{chapter name: [solution cell sources]}."""
    return {p.name: ["".join(c["source"]) for c in _cells(p) if "solution" in c["metadata"].get("tags", [])]
            for p in STUDENT_CHAPTERS}


def test_verdicts_and_feedback(capsys):
    assert cr.exercises.check("demo-sum", 3)
    assert capsys.readouterr().out.strip() == "Correct: demo-sum."
    result = cr.exercises.check("demo-sum", 4)
    out = capsys.readouterr().out
    assert not result and "Not yet" in out and "Hint: add one and two" in out
    assert "too" not in out, "a whole-number answer is never told too large or too small"
    assert not cr.exercises.check("demo-sum", object(), quiet=True), "a malformed answer is feedback"
    with pytest.raises(KeyError, match="demo-sum"):
        cr.exercises.check("demo-sun", 3)


def test_the_untouched_stub_never_passes_any_check():
    for name in cr.exercises.list_exercises():
        result = cr.exercises.check(name, ..., quiet=True)
        assert not result and "not answered yet" in result.message, name


def test_close_to_never_reveals_the_expected_value():
    ok, detail = close_to(0.5, 0.123456)
    assert not ok and "too large" in detail and "0.123" not in detail
    ok, detail = close_to(41, 43)
    assert not ok and "too" not in detail and "43" not in detail, "no direction for a whole-number target"
    assert not close_to([1, 2], [1, 2, 3])[0] and "shape" in close_to([1, 2], [1, 2, 3])[1]
    assert close_to(0.1234, 0.1235, rtol=1e-2)[0]


def test_hints_are_prose_not_the_solution_code():
    solutions = [line.strip() for sources in _solutions().values() for source in sources
                 for line in source.splitlines() if len(line.strip()) > 8]
    for name in cr.exercises.list_exercises():
        hint = cr.exercises._REGISTRY[name][1]
        assert not re.search(r"\w\(|\bcr\.|\bnp\.|torch\.|==|\w\[", hint), f"{name}: the hint shows code: {hint}"
        assert not any(line in hint for line in solutions), f"{name}: the hint holds a line of the solution"


def test_checks_and_chapters_agree():
    """Every check a chapter calls is registered, and every registered exercise is in a chapter."""
    registered = set(cr.exercises.list_exercises()) - {"demo-sum"}
    used = {name for p in CHAPTERS for c in _cells(p)
            for name in re.findall(r"exercises\.check\(\s*[\"']([^\"']+)", "".join(c["source"]))}
    assert used == registered


def test_student_notebooks_are_valid_without_solutions_and_keep_their_checks(tmp_path):
    assert cr.cli.main(["exercises", "--book", str(BOOK), "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in STUDENT_CHAPTERS]
    solutions = _solutions()
    for path, original_path in zip(written, STUDENT_CHAPTERS):
        student = nbformat.read(path, as_version=4)
        nbformat.validate(student)
        original = nbformat.read(original_path, as_version=4)
        stubs = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
        assert len(stubs) == len(solutions[path.name]) >= 3
        assert all(c.source == cr.exercises.STUB for c in stubs)
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
        text = "\n".join(c.source for c in student.cells)
        assert "{solution-start}" not in text and "assert result" not in text
        for solution in solutions[path.name]:
            assert solution not in text, f"{path.name} still shows a solution"
        checks = [c.source for c in original.cells if "exercises.check(" in c.source]
        assert checks == [c.source for c in student.cells if "exercises.check(" in c.source]


def test_the_shortest_student_notebook_runs_end_to_end_and_each_check_says_not_yet():
    from nbclient import NotebookClient

    chapter = BOOK / SHORTEST
    student = cr.exercises.student_version(nbformat.read(chapter, as_version=4))
    NotebookClient(student, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(BOOK)}}).execute()
    shown = ["".join(o.get("text", "") for o in c.outputs) for c in student.cells if "exercises.check(" in c.source]
    assert len(shown) >= 3 and all("Not yet" in s and "not answered yet" in s for s in shown)
