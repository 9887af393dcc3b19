"""Self-checking exercises: immediate, friendly feedback that never shows the answer.

Each chapter's exercises register their checks in ``causalrec.bank.chNN``
(one module per chapter). A check receives the reader's answer and returns
whether it is right and, if not, what is off; :func:`check` prints the verdict
and a hint and returns a :class:`CheckResult` that is truthy when correct.

    >>> import causalrec as cr
    >>> result = cr.exercises.check("demo-sum", 3)
    Correct: demo-sum.
    >>> bool(result)
    True
    >>> bool(cr.exercises.check("demo-sum", 4))
    Not yet (demo-sum): the value 4 is off; expected something else. Hint: add one and two
    False
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["check", "register", "list_exercises", "CheckResult", "close_to"]


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


@dataclass(frozen=True)
class _Exercise:
    func: Callable[[Any], tuple[bool, str]]
    hint: str


_REGISTRY: dict[str, _Exercise] = {}
_LOADED = False


def register(name: str, hint: str):
    """Decorator: register ``func(answer) -> (ok, detail)`` as the check ``name``.

    ``detail`` says what is wrong without giving the answer away (for example
    "too large", "wrong shape (3,) -- expected one value per user").
    """
    def decorator(func):
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"exercise {name!r} is registered twice")
        _REGISTRY[name] = _Exercise(func, hint)
        return func
    return decorator


def _load_bank() -> None:
    global _LOADED
    if _LOADED:
        return
    from . import bank
    for module in pkgutil.iter_modules(bank.__path__):
        importlib.import_module(f"{bank.__name__}.{module.name}")
    _LOADED = True


def list_exercises() -> list[str]:
    """Names of every registered exercise, sorted."""
    _load_bank()
    return sorted(_REGISTRY)


def check(name: str, answer, *, quiet: bool = False) -> CheckResult:
    """Check ``answer`` for exercise ``name``; print the verdict and return it.

    Parameters
    ----------
    name : str
        The exercise's name, as given in the chapter (e.g. ``"ch01-long-tail"``).
    answer : object
        Whatever the exercise asks for.
    quiet : bool
        Do not print, only return the result.
    """
    _load_bank()
    if name not in _REGISTRY:
        close = [n for n in _REGISTRY if n.split("-")[0] == str(name).split("-")[0]]
        raise KeyError(f"no exercise named {name!r}; exercises of that chapter: {close or sorted(_REGISTRY)}")
    exercise = _REGISTRY[name]
    if answer is None or answer is Ellipsis:
        ok, detail = False, "no answer yet: replace the ... placeholder with your code"
    else:
        try:
            ok, detail = exercise.func(answer)
        except Exception as error:  # a malformed answer is feedback, not a crash
            ok, detail = False, f"your answer could not be checked ({type(error).__name__}: {error})"
    if ok:
        message = f"Correct: {name}."
    else:
        message = f"Not yet ({name}): {detail}. Hint: {exercise.hint}"
    if not quiet:
        print(message)
    return CheckResult(name, bool(ok), message)


def close_to(answer, expected, *, rtol: float = 1e-2, atol: float = 1e-6, what: str = "the value"):
    """A ready-made check body: is ``answer`` numerically close to ``expected``?

    Returns ``(ok, detail)``; the detail says "too large" / "too small" or names a
    shape mismatch, never the expected value itself.
    """
    a = np.asarray(answer, dtype=float)
    e = np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return False, f"{what} has shape {a.shape}, expected shape {e.shape}"
    if np.any(~np.isfinite(a)):
        return False, f"{what} holds NaN or infinite entries"
    if np.allclose(a, e, rtol=rtol, atol=atol):
        return True, ""
    if a.ndim == 0:
        direction = "too large" if float(a) > float(e) else "too small"
        return False, f"{what} {_fmt(a)} is {direction}"
    wrong = int(np.sum(~np.isclose(a, e, rtol=rtol, atol=atol)))
    return False, f"{wrong} of {a.size} entries of {what} are off"


def _fmt(x) -> str:
    x = float(x)
    return f"{x:.4g}" if math.isfinite(x) else str(x)


# ---------------------------------------------------------------------------------------------
# Student notebooks: the chapters with every solution removed
# ---------------------------------------------------------------------------------------------

SOLUTION_TAG = "solution"
STUB = "# Your code here: compute the answer and store it in `answer`.\nanswer = ...\n"


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def student_version(notebook):
    """Return a copy of ``notebook`` (an nbformat node) for students.

    Each cell tagged ``solution`` becomes the stub ``answer = ...``; the gated
    ``solution-start`` / ``solution-end`` markdown cells (which hold the written
    solution) and the hidden ``remove-cell`` assertions that follow a check are
    dropped; the check cells stay, so students get feedback from
    :func:`check`. Outputs are cleared.
    """
    import copy

    out = copy.deepcopy(notebook)
    cells = []
    for cell in out["cells"]:
        text = _source(cell)
        if cell["cell_type"] == "markdown" and ("{solution-start}" in text or "{solution-end}" in text):
            continue
        if cell["cell_type"] == "code" and "remove-cell" in _tags(cell) and "assert result" in text:
            continue
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if SOLUTION_TAG in _tags(cell):
                cell["source"] = STUB
                cell["metadata"]["tags"] = [t for t in _tags(cell) if t != SOLUTION_TAG] + ["exercise"]
        cells.append(cell)
    out["cells"] = cells
    return out


def write_student_notebooks(book_dir, out_dir) -> list:
    """Write the student version of every chapter with exercises into ``out_dir``.

    Returns the list of written paths. Chapters without a ``solution`` cell are skipped.
    """
    from pathlib import Path

    import nbformat

    book_dir, out_dir = Path(book_dir), Path(out_dir)
    chapters = sorted(book_dir.glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        raise FileNotFoundError(f"no chapters (NN_*.ipynb) in {book_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters:
        notebook = nbformat.read(path, as_version=4)
        if not any(SOLUTION_TAG in _tags(c) for c in notebook.cells):
            continue
        target = out_dir / path.name
        nbformat.write(student_version(notebook), target)
        written.append(target)
    return written


# ---------------------------------------------------------------------------------------------
# Helpers shared by the checks in causalrec.bank
# ---------------------------------------------------------------------------------------------

_DEFAULT_WORLD = None


def default_world():
    """The default world, loaded once per process for the checks that need it."""
    global _DEFAULT_WORLD
    if _DEFAULT_WORLD is None:
        from ..data.load import load_default

        _DEFAULT_WORLD = load_default()
    return _DEFAULT_WORLD


def as_scalar(answer, what: str) -> float:
    """``answer`` as a float, or a ValueError saying it must be a single number."""
    value = np.asarray(answer, dtype=float)
    if value.shape != ():
        raise ValueError(f"{what} must be a single number, got an array of shape {value.shape}")
    return float(value)
