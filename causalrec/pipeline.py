"""The article's flowchart made runnable: one config in, one report out.

:class:`Pipeline` has one method per step (:data:`STEPS`); only the causal path is evaluated on a
randomized slice. :class:`PipelineConfig` is the one config schema (also the CLI's, from its metadata).

>>> PipelineConfig(model="mf", epochs=2).k
10
>>> PipelineConfig(model="svd")
Traceback (most recent call last):
...
causalrec.pipeline.ConfigError: invalid config:
  model = 'svd' is not allowed; allowed values: 'mf', 'neumf', 'multimodal'
"""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

import causalrec as cr

from . import causal, metrics, prep, schema, uplift
from ._checks import check_dataframe, check_positive_int, check_random_state, progress_bar

__all__ = ["ConfigError", "PipelineConfig", "config_problems", "describe_rule", "BranchDecision", "Features",
           "PipelineReport", "Pipeline", "has_causal_information", "strip_causal_information",
           "observation_propensity", "evaluate_recommendations", "run_pipeline", "STEPS", "SOURCES", "LIKED"]

LIKED = "liked"  #: target derived from ratings: 1 when rating >= relevant_rating, NaN when unrated
PROPENSITY = "observation_propensity"  #: column of ``Pipeline.log_`` used by ``debias="ips"``
REAL_SOURCES = ("coat", "movielens")
SOURCES = ("default", "simulate", *REAL_SOURCES)
STEPS = ("data", "preprocessing", "branch", "features", "training", "importance", "prediction", "top-k", "evaluation")


class ConfigError(ValueError):
    """A config that cannot run; ``errors`` lists every problem (each names its key)."""
    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("invalid config:\n  " + "\n  ".join(self.errors))


def _opt(default, section: str, help: str, *, allowed=None, low=None, high=None, open_low=False, key=None):
    return field(default=default, metadata=dict(section=section, key=key, help=help, allowed=allowed,
                                                low=low, high=high, open_low=open_low))


@dataclass(frozen=True)
class PipelineConfig:
    """Every choice of a run, checked when created (all problems at once).

    ``debias="ips"`` weights the observed rows by ``1 / max(propensity, propensity_clip)`` (Schnabel
    et al., 2016). The ``data`` and ``effect`` fields are read by :mod:`causalrec.cli`.
    """

    source: str = _opt("default", "data", "the shipped world, a new simulated one, or Coat / MovieLens 100K files",
                       allowed=SOURCES)
    path: str | None = _opt(None, "data", "folder of the Coat or MovieLens files (else $CAUSALREC_COAT ...)")
    verify: bool = _opt(True, "data", "check the sha256 of the published Coat/MovieLens files")
    n_users: int = _opt(300, "data", "users of a simulated world", low=2, key="users")
    n_items: int = _opt(100, "data", "items of a simulated world", low=2, key="items")
    world_seed: int = _opt(0, "data", "seed of a simulated world", low=0, key="seed")
    organic_rate: float | None = _opt(None, "data", "organic buying of a simulated world (unset: 0.25; chapter 09b's "
                                      "lesson world: 0.6, causalrec.uplift.UPLIFT_WORLD)", low=0)
    strip_causal: bool = _opt(False, "data", "drop randomized slice, propensities, truth (the 'features' path)")
    model: str = _opt("mf", "train", "the network", allowed=("mf", "neumf", "multimodal"))
    loss: str = _opt("bce", "train", "training loss", allowed=("bce", "bpr", "softmax"))
    target: str = _opt(schema.CLICKED, "train", "the 0/1 outcome learned ('liked': rating >= relevant_rating)",
                       allowed=(schema.CLICKED, schema.PURCHASED, LIKED))
    debias: str = _opt("naive", "train", "'ips': observed rows weighted by 1 / propensity", allowed=("naive", "ips"))
    propensity_clip: float = _opt(0.05, "train", "lower bound on propensities (ips)", low=0, open_low=True, high=1)
    rank_by: str = _opt("score", "train", "'effect': lists ranked by the estimated effect of showing on purchase "
                        "(causalrec.uplift DR-learner on the model's score, true propensities)", allowed=("score", "effect"))
    epochs: int = _opt(5, "train", "passes over the training rows", low=1)
    batch_size: int = _opt(4096, "train", "rows per mini-batch", low=1)
    lr: float = _opt(0.01, "train", "Adam's learning rate", low=0, open_low=True)
    dim: int = _opt(32, "train", "embedding size", low=1)
    k: int = _opt(10, "evaluate", "length of each recommendation list", low=1)
    split: str = _opt("random", "evaluate", "how the log is split for held-out rows", allowed=("random", "temporal"))
    test_size: float = _opt(0.2, "evaluate", "share of the log held out", low=0, open_low=True, high=0.99)
    relevant_rating: int = _opt(4, "evaluate", "a rating at least this high counts as relevant", low=1, high=5)
    importance_rows: int = _opt(2000, "importance", "held-out rows of the permutation importance", low=1, key="rows")
    importance_repeats: int = _opt(3, "importance", "shuffles per input block", low=1, key="repeats")
    effect_method: str = _opt("weighting", "effect", "DoWhy estimator of exposure's effect on purchase",
                              allowed=("none", *causal.ESTIMATORS), key="method")
    random_state: int = _opt(0, "run", "seeds the split, training and importance shuffles", low=0, key="seed")
    n_threads: int = _opt(1, "run", "torch threads while training", low=1, key="threads")

    def __post_init__(self):
        for f in dataclasses.fields(self):  # TOML and JSON write 1 for 1.0
            value = getattr(self, f.name)
            if f.type == "float" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        if errors := config_problems(dataclasses.asdict(self)):
            raise ConfigError(errors)

    @classmethod
    def from_dict(cls, values: dict) -> PipelineConfig:
        """A config from ``{field: value}``; unknown keys are an error, not ignored."""
        known = [f.name for f in dataclasses.fields(cls)]
        if unknown := sorted(set(values) - set(known)):
            raise ConfigError([f"unknown config key(s) {', '.join(map(repr, unknown))}; "
                               f"allowed keys: {', '.join(known)}"])
        return cls(**values)

    to_dict = dataclasses.asdict


def describe_rule(kind: str, m: dict) -> str:
    """What a field accepts, from its type name and metadata (\"an integer >= 1\")."""
    if m["allowed"]:
        return "one of " + ", ".join(map(repr, m["allowed"]))
    rule = {"bool": "true or false", "int": "an integer", "float": "a number"}.get(kind, "a string")
    if m["low"] is not None:
        rule += f" {'>' if m['open_low'] else '>='} {m['low']:g}"
    return rule + (f" and <= {m['high']:g}" if m["high"] is not None else "")


_KINDS = {"bool": lambda v: isinstance(v, (bool, np.bool_)), "str": lambda v: isinstance(v, str),
          "int": lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)}
# Combinations a data source cannot support: (field, test of its value, key, allowed values, why).
_FITS = (("source", REAL_SOURCES.__contains__, "target", (LIKED,), "rating data log no clicks or purchases"),
         ("source", REAL_SOURCES.__contains__, "effect_method", ("none",), "no exposure column, no causal graph"),
         ("source", REAL_SOURCES.__contains__, "model", ("mf", "neumf"), "no item texts or images"),
         ("source", "movielens".__eq__, "debias", ("naive",), "no known propensities"),
         ("source", "coat".__eq__, "split", ("random",), "no days"),
         ("strip_causal", bool, "debias", ("naive",), "it removes the propensities"),
         ("source", REAL_SOURCES.__contains__, "rank_by", ("score",), "no exposure column, no propensities"),
         ("strip_causal", bool, "rank_by", ("score",), "it removes the propensities"),
         ("strip_causal", bool, "effect_method", ("none",), "it removes the causal graph"))


def config_problems(v: dict, label=str) -> list[str]:
    """Every problem of a config given as ``{field: value}``; ``label(field)`` names a key in messages
    (the CLI passes its TOML ``section.key``)."""
    errors = []
    for f in dataclasses.fields(PipelineConfig):
        value, m, name, kind = v[f.name], f.metadata, label(f.name), f.type.split(" ")[0]
        if value is None and "None" in f.type:
            continue
        if not _KINDS[kind](value):
            errors.append(f"{name} = {value!r} has the wrong type ({type(value).__name__}); "
                          f"expected {describe_rule(kind, m)}")
        elif m["allowed"] and value not in m["allowed"]:
            errors.append(f"{name} = {value!r} is not allowed; allowed values: {', '.join(map(repr, m['allowed']))}")
        elif kind in ("int", "float") and not (np.isfinite(value) and (m["high"] is None or value <= m["high"]) and (
                m["low"] is None or value > m["low"] or (value == m["low"] and not m["open_low"]))):
            errors.append(f"{name} = {value!r} is out of range; expected {describe_rule(kind, m)}")
    if errors:
        return errors
    for field_, test, key, allowed, why in _FITS:
        if test(v[field_]) and v[key] not in allowed:
            shown = json.dumps(v[field_]) if isinstance(v[field_], bool) else repr(v[field_])
            errors.append(f"{label(key)} = {v[key]!r} is not allowed with {label(field_)} = {shown} ({why}); "
                          f"allowed values: {', '.join(map(repr, allowed))}")
    if v["path"] is not None and v["source"] not in REAL_SOURCES:
        errors.append(f"{label('path')} is only used with {label('source')} = 'coat' or 'movielens'")
    elif v["path"] is not None and not Path(v["path"]).expanduser().is_dir():
        errors.append(f"{label('path')} = {v['path']!r} is not a folder")
    for key in ("n_users", "n_items", "world_seed", "organic_rate"):
        if v["source"] != "simulate" and v[key] != PipelineConfig.__dataclass_fields__[key].default:
            errors.append(f"{label(key)} is only used with {label('source')} = 'simulate'; remove it")
    return errors


def strip_causal_information(world):
    """A copy of ``world`` without randomized slice, propensities, truth or ``policy_score``.

    >>> logs = strip_causal_information(cr.simulate_shop(n_users=30, n_items=12, random_state=0))
    >>> has_causal_information(logs)[0], logs.randomized, logs.truth
    (False, None, None)
    """
    return dataclasses.replace(world, interactions=world.interactions.drop(columns=[schema.POLICY_SCORE],
                               errors="ignore"), randomized=None, truth=None, propensity=None)


def has_causal_information(world) -> tuple[bool, list[str]]:
    """The flowchart's branch: a randomized slice, known propensities (or a policy score) or a DAG?

    Returns whether any is present and a sentence per thing found (if none: per thing missing).

    >>> has_causal_information(cr.simulate_shop(n_users=30, n_items=12, random_state=0))[0]
    True
    """
    truth = world.truth
    propensity = world.propensity if world.propensity is not None else getattr(truth, "propensity", None)
    n_rand, n_prop = (0 if x is None else len(x) for x in (world.randomized, propensity))
    checks = [(n_rand > 0, "no randomized slice", f"a randomized slice of {n_rand:,} rows (exposure assigned at random)"),
              (propensity is not None, "no known propensities", f"known exposure propensities for {n_prop:,} logged rows"),
              (schema.POLICY_SCORE in world.interactions, None,
               "the logging policy's score, from which propensities can be modelled"),
              (bool(getattr(truth, "dag", None)), "no causal graph", "a causal graph (DAG) of how the data were generated")]
    found = [yes for present, _, yes in checks if present]
    return (True, found) if found else (False, [no for present, no, _ in checks if not present and no])


def observation_propensity(world, target: str = schema.CLICKED) -> np.ndarray:
    """The known probability that each logged row's ``target`` was observed (exposure for clicks
    and purchases, rating for ``"liked"``: the simulator's truth or Coat's shipped ones)."""
    truth = getattr(world, "truth", None)
    if truth is not None:
        p = truth.rating_propensity if target == LIKED else truth.propensity
    elif target == LIKED and getattr(world, "propensity", None) is not None:
        p = world.propensity
    else:
        what = "rating" if target == LIKED else "exposure"
        raise ValueError(f"debias='ips' needs the known {what} propensity of each logged row "
                         f"(target={target!r}); this data has none. Use debias='naive'")
    p = np.asarray(p, dtype=float)
    if p.shape != (len(world.interactions),) or not np.all((p > 0) & (p <= 1)):
        raise ValueError(f"the propensities must be {len(world.interactions)} values in (0, 1]")
    return p


def _ranking(prefix: str, lists: pd.DataFrame, relevant: pd.DataFrame, k: int) -> dict:
    lists = lists[lists[schema.USER].isin(relevant[schema.USER])]
    if lists.empty:
        return {}
    scores = metrics.evaluate_ranking(lists, relevant[[schema.USER, schema.ITEM]], k=k)
    return {f"{prefix}_{name.replace('_at_k', f'@{k}')}": float(value) for name, value in scores.items()
            if name != "n_users"}


def evaluate_recommendations(recs, world, *, k: int = 10, relevant_rating: int = 4, heldout=None,
                             candidates=None, target=None) -> dict:
    """The one evaluator of top-``k`` lists (``user_id, item_id``, ``rank`` or ``score``).

    ``randomized_*`` against the randomized slice (unbiased), ``heldout_*`` against ``heldout`` pairs
    (``relevant`` 0/1, else rating >= ``relevant_rating``, else all), ``logged_*`` from scored
    ``candidates`` with a 0/1 ``target``; ``coverage@k``, ``mean_popularity@k``, ``true_relevance*``.

    >>> world = cr.simulate_shop(n_users=40, n_items=20, random_state=0)
    >>> recs = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [3, 4, 5], "rank": [1, 2, 1]})
    >>> evaluate_recommendations(recs, world, k=2)["coverage@2"]
    0.15
    """
    check_positive_int(k, "k")
    n_users, n_items = len(world.users), len(world.items)
    for column, n in ((schema.USER, n_users), (schema.ITEM, n_items)):
        ids = recs[column].to_numpy()
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"recommendations hold {column} values outside 0..{n - 1} of this data: wrong data?")
    by_rank = schema.RANK in recs
    top = (recs.sort_values([schema.USER, schema.RANK if by_rank else schema.SCORE], ascending=[True, by_rank],
                            kind="stable").groupby(schema.USER, sort=False).head(k))
    result = {}
    if candidates is not None:
        y = candidates[target].to_numpy().astype(int)
        if len(np.unique(y)) == 2:
            result["logged_auc"] = metrics.auc(y, candidates[schema.SCORE].to_numpy())
        result.update(_ranking("logged", candidates, candidates[y == 1], k))
    if world.randomized is not None and len(world.randomized):
        randomized = world.randomized
        result.update(_ranking("randomized", top, randomized[randomized[schema.RATING] >= relevant_rating], k))
    if heldout is not None:
        relevant = (heldout[heldout["relevant"] == 1] if "relevant" in heldout else
                    heldout[heldout[schema.RATING] >= relevant_rating] if schema.RATING in heldout else heldout)
        result.update(_ranking("heldout", top, relevant, k))
    result[f"coverage@{k}"] = top[schema.ITEM].nunique() / n_items
    if schema.POPULARITY in world.items:
        popularity = world.items.set_index(schema.ITEM)[schema.POPULARITY]
        result[f"mean_popularity@{k}"] = popularity.reindex(top[schema.ITEM]).mean()
    if getattr(world, "truth", None) is not None and len(top):  # next to a random item and the k truly best
        result[f"true_relevance@{k}"] = world.truth.relevance_for(top[schema.USER], top[schema.ITEM]).mean()
        users = np.unique(top[schema.USER])
        every = world.truth.relevance_for(np.repeat(users, n_items), np.tile(np.arange(n_items), len(users)))
        every = np.sort(every.reshape(len(users), n_items), axis=1)
        result["true_relevance_random"], result[f"true_relevance_best@{k}"] = every.mean(), every[:, -k:].mean()
    return {name: float(value) for name, value in result.items()}


@dataclass(frozen=True)
class BranchDecision:
    """Which path of the flowchart a run took (``"causal"`` or ``"features"``), and why."""
    causal: bool
    reasons: tuple[str, ...]

    @property
    def path(self) -> str:
        return "causal" if self.causal else "features"

    def to_dict(self) -> dict:
        return {"causal": self.causal, "path": self.path, "reasons": list(self.reasons)}


#: Item content, None when absent: TF-IDF ``text``, its ``vocabulary``, standardized ``images``.
Features = NamedTuple("Features", [("text", Any), ("vocabulary", Any), ("images", Any)])


@dataclass
class PipelineReport:
    """What a run produced (``metrics``: see :func:`evaluate_recommendations`; ``timings``: per step)."""
    config: PipelineConfig
    data: dict
    cleaning: Any
    branch: BranchDecision
    metrics: dict
    recommendations: pd.DataFrame
    importance: pd.DataFrame
    timings: dict

    def to_dict(self) -> dict:  # plain JSON types only
        cleaning = {k: int(v) for k, v in dataclasses.asdict(self.cleaning).items() if isinstance(v, numbers.Integral)}
        return {"config": self.config.to_dict(), "data": dict(self.data), "cleaning": cleaning,
                "branch": self.branch.to_dict(), "metrics": dict(self.metrics), "timings": dict(self.timings),
                **{name: json.loads(getattr(self, name).to_json(orient="records"))
                   for name in ("recommendations", "importance")}}

    def __repr__(self) -> str:
        return f"PipelineReport(path={self.branch.path!r}, model={self.config.model!r}, metrics={self.metrics})"


def _step(name: str):  # time a Pipeline step into timings_[name]
    def decorator(method):
        @functools.wraps(method)
        def timed(self, *args, **kwargs):
            start, result = time.perf_counter(), method(self, *args, **kwargs)
            self.timings_[name] = time.perf_counter() - start
            return result
        return timed
    return decorator


class Pipeline:
    """The flowchart, one method per step (:data:`STEPS`), each timed; learned state ends in ``_``.

    >>> pipe = Pipeline(PipelineConfig(epochs=1), verbose=False)
    >>> pipe.load(cr.simulate_shop(n_users=30, n_items=12, random_state=0))["n_items"]
    12
    >>> pipe.decide_branch().path
    'causal'
    """

    def __init__(self, config: PipelineConfig | None = None, *, verbose: bool = True):
        if not isinstance(config, (PipelineConfig, type(None))):
            raise TypeError(f"config must be a PipelineConfig, got {type(config).__name__}")
        self.config, self.verbose, self.timings_ = config or PipelineConfig(), bool(verbose), {}

    def _require(self, attribute: str, step: str) -> Any:
        if not hasattr(self, attribute):
            raise RuntimeError(f"run the {step!r} step first (Pipeline.{step})")
        return getattr(self, attribute)

    @_step("data")
    def load(self, world) -> dict:
        """Step 1: check the input (derive ``liked``, attach propensities for ips); return its sizes."""
        c = self.config
        target = schema.RATING if c.target == LIKED else c.target  # "liked" is derived from the ratings
        log = check_dataframe(getattr(world, "interactions", None), "world.interactions",
                              [schema.USER, schema.ITEM, target])
        if c.target == LIKED:
            rating = log[schema.RATING]
            log = log.assign(**{LIKED: np.where(rating.isna(), np.nan, (rating >= c.relevant_rating).astype(float))})
        if c.debias == "ips":
            log = log.assign(**{PROPENSITY: observation_propensity(world, c.target)})
        if c.rank_by == "effect":  # the DR-learner needs P(exposed) of every logged row
            log = log.assign(exposure_propensity=observation_propensity(world, schema.PURCHASED))
        self.world_, self.log_ = world, log
        self.data_ = {"n_users": len(world.users), "n_items": len(world.items), "n_logged": len(log),
                      "n_randomized": 0 if world.randomized is None else len(world.randomized)}
        return self.data_

    @_step("preprocessing")
    def preprocess(self):
        """Step 2: clean the log (a :class:`~causalrec.prep.CleaningReport`), split it into ``train_``/``test_``."""
        world, c = self._require("world_", "load"), self.config
        clean, report = prep.clean_interactions(self.log_, known_users=world.users[schema.USER],
                                                known_items=world.items[schema.ITEM], require=(c.target,))
        if c.split == "temporal" and schema.DAY not in clean:
            raise ValueError("split='temporal' needs a 'day' column in the interactions")
        self.train_, self.test_ = (prep.temporal_split(clean, test_size=c.test_size) if c.split == "temporal" else
                                   prep.random_split(clean, test_size=c.test_size, random_state=c.random_state))
        self.clean_, self.cleaning_ = clean, report
        return clean, report

    @_step("branch")
    def decide_branch(self) -> BranchDecision:
        """Step 3: does the data carry causal information (:func:`has_causal_information`)?"""
        causal_info, reasons = has_causal_information(self._require("world_", "load"))
        self.branch_ = BranchDecision(causal_info, tuple(reasons))
        return self.branch_

    @_step("features")
    def extract_features(self) -> Features:
        """Step 4: TF-IDF vectors of the descriptions and standardized images, when the data has them."""
        world = self._require("world_", "load")
        text = vocabulary = images = None
        if schema.DESCRIPTION in world.items:
            vectorizer = prep.TextVectorizer(kind="tfidf").fit(world.items[schema.DESCRIPTION])
            text = vectorizer.transform(world.items[schema.DESCRIPTION])
            vocabulary = np.asarray(vectorizer.get_feature_names_out())
        if world.images is not None:
            images = prep.normalize_images(world.images).images
        if self.config.model == "multimodal" and text is None and images is None:
            raise ValueError("model='multimodal' needs item descriptions or images; this data has neither")
        self.features_ = Features(text=text, vocabulary=vocabulary, images=images)
        return self.features_

    @_step("training")
    def train(self):
        """Step 5: fit a :class:`~causalrec.Recommender` on ``train_`` (naive, or IPS-weighted)."""
        train, features = self._require("train_", "preprocess"), self._require("features_", "extract_features")
        world, c, content, weights = self.world_, self.config, {}, None
        if c.model == "multimodal":
            content = {"items": world.items, "images": world.images if features.images is not None else None,
                       "text": features.text}
        elif np.array_equal(world.items[schema.ITEM].to_numpy(), np.arange(len(world.items))):
            content = {"items": world.items[[schema.ITEM]]}  # the whole catalogue, seen in training or not
        if c.debias == "ips":
            if c.target != LIKED:  # clicks and purchases were observed only where the item was shown
                train = train[train[schema.EXPOSED] == 1]
            if train.empty:
                raise ValueError("debias='ips' left no observed training rows")
            weights = 1.0 / np.maximum(train[PROPENSITY].to_numpy(dtype=float), c.propensity_clip)
        model = cr.Recommender(c.model, dim=c.dim, loss=c.loss, epochs=c.epochs, batch_size=c.batch_size,
                               lr=c.lr, random_state=c.random_state, verbose=self.verbose, n_threads=c.n_threads)
        self.model_ = model.fit(train, target=c.target, sample_weight=weights, **content)
        return self.model_

    @_step("importance")
    def importance(self) -> pd.DataFrame:
        """Step 6: the drop in held-out AUC when each input block is shuffled (``attrs["baseline_auc"]``):
        what the *model* uses, not what causes a click (:func:`causalrec.explain.permutation_importance`)."""
        import torch
        model, c = self._require("model_", "train"), self.config
        rng, test = check_random_state(c.random_state), self.test_
        if len(test) > c.importance_rows:
            test = test.iloc[np.sort(rng.choice(len(test), c.importance_rows, replace=False))]
        net, head, items = model.model_, model.head_, test[schema.ITEM].to_numpy().astype(np.int64)
        blocks = {"user ID": test[schema.USER].to_numpy().astype(np.int64), "item ID": items}
        blocks.update({name: getattr(net, key)[items].detach().numpy() for key, name in
                       (("item_images", "image"), ("item_text", "text")) if getattr(net, key, None) is not None})

        def scores(x):  # the network's output with each block as given (explain shuffles one at a time)
            content = {key: torch.as_tensor(x[name]) for key, name in (("images", "image"), ("text", "text"))
                       if name in x}
            out = net(torch.as_tensor(x["user ID"]), torch.as_tensor(x["item ID"]), **content)
            return (out if head is None else getattr(out, head)).numpy()
        y = test[c.target].to_numpy().astype(int)
        if len(np.unique(y)) < 2:
            table, baseline = pd.DataFrame({"block": list(blocks), "auc_drop": np.nan, "auc_drop_std": np.nan}), np.nan
        else:
            result = cr.explain.permutation_importance(scores, blocks, y, n_repeats=c.importance_repeats,
                                                       random_state=rng)
            table = (pd.DataFrame({"block": list(result.blocks), "auc_drop": result.importances.mean(axis=1),
                                   "auc_drop_std": result.importances.std(axis=1)})
                     .sort_values("auc_drop", ascending=False, kind="stable").reset_index(drop=True))
            baseline = result.baseline_score
        table.attrs["baseline_auc"] = float(baseline)
        self.importance_ = table
        return table

    def _evaluation_pairs(self) -> pd.DataFrame:
        randomized = self.world_.randomized
        return randomized if self.branch_.causal and randomized is not None and len(randomized) else self.test_

    @_step("prediction")
    def predict(self) -> pd.DataFrame:
        """Step 7: the evaluation pairs (randomized slice on the causal path, else held-out rows) plus ``score``."""
        model, pairs = self._require("model_", "train"), self._evaluation_pairs()
        self.predictions_ = pairs.assign(score=model.predict(pairs[schema.USER], pairs[schema.ITEM]))
        return self.predictions_

    @_step("top-k")
    def recommend(self, users=None) -> pd.DataFrame:
        """Step 8: ``k`` items per user (default every user), leaving out every logged pair; with ``rank_by="effect"``
        by :func:`causalrec.uplift.effect_scorer` (features: the model's score, popularity, group)."""
        model, c = self._require("model_", "train"), self.config
        scorer = model.score_items if c.rank_by == "score" else uplift.effect_scorer(
            self.world_, self.train_, model.predict, self.train_["exposure_propensity"], random_state=c.random_state)
        self.scorer_ = scorer
        recs = cr.recommend(scorer, np.arange(model.n_users_) if users is None else users, model.n_items_,
                            k=self.config.k, seen=self.clean_[[schema.USER, schema.ITEM]])
        if users is None:
            self.recommendations_ = recs
        return recs

    @_step("evaluation")
    def evaluate(self) -> dict:
        """Step 9: :func:`evaluate_recommendations` of the lists; ``logged_*`` rank the held-out logged rows,
        ``randomized_*`` (causal path only) rank each user's randomized pairs by the model's score."""
        model, recs, c = self._require("model_", "train"), self._require("recommendations_", "recommend"), self.config
        u, i = self.test_[schema.USER].to_numpy(), self.test_[schema.ITEM].to_numpy()  # logged_*: ranked as the lists
        test = self.test_.assign(score=model.predict(u, i) if c.rank_by == "score" else
                                 self.scorer_(np.arange(model.n_users_))[u, i])
        result = evaluate_recommendations(recs, strip_causal_information(self.world_), k=c.k,
                                          candidates=test, target=c.target)
        pairs = self._evaluation_pairs()
        if pairs is not self.test_:
            scored = self.predictions_ if hasattr(self, "predictions_") else self.predict()
            relevant = (pairs[schema.RATING] >= c.relevant_rating).to_numpy().astype(int)
            if len(np.unique(relevant)) == 2:
                result["randomized_auc"] = metrics.auc(relevant, scored[schema.SCORE].to_numpy())
            result.update(_ranking("randomized", scored, scored[relevant == 1], c.k))
        if getattr(self.world_, "truth", None) is not None:  # purchases caused per listed item, in the simulator
            result[f"true_uplift@{c.k}"] = float(uplift.true_effect(self.world_, recs[schema.USER], recs[schema.ITEM],
                                                                     position=recs[schema.RANK]).mean())
        self.metrics_ = result
        return result

    def run(self, world) -> PipelineReport:
        """Every step in order; the :class:`PipelineReport`."""
        steps = [lambda: self.load(world), self.preprocess, self.decide_branch, self.extract_features,
                 self.train, self.importance, self.predict, self.recommend, self.evaluate]
        self.timings_ = {}
        with progress_bar(total=len(steps), desc="pipeline", unit="step", disable=not self.verbose) as bar:
            for name, step in zip(STEPS, steps):
                bar.set_postfix_str(name)
                step()
                bar.update(1)
        return PipelineReport(self.config, dict(self.data_), self.cleaning_, self.branch_, dict(self.metrics_),
                              self.recommendations_, self.importance_, dict(self.timings_))

    def explain(self, user: int, *, n: int = 3) -> pd.DataFrame:
        """Model-based reasons (not causes) for ``user``'s list: ``category_share`` among their positives,
        the ``n`` ``similar_past_items`` by TF-IDF cosine and their best ``content_similarity``."""
        recs, features = self._require("recommendations_", "recommend"), self._require("features_", "extract_features")
        items, mine, clean = self.world_.items.set_index(schema.ITEM), recs[recs[schema.USER] == user], self.clean_
        if mine.empty:
            raise ValueError(f"user={user!r} has no recommendations")
        positives = clean.loc[(clean[schema.USER] == user) & (clean[self.config.target] == 1), schema.ITEM].unique()
        table = mine[[schema.RANK, schema.ITEM, schema.SCORE]].reset_index(drop=True)
        for column in (schema.DESCRIPTION, schema.CATEGORY):
            if column in items:
                table[column] = items.loc[table[schema.ITEM], column].to_numpy()
        if schema.CATEGORY in items:
            shares = items.loc[positives, schema.CATEGORY].value_counts(normalize=True)
            table["category_share"] = table[schema.CATEGORY].map(shares).fillna(0.0).astype(float)
        if features.text is not None and len(positives):
            unit = features.text / (np.linalg.norm(features.text, axis=1, keepdims=True) + 1e-12)
            similarity = unit[table[schema.ITEM]] @ unit[positives].T  # (n recommended, n positives)
            order = np.argsort(-similarity, axis=1, kind="stable")[:, :n]
            table["similar_past_items"] = [positives[row].tolist() for row in order]
            table["content_similarity"] = similarity[np.arange(len(table)), order[:, 0]]
        return table


def run_pipeline(world, config: PipelineConfig | dict | None = None, *, verbose: bool = True) -> PipelineReport:
    """Every step on ``world``; the :class:`PipelineReport` (a dict config: :meth:`PipelineConfig.from_dict`)."""
    config = PipelineConfig.from_dict(config) if isinstance(config, dict) else config or PipelineConfig()
    return Pipeline(config, verbose=verbose).run(world)
