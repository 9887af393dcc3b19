"""Input checks and random-state handling used by every public function.

Each check raises :class:`ValueError` (or :class:`TypeError` for a wrong type)
with a message that names the offending argument, column, value or shape.
"""

from __future__ import annotations

import contextlib
import importlib.util
import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd


def check_random_state(random_state) -> np.random.Generator:
    """Turn ``None``, an int or a Generator into a :class:`numpy.random.Generator`.

    >>> check_random_state(0).integers(10)
    np.int64(8)
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, a non-negative int or a numpy Generator, "
        f"got {type(random_state).__name__}"
    )


def seed_from(random_state) -> int:
    """Draw a 32-bit integer seed from ``random_state`` (for torch and sklearn)."""
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool):
        check_random_state(random_state)
        return int(random_state)
    return int(check_random_state(random_state).integers(2**31 - 1))


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_fraction(value, name: str, *, low: float = 0.0, high: float = 1.0,
                   inclusive: tuple[bool, bool] = (True, True)) -> float:
    """Return ``value`` as a float in [low, high] (ends as ``inclusive`` says)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    lo_ok = value >= low if inclusive[0] else value > low
    hi_ok = value <= high if inclusive[1] else value < high
    if not (lo_ok and hi_ok):
        lb = "[" if inclusive[0] else "("
        rb = "]" if inclusive[1] else ")"
        raise ValueError(f"{name} must be in {lb}{low}, {high}{rb}, got {value}")
    return float(value)


def check_dataframe(df, name: str, required: Iterable[str] = (), *, allow_empty: bool = False) -> pd.DataFrame:
    """Check that ``df`` is a non-empty DataFrame holding the ``required`` columns."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing required column(s) {missing}; it has {list(df.columns)}"
        )
    if not allow_empty and len(df) == 0:
        raise ValueError(f"{name} is empty: it needs at least one row")
    return df


def check_numeric_column(df: pd.DataFrame, column: str, name: str, *, allow_nan: bool = False) -> None:
    """Raise if ``df[column]`` is not numeric or (unless allowed) holds NaN."""
    series = df[column]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        raise ValueError(f"column {column!r} of {name} must be numeric, got dtype {series.dtype}")
    if not allow_nan and series.isna().any():
        n = int(series.isna().sum())
        raise ValueError(f"column {column!r} of {name} holds {n} missing value(s) (NaN)")


def check_id_column(df: pd.DataFrame, column: str, name: str) -> None:
    """Raise if the ID column ``column`` holds NaN."""
    n = int(df[column].isna().sum())
    if n:
        raise ValueError(f"column {column!r} of {name} holds {n} missing ID(s) (NaN)")


def check_binary(values, name: str) -> np.ndarray:
    """Return ``values`` as an int array, or raise if anything is not 0 or 1."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be binary (0/1), got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        example = arr[bad][:3].tolist()
        raise ValueError(f"{name} must be binary (0/1); found other values such as {example}")
    return arr.astype(np.int8)


def check_finite_1d(values, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or raise if it is not 1-D, is empty or holds NaN/inf.

    >>> check_finite_1d([1, 2], "x")
    array([1., 2.])
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: it needs at least one value")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite value(s), the first at "
                         f"position {int(np.flatnonzero(bad)[0])}")
    return arr


SHOW = 5  # how many offending values an error message lists


def progress_bar(*args, **kwargs):
    """A ``tqdm`` bar: the notebook widget when ipywidgets is available, else the text bar.

    >>> list(progress_bar(range(3), disable=True))
    [0, 1, 2]
    """
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run torch on ``n_threads`` threads inside the block (None: leave it as it is)."""
    if n_threads is None:
        yield
        return
    import torch
    n = check_positive_int(n_threads, "n_threads")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
