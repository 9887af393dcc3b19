"""causalrec: causal inference for recommender systems with deep models.

The package behind the book. ``import causalrec as cr`` gives the names a chapter
uses (``cr.load_default``, ``cr.Recommender``, ``cr.top_k`` ...); the submodules
hold the detail. Modules that need torch or DoWhy load on first use, so
``import causalrec`` stays fast.

>>> import causalrec as cr
>>> cr.schema.USER
'user_id'
>>> cr.load_default().truth.ate > 0
True
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Submodules, lowest layer first: a module may import only the ones above it.
_MODULES = ("schema", "data", "prep", "metrics", "plots", "nn", "models", "train", "ranking",
            "recommenders", "als", "sequence", "propensity", "ope", "debias", "causal", "uplift", "explain",
            "serve", "pipeline", "exercises", "cli")

# The flat API: public name -> the module that defines it.
_API = {
    # data
    "World": "data.world", "Truth": "data.simulate",
    "simulate_shop": "data.simulate",
    "load_default": "data.load", "load_world": "data.load", "save_world": "data.load",
    "verify_checksums": "data.load", "load_coat": "data.load", "load_movielens_100k": "data.load",
    "coat_like": "data.load", "write_coat": "data.load", "all_pairs": "data.load",
    "DEFAULT_DATA_DIR": "data.load",
    # training and recommenders
    "fit_torch": "train",
    "TrainingData": "train", "train_model": "train", "Recommender": "recommenders",
    "PopularityRecommender": "recommenders", "RandomRecommender": "recommenders",
    "ContentBasedRecommender": "recommenders", "ItemKNNRecommender": "recommenders",
    "ALSMatrixFactorization": "als",
    # ranking
    "TopK": "ranking", "top_k": "ranking", "topk_frame": "ranking", "recommend": "ranking",
    "rerank_mmr": "ranking", "rerank_exposure": "ranking", "cold_start_split": "ranking",
    "first_interactions": "ranking", "fill_item_embeddings": "ranking", "fold_in_users": "ranking",
    # evaluation and causal analysis
    "evaluate_ranking": "metrics",
    "causal_model": "causal",
    "DebiasedRecommender": "debias", "SequentialRecommender": "sequence",
}

__all__ = [*_MODULES, *_API]


def __getattr__(name):
    if name in _API:
        module = importlib.import_module(f".{_API[name]}", __name__)
        value = getattr(module, name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'causalrec' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
