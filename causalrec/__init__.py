"""causalrec: causal inference for recommender systems with deep models.

The package behind the book. Light modules are imported here; the ones that
need torch or DoWhy are imported on first attribute access, so
``import causalrec`` stays fast and works without them.

>>> import causalrec as cr
>>> cr.schema.USER
'user_id'
"""

from __future__ import annotations

import importlib

from . import datasets, exercises, schema, simulate
from .datasets import load_default
from .simulate import simulate_shop

__version__ = "0.1.0"

_LAZY = {"preprocessing", "nn", "metrics", "recommend", "models", "training", "plotting",
         "propensity", "debias", "explain", "causal", "compress", "pipeline", "cli", "als"}

__all__ = ["datasets", "exercises", "schema", "simulate", "load_default", "simulate_shop", *sorted(_LAZY)]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'causalrec' has no attribute {name!r}")
