"""The one place for input checks (each error names the bad argument, column or value),
seeding, the progress bar and torch's thread count."""

from __future__ import annotations

import contextlib
import importlib.util
import numbers
import os

import numpy as np
import pandas as pd

SHOW = 5  # how many offending values an error message lists


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_random_state(random_state) -> np.random.Generator:
    """Turn ``None``, an int or a Generator into a :class:`numpy.random.Generator`."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)  # a Generator comes back as it is
    if _is_int(random_state):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(f"random_state must be None, a non-negative int or a numpy Generator, got {random_state!r}")


def seed_from(random_state) -> int:
    """An integer seed for torch and sklearn: the int itself, or one drawn from the Generator."""
    if _is_int(random_state):
        check_random_state(random_state)  # refuses a negative seed
        return int(random_state)
    return int(check_random_state(random_state).integers(2**31 - 1))


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_fraction(value, name: str, *, low: float = 0.0, high: float = 1.0,
                   inclusive: tuple[bool, bool] = (True, True)) -> float:
    """Return ``value`` as a float in [low, high] (each end closed as ``inclusive`` says)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not ((value >= low if inclusive[0] else value > low) and (value <= high if inclusive[1] else value < high)):
        interval = "[("[not inclusive[0]] + f"{low}, {high}" + "])"[not inclusive[1]]
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return float(value)


def check_memory(n_bytes: float, request: str) -> None:
    """Refuse up front a ``request`` whose estimated ``n_bytes`` exceed the machine's physical memory."""
    sysconf = getattr(os, "sysconf", None)  # None on Windows: numpy's MemoryError decides there
    total = sysconf("SC_PHYS_PAGES") * sysconf("SC_PAGE_SIZE") if sysconf else float("inf")
    if n_bytes > total:
        raise ValueError(f"{request} would need about {n_bytes / 2**30:.1f} GiB of memory, more than "
                         f"this machine's {total / 2**30:.1f} GiB; ask for a smaller size")


def check_dataframe(df, name: str, required=(), *, ids=(), allow_empty: bool = False) -> pd.DataFrame:
    """Check that ``df`` is a (non-empty) DataFrame holding the ID columns ``ids`` (each passing
    :func:`check_id_column`) and the ``required`` columns."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    if missing := [c for c in (*ids, *required) if c not in df.columns]:
        raise ValueError(f"{name} is missing required column(s) {missing}; it has {list(df.columns)}")
    if not allow_empty and len(df) == 0:
        raise ValueError(f"{name} is empty: it needs at least one row")
    for column in ids:
        check_id_column(df, column, name)
    return df


def check_numeric_column(df: pd.DataFrame, column: str, name: str, *, allow_nan: bool = False) -> None:
    """Raise if ``df[column]`` is not numeric or (unless allowed) holds NaN."""
    series = df[column]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        raise ValueError(f"column {column!r} of {name} must be numeric, got dtype {series.dtype}")
    if not allow_nan and series.isna().any():
        raise ValueError(f"column {column!r} of {name} holds {int(series.isna().sum())} missing value(s) (NaN)")


def check_id_column(df: pd.DataFrame, column: str, name: str) -> None:
    """The ID check: raise if ``df[column]`` holds NaN, booleans, fractions, or strings mixed with numbers."""
    s, what = df[column], f"column {column!r} of {name}"
    if s.isna().any():
        rows = s.index[s.isna().to_numpy()][:SHOW].tolist()
        raise ValueError(f"{what} holds {int(s.isna().sum())} missing ID(s) (NaN) at row(s) {rows}")
    if pd.api.types.is_bool_dtype(s):
        raise ValueError(f"{what} must hold integer or string IDs, got booleans")
    odd = (s % 1 != 0) if pd.api.types.is_float_dtype(s) else None
    if s.dtype == object:
        is_str = s.map(lambda v: isinstance(v, str))
        odd = ~is_str if is_str.any() else None
    if odd is not None and odd.any():
        raise ValueError(f"{what} must hold IDs of one kind (integers or strings), not {s[odd].head(SHOW).tolist()}")


def check_ids(values, name: str, n: int | None = None, kind: str = "", *, unique: bool = False,
              allow_empty: bool = True) -> np.ndarray:
    """``values`` (array, list or tensor) as 1-D int64 IDs in [0, n), or a ValueError naming ``name``
    and the bad IDs; ``kind`` (``"user"``/``"item"``) words an unknown ID as a model's cold start."""
    arr = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values)
    if arr.ndim != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or not (arr.size or allow_empty):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}1-D array of integer IDs, "
                         f"got shape {arr.shape}, dtype {arr.dtype}")
    if (bad := ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0)).any():
        raise ValueError(f"{name} must hold non-negative integer IDs; found {arr[bad][:SHOW].tolist()}")
    arr = arr.astype(np.int64)
    distinct, counts = np.unique(arr, return_counts=True) if unique else (arr, 1)
    if unique and (counts > 1).any():
        raise ValueError(f"{name} holds repeated IDs such as {distinct[counts > 1][:SHOW].tolist()}")
    if n is not None and arr.size and arr.max() >= n:
        outside = np.unique(arr[arr >= n])[:SHOW].tolist()
        raise ValueError(f"unknown {kind} ID(s) {outside} in {name}: the model knows {kind}s 0..{n - 1} (a new "
                         f"{kind} is a cold start, see causalrec.ranking)" if kind else
                         f"{name} holds ID(s) {outside} outside the catalogue [0, {n})")
    return arr


def check_binary(values, name: str) -> np.ndarray:
    """Return ``values`` as an int8 array, or raise if anything is not 0 or 1."""
    arr = np.asarray(values)
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be binary (0/1), got dtype {arr.dtype}")
    if (bad := ~np.isin(arr, (0, 1))).any():
        raise ValueError(f"{name} must be binary (0/1); found other values such as {arr[bad][:3].tolist()}")
    return arr.astype(np.int8)


def check_finite_1d(values, name: str) -> np.ndarray:
    """Return ``values`` as a non-empty 1-D float array, or raise if it holds NaN/inf."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if (bad := np.flatnonzero(~np.isfinite(arr))).size:
        raise ValueError(f"{name} holds {bad.size} NaN or infinite value(s), the first at position {bad[0]}")
    return arr


def progress_bar(*args, **kwargs):
    """A ``tqdm`` bar: the notebook widget when ipywidgets is installed, else the text bar.
    >>> list(progress_bar(range(3), disable=True))
    [0, 1, 2]
    """
    module = "tqdm.auto" if importlib.util.find_spec("ipywidgets") is not None else "tqdm.std"
    return importlib.import_module(module).tqdm(*args, **kwargs)


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run torch on ``n_threads`` threads inside the block (None: leave it as it is)."""
    if n_threads is None:
        yield
        return
    import torch
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(check_positive_int(n_threads, "n_threads"))
        yield
    finally:
        torch.set_num_threads(before)
