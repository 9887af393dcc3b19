"""Self-checking exercises: immediate feedback that never shows the answer.

Each chapter's checks live in ``causalrec.exercises.bank.chNN``. :func:`check`
prints the verdict and a hint (prose, never the solution's code) and returns a
:class:`CheckResult`, truthy when correct. The untouched stub ``answer = ...``
is "not answered yet"; a whole-number answer is never told "too large".

    >>> import causalrec as cr
    >>> result = cr.exercises.check("demo-sum", 3)
    Correct: demo-sum.
    >>> bool(cr.exercises.check("demo-sum", 4))
    Not yet (demo-sum): the sum 4 is not right. Hint: add one and two
    False
"""

from __future__ import annotations

import copy
import functools
import importlib
import numbers
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nbformat
import numpy as np

from ..data.load import load_default
from . import bank

__all__ = ["check", "register", "expect", "list_exercises", "CheckResult", "close_to", "whole_number",
           "one_letter", "as_scalar", "default_world", "student_version", "write_student_notebooks", "STUB"]


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check: ``ok`` and a message (never the solution)."""

    name: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:  # keep notebook output to the printed message
        return f"CheckResult(name={self.name!r}, ok={self.ok})"


_REGISTRY: dict[str, tuple[Callable[[Any], tuple[bool, str]], str]] = {}


def register(name: str, hint: str):
    """Decorator: register ``func(answer) -> (ok, detail)`` as the check ``name``; ``detail`` never gives the answer."""
    def decorator(func):
        if name in _REGISTRY and _REGISTRY[name][0] is not func:
            raise ValueError(f"exercise {name!r} is registered twice")
        _REGISTRY[name] = (func, hint)
        return func
    return decorator


def expect(name: str, hint: str, *, what: str = "the value", rtol: float = 1e-3, atol: float = 1e-6,
           low: float | None = None, high: float | None = None):
    """Decorator: ``func()`` computes the expected answer (once); register the check comparing to it: exact
    for a whole number, else :func:`close_to`; ``low``/``high`` bound a plausible scalar answer."""
    def decorator(func):
        expected = functools.lru_cache(maxsize=1)(func)

        def compare(answer):
            target = expected()
            if isinstance(target, numbers.Integral):
                value = whole_number(answer, what)
                return value == target, f"{what} {value} is not right"
            value = np.asarray(answer, dtype=float)
            if value.shape == () and not ((low is None or value >= low) and (high is None or value <= high)):
                return False, f"{what} lies in [{low}, {high}], got {float(value):.4g}"
            return close_to(value, target, rtol=rtol, atol=atol, what=what)
        register(name, hint)(compare)
        return func
    return decorator


def _load_bank(chapter: str | None = None) -> None:
    """Import the bank module of one chapter (``"ch07"``: a broken chapter breaks only its own checks), or all."""
    names = [m.name for m in pkgutil.iter_modules(bank.__path__)]
    for name in names if chapter not in names else [chapter]:
        importlib.import_module(f"{bank.__name__}.{name}")


def list_exercises() -> list[str]:
    """Names of every registered exercise, sorted."""
    _load_bank()
    return sorted(_REGISTRY)


def check(name: str, answer, *, quiet: bool = False) -> CheckResult:
    """Check ``answer`` for exercise ``name`` (e.g. ``"ch01-long-tail"``); print the verdict unless ``quiet``."""
    _load_bank(str(name).split("-")[0])
    if name not in _REGISTRY:
        close = [n for n in _REGISTRY if n.split("-")[0] == str(name).split("-")[0]]
        raise KeyError(f"no exercise named {name!r}; exercises of that chapter: {close or sorted(_REGISTRY)}")
    func, hint = _REGISTRY[name]
    if answer is None or answer is Ellipsis:
        ok, detail = False, "not answered yet: replace the `...` of `answer = ...` with your answer"
    else:
        try:
            ok, detail = func(answer)
        except Exception as error:  # a malformed answer is feedback, not a crash
            ok, detail = False, f"your answer could not be checked ({type(error).__name__}: {error})"
    message = f"Correct: {name}." if ok else f"Not yet ({name}): {detail}. Hint: {hint}"
    if not quiet:
        print(message)
    return CheckResult(name, bool(ok), message)


def close_to(answer, expected, *, rtol: float = 1e-2, atol: float = 1e-6, what: str = "the value"):
    """``(ok, detail)``: is ``answer`` close to ``expected``? The detail names a shape mismatch or says "too
    large"/"too small" (not for a whole-number target, found by bisecting); never the expected value.

    >>> close_to(0.5, 0.25, what="the share")
    (False, 'the share 0.5 is too large')
    """
    a, e = np.asarray(answer, dtype=float), np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return False, f"{what} has shape {a.shape}, expected shape {e.shape}"
    if not np.isfinite(a).all():
        return False, f"{what} holds NaN or infinite entries"
    if np.allclose(a, e, rtol=rtol, atol=atol):
        return True, ""
    if a.ndim == 0:
        off = "not right" if float(e).is_integer() else "too large" if float(a) > float(e) else "too small"
        return False, f"{what} {float(a):.4g} is {off}"
    return False, f"{int(np.sum(~np.isclose(a, e, rtol=rtol, atol=atol)))} of {a.size} entries of {what} are off"


def whole_number(answer, what: str) -> int:  # answer as an int, or a ValueError naming `what`
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, numbers.Integral):
        raise ValueError(f"{what} should be a whole number, got {answer!r}")
    return int(answer)


def one_letter(correct: str, letters: str = "abcd"):  # a check of a one-letter choice, case and spaces ignored
    def check(answer):
        letter = str(answer).strip().lower()
        if len(letter) != 1 or letter not in letters:
            return False, f"answer with one letter from {letters[0]} to {letters[-1]}, got {answer!r}"
        return letter == correct, f"({letter}) is not the right reading"
    return check


def as_scalar(answer, what: str) -> float:  # answer as a float, or a ValueError naming `what`
    value = np.asarray(answer, dtype=float)
    if value.shape != ():
        raise ValueError(f"{what} must be a single number, got an array of shape {value.shape}")
    return float(value)


@functools.lru_cache(maxsize=1)
def default_world():
    """The default world, loaded once per process for the checks that need it."""
    return load_default()


# ------------------------------------------------------------ student notebooks: solutions removed
SOLUTION_TAG = "solution"
STUB = "# Your code here: compute the answer and store it in `answer`.\nanswer = ...\n"


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def student_version(notebook):
    """A copy of ``notebook`` (nbformat) for students: each ``solution`` cell becomes :data:`STUB`, the
    written solutions (``solution-start``/``-end`` cells) and hidden ``assert result`` cells are dropped,
    the checks stay; outputs cleared."""
    out = copy.deepcopy(notebook)
    cells = []
    for cell in out["cells"]:
        text, code = "".join(cell["source"]), cell["cell_type"] == "code"
        if (not code and ("{solution-start}" in text or "{solution-end}" in text)
                or code and "remove-cell" in _tags(cell) and "assert result" in text):
            continue
        if code:
            cell["outputs"], cell["execution_count"] = [], None
            if SOLUTION_TAG in _tags(cell):
                cell["source"] = STUB
                cell["metadata"]["tags"] = [t for t in _tags(cell) if t != SOLUTION_TAG] + ["exercise"]
        cells.append(cell)
    out["cells"] = cells
    return out


def write_student_notebooks(book_dir, out_dir) -> list:
    """Write the student version of every chapter with a ``solution`` cell into ``out_dir``; the paths."""
    book_dir, out_dir = Path(book_dir), Path(out_dir)
    chapters = sorted(book_dir.glob("[0-9][0-9]*_*.ipynb"))
    if not chapters:
        raise FileNotFoundError(f"no chapters (NN_*.ipynb) in {book_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters:
        notebook = nbformat.read(path, as_version=4)
        if any(SOLUTION_TAG in _tags(c) for c in notebook.cells):
            written.append(out_dir / path.name)
            nbformat.write(student_version(notebook), written[-1])
    return written
