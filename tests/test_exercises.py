"""The self-checking exercises: feedback without the answer."""

import pytest

import causalrec as cr
from causalrec.exercises import close_to


def test_correct_and_incorrect_answers(capsys):
    assert cr.exercises.check("demo-sum", 3)
    assert capsys.readouterr().out.strip() == "Correct: demo-sum."
    result = cr.exercises.check("demo-sum", 4)
    assert not result
    out = capsys.readouterr().out
    assert "Not yet" in out and "Hint: add one and two" in out


def test_placeholder_and_broken_answers_are_feedback_not_crashes(capsys):
    assert not cr.exercises.check("demo-sum", ...)
    assert "replace the ..." in capsys.readouterr().out
    assert not cr.exercises.check("demo-sum", object(), quiet=True)


def test_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="demo-sum"):
        cr.exercises.check("demo-sun", 3)


def test_close_to_never_reveals_the_expected_value():
    ok, detail = close_to(0.5, 0.123456)
    assert not ok and "too large" in detail and "0.123" not in detail
    ok, detail = close_to([1, 2], [1, 2, 3])
    assert not ok and "shape" in detail
    assert close_to(0.1234, 0.1235, rtol=1e-2)[0]


def test_every_check_used_in_a_chapter_is_registered():
    import json
    import re
    from pathlib import Path

    names = set(cr.exercises.list_exercises())
    book = Path(__file__).resolve().parent.parent / "book"
    for notebook in sorted(book.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            for used in re.findall(r"exercises\.check\(\s*[\"']([^\"']+)", "".join(cell["source"])):
                assert used in names, f"{notebook.name} checks {used!r}, which is not registered"


STUDENT_CHAPTERS = [p for p in sorted((__import__("pathlib").Path(__file__).resolve().parent.parent / "book")
                                      .glob("[0-9][0-9]_*.ipynb"))
                    if '"solution"' in p.read_text(encoding="utf-8")]


def test_make_exercises_writes_solution_free_notebooks(tmp_path):
    import nbformat

    assert cr.cli.main(["exercises", "--book", "book", "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in STUDENT_CHAPTERS]
    for path, original_path in zip(written, STUDENT_CHAPTERS):
        student = nbformat.read(path, as_version=4)
        original = nbformat.read(original_path, as_version=4)
        solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
        stubs = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
        assert len(stubs) == len(solutions) >= 3
        assert all(c.source == cr.exercises.STUB for c in stubs)
        text = "\n".join(c.source for c in student.cells)
        assert "{solution-start}" not in text and "assert result" not in text
        for solution in solutions:
            assert solution.source not in text, f"{path.name} still shows a solution"
        checks = [c.source for c in original.cells if "exercises.check(" in c.source]
        assert checks == [c.source for c in student.cells if "exercises.check(" in c.source]


@pytest.mark.parametrize("chapter", STUDENT_CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_runs_to_its_first_check_which_fails_on_the_stub(chapter, tmp_path):
    """Execute the student version cell by cell up to the first check: it runs, and says 'Not yet'."""
    import nbformat
    from nbclient import NotebookClient

    student = cr.exercises.student_version(nbformat.read(chapter, as_version=4))
    first = next(i for i, c in enumerate(student.cells) if "exercises.check(" in c.source)
    student.cells = student.cells[: first + 1] + [nbformat.v4.new_code_cell("assert not result")]
    client = NotebookClient(student, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(chapter.parent)}})
    client.execute()
    shown = "".join(o.get("text", "") for o in student.cells[first].outputs)
    assert "Not yet" in shown and "replace the ... placeholder" in shown
