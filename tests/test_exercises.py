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
