"""The article's flowchart made runnable: one config in, one report out.

Data -> preprocessing -> *does the data carry causal information?* -> features
-> training -> importance -> prediction and top-k -> evaluation. :class:`Pipeline`
has one method per step (:data:`STEPS`); :func:`run_pipeline` runs them all.
Both paths of the branch train the same model; what changes is what we may
claim: only the causal path is evaluated on a randomized slice.

:class:`PipelineConfig` is the one config schema: each field's metadata gives
its TOML section and key, allowed values and help, and ``python -m causalrec
run`` (:mod:`causalrec.cli`) validates, lists (``--help``) and writes its
TOML from it.

>>> PipelineConfig(model="mf", epochs=2).k
10
>>> PipelineConfig.from_toml({"train": {"model": "svd"}})
Traceback (most recent call last):
...
causalrec.pipeline.ConfigError: invalid config:
  train.model = 'svd' is not allowed; allowed values: 'mf', 'neumf', 'multimodal'
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import causalrec as cr

from . import causal, metrics, prep, schema
from ._checks import check_random_state, progress_bar

__all__ = ["ConfigError", "PipelineConfig", "BranchDecision", "Features", "PipelineReport", "Pipeline",
           "load_world", "has_causal_information", "strip_causal_information", "observation_propensity",
           "exposure_effect", "evaluate_recommendations", "run_pipeline", "STEPS", "LIKED", "PROPENSITY"]

LIKED = "liked"  #: target derived from ratings: 1 when rating >= relevant_rating, NaN when unrated
PROPENSITY = "observation_propensity"  #: column of ``Pipeline.log_`` used by ``debias="ips"``
REAL_SOURCES = ("coat", "movielens")
SOURCES = ("default", "simulate", *REAL_SOURCES)
STEPS = ("data", "preprocessing", "branch", "features", "training", "importance", "prediction",
         "top-k", "evaluation")


class ConfigError(ValueError):
    """A config that cannot run; ``errors`` lists every problem (each names its key)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("invalid config:\n  " + "\n  ".join(self.errors))


def _opt(default, section: str, help: str, *, allowed=None, low=None, high=None, open_low=False, key=None):
    """A config field: its TOML ``[section] key``, help text, allowed values or range."""
    return field(default=default, metadata=dict(section=section, key=key, help=help, allowed=allowed,
                                                low=low, high=high, open_low=open_low))


@dataclass(frozen=True)
class PipelineConfig:
    """Every choice of a run, checked when created (all problems reported at once).

    The fields, their TOML keys and allowed values: ``PipelineConfig.describe()``.
    ``debias="ips"`` trains only on rows whose outcome was observed, weighted by
    ``1 / max(propensity, propensity_clip)`` (self-normalised per batch, Schnabel
    et al., 2016). The ``data`` and ``effect`` fields are read by
    :func:`load_world` and the CLI; :class:`Pipeline` uses the others.

    >>> PipelineConfig(test_size=1.5)
    Traceback (most recent call last):
    ...
    causalrec.pipeline.ConfigError: invalid config:
      test_size = 1.5 is out of range; expected a number > 0 and <= 0.99
    """

    source: str = _opt("default", "data", "the shipped default world, a new simulated one, or Coat / "
                       "MovieLens 100K files", allowed=SOURCES)
    path: str | None = _opt(None, "data", "folder of the Coat or MovieLens files (default: "
                            "$CAUSALREC_COAT / $CAUSALREC_MOVIELENS or data/external/)")
    verify: bool = _opt(True, "data", "check the sha256 of the published Coat/MovieLens files")
    n_users: int = _opt(300, "data", "users of a simulated world", low=2, key="users")
    n_items: int = _opt(100, "data", "items of a simulated world", low=2, key="items")
    world_seed: int = _opt(0, "data", "seed of a simulated world", low=0, key="seed")
    strip_causal: bool = _opt(False, "data", "drop the randomized slice, propensities, truth and policy "
                              "score (the flowchart's 'features' path)")
    model: str = _opt("mf", "train", "the network", allowed=("mf", "neumf", "multimodal"))
    loss: str = _opt("bce", "train", "training loss", allowed=("bce", "bpr", "softmax"))
    target: str = _opt(schema.CLICKED, "train", "the 0/1 outcome learned ('liked': rating >= "
                       "relevant_rating)", allowed=(schema.CLICKED, schema.PURCHASED, LIKED))
    debias: str = _opt("naive", "train", "'naive': every logged row alike; 'ips': observed rows weighted "
                       "by one over their known propensity", allowed=("naive", "ips"))
    propensity_clip: float = _opt(0.05, "train", "lower bound on propensities (ips)", low=0, open_low=True, high=1)
    epochs: int = _opt(5, "train", "passes over the training rows", low=1)
    batch_size: int = _opt(4096, "train", "rows per mini-batch", low=1)
    lr: float = _opt(0.01, "train", "Adam's learning rate", low=0, open_low=True)
    dim: int = _opt(32, "train", "embedding size", low=1)
    k: int = _opt(10, "evaluate", "length of each recommendation list", low=1)
    split: str = _opt("random", "evaluate", "how the log is split into training and held-out rows",
                      allowed=("random", "temporal"))
    test_size: float = _opt(0.2, "evaluate", "share of the log held out", low=0, open_low=True, high=0.99)
    relevant_rating: int = _opt(4, "evaluate", "a rating at least this high counts as relevant", low=1, high=5)
    importance_rows: int = _opt(2000, "importance", "held-out rows used by the permutation importance",
                                low=1, key="rows")
    importance_repeats: int = _opt(3, "importance", "shuffles per input block", low=1, key="repeats")
    effect_method: str = _opt("weighting", "effect", "DoWhy estimator of the effect of exposure on purchase, "
                              "or 'none'", allowed=("none", *causal.ESTIMATORS), key="method")
    random_state: int = _opt(0, "run", "seeds the split, the training and the importance shuffles",
                             low=0, key="seed")
    n_threads: int = _opt(1, "run", "torch threads while training", low=1, key="threads")

    def __post_init__(self):
        for f in dataclasses.fields(self):  # TOML and JSON write 1 for 1.0
            value = getattr(self, f.name)
            if f.type == "float" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        errors = _problems(dataclasses.asdict(self), lambda name: name)
        if errors:
            raise ConfigError(errors)

    @staticmethod
    def toml_key(f) -> str:
        return f"{f.metadata['section']}.{f.metadata['key'] or f.name}"

    @classmethod
    def from_dict(cls, values: dict) -> PipelineConfig:
        """A config from ``{field: value}``; unknown keys are an error, not ignored."""
        if not isinstance(values, dict):
            raise TypeError(f"values must be a dict, got {type(values).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError([f"unknown config key(s) {', '.join(map(repr, unknown))}; allowed keys: "
                               f"{', '.join(known)}"])
        return cls(**values)

    @classmethod
    def from_toml(cls, raw: dict, *, sections=None) -> PipelineConfig:
        """A config from parsed TOML ``{section: {key: value}}``; errors name ``section.key``.

        ``sections``: read only these sections (the others take their defaults).
        """
        if not isinstance(raw, dict):
            raise ConfigError([f"the config must be a table of sections, got {type(raw).__name__}"])
        fields = {cls.toml_key(f): f.name for f in dataclasses.fields(cls)}
        allowed = dict.fromkeys(key.split(".")[0] for key in fields)
        errors, values = [], {}
        for section, table in raw.items():
            if sections is not None and section not in sections:
                continue
            if section not in allowed:
                errors.append(f"unknown section [{section}]; allowed sections: {', '.join(allowed)}")
            elif not isinstance(table, dict):
                errors.append(f"[{section}] must be a table of keys, got {table!r}")
            else:
                for key, value in table.items():
                    if f"{section}.{key}" in fields:
                        values[fields[f"{section}.{key}"]] = value
                    else:
                        keys = [k.split(".")[1] for k in fields if k.startswith(section + ".")]
                        errors.append(f"unknown key {section}.{key}; allowed keys in [{section}]: {', '.join(keys)}")
        if sections is not None:  # the keys not read take values that fit the data
            if values.get("source") in REAL_SOURCES:
                values.setdefault("target", LIKED)
            if values.get("source") in REAL_SOURCES or values.get("strip_causal"):
                values.setdefault("effect_method", "none")
        if not errors:
            defaults = {f.name: f.default for f in dataclasses.fields(cls)}
            names = {name: key for key, name in fields.items()}
            errors = _problems({**defaults, **values}, names.get)
        if errors:
            raise ConfigError(errors)
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """TOML text that :meth:`from_toml` reads back equal (keys the data source ignores left out)."""
        unused = {"path", "verify"} if self.source not in REAL_SOURCES else set()
        unused |= {"n_users", "n_items", "world_seed"} if self.source != "simulate" else set()
        lines, section = [], None
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in unused or value is None:
                continue
            if f.metadata["section"] != section:
                section = f.metadata["section"]
                lines += ["", f"[{section}]"] if lines else [f"[{section}]"]
            lines.append(f"{f.metadata['key'] or f.name} = {json.dumps(value)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def describe(cls) -> str:
        """Every TOML key with its rule, default and meaning (the CLI's ``run --help``)."""
        lines = []
        for f in dataclasses.fields(cls):
            default = "unset" if f.default is None else json.dumps(f.default)
            lines.append(f"  {cls.toml_key(f)}: {_rule(f.type, f.metadata)}; default {default}. {f.metadata['help']}")
        return "\n".join(lines)


def _rule(kind: str, m: dict) -> str:
    if m["allowed"]:
        return "one of " + ", ".join(map(repr, m["allowed"]))
    rule = {"bool": "true or false", "int": "an integer", "float": "a number"}.get(kind, "a string")
    if m["low"] is not None:
        rule += f" {'>' if m['open_low'] else '>='} {m['low']:g}"
    return rule + (f" and <= {m['high']:g}" if m["high"] is not None else "")


def _problems(values: dict, label) -> list[str]:
    """Every problem of a config given as ``{field: value}``; ``label(field)`` names a key in messages."""
    errors = []
    for f in dataclasses.fields(PipelineConfig):
        value, m, name = values[f.name], f.metadata, label(f.name)
        kind = f.type.split(" ")[0]
        if value is None and "None" in f.type:
            continue
        ok = {"bool": lambda v: isinstance(v, (bool, np.bool_)),
              "int": lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
              "str": lambda v: isinstance(v, str)}[kind](value)
        if not ok:
            errors.append(f"{name} = {value!r} has the wrong type ({type(value).__name__}); expected "
                          f"{_rule(kind, m)}")
        elif m["allowed"] and value not in m["allowed"]:
            errors.append(f"{name} = {value!r} is not allowed; allowed values: {', '.join(map(repr, m['allowed']))}")
        elif kind in ("int", "float") and not (np.isfinite(value)
                                               and (m["low"] is None or value > m["low"]
                                                    or (value == m["low"] and not m["open_low"]))
                                               and (m["high"] is None or value <= m["high"])):
            errors.append(f"{name} = {value!r} is out of range; expected {_rule(kind, m)}")
    if errors:
        return errors
    v, source = values, values["source"]

    def refuse(key, reason, allowed):
        errors.append(f"{label(key)} = {v[key]!r} is not allowed {reason}; allowed values: {allowed}")

    if source in REAL_SOURCES:
        with_source = f"with {label('source')} = {source!r}"
        if v["target"] != LIKED:
            refuse("target", f"{with_source} (rating data log no clicks or purchases)", repr(LIKED))
        if v["effect_method"] != "none":
            refuse("effect_method", f"{with_source} (no exposure column and no causal graph)", "'none'")
        if v["model"] == "multimodal":
            refuse("model", f"{with_source} (no item texts or images)", "'mf', 'neumf'")
        if source == "movielens" and v["debias"] != "naive":
            refuse("debias", f"{with_source} (no known propensities)", "'naive'")
        if source == "coat" and v["split"] == "temporal":
            refuse("split", f"{with_source} (no days)", "'random'")
        if v["path"] is not None and not Path(v["path"]).expanduser().is_dir():
            errors.append(f"{label('path')} = {v['path']!r} is not a folder")
    elif v["path"] is not None:
        errors.append(f"{label('path')} is only used with {label('source')} = 'coat' or 'movielens', not {source!r}")
    if source != "simulate":
        defaults = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}
        for key in ("n_users", "n_items", "world_seed"):
            if v[key] != defaults[key]:
                errors.append(f"{label(key)} is only used with {label('source')} = 'simulate'; remove it")
    if v["strip_causal"]:
        if v["debias"] != "naive":
            refuse("debias", f"with {label('strip_causal')} = true (it removes the propensities)", "'naive'")
        if v["effect_method"] != "none":
            refuse("effect_method", f"with {label('strip_causal')} = true (it removes the causal graph)", "'none'")
    return errors


def load_world(config: PipelineConfig):
    """The world ``config.source`` names (stripped of causal information if ``config.strip_causal``).

    >>> load_world(PipelineConfig(source="simulate", n_users=30, n_items=12))  # doctest: +ELLIPSIS
    World('shop', n_users=30, n_items=12, ...)
    """
    if config.source == "default":
        world = cr.load_default()
    elif config.source == "simulate":
        world = cr.simulate_shop(n_users=config.n_users, n_items=config.n_items, random_state=config.world_seed)
    else:
        loader = cr.load_coat if config.source == "coat" else cr.load_movielens_100k
        world = loader(config.path, verify=config.verify, verbose=False)
    return strip_causal_information(world) if config.strip_causal else world


def _check_world(world) -> None:
    for name in ("users", "items", "interactions"):
        if not isinstance(getattr(world, name, None), pd.DataFrame):
            raise ValueError(f"world must have a DataFrame attribute {name!r} (a World)")


def strip_causal_information(world):
    """A copy of ``world`` without randomized slice, propensities, truth or ``policy_score``.

    >>> logs = strip_causal_information(cr.simulate_shop(n_users=30, n_items=12, random_state=0))
    >>> has_causal_information(logs)[0], logs.randomized, logs.truth
    (False, None, None)
    """
    _check_world(world)
    changes = {"interactions": world.interactions.drop(columns=[schema.POLICY_SCORE], errors="ignore"),
               "randomized": None, "truth": None}
    if "propensity" in {f.name for f in dataclasses.fields(world)}:
        changes["propensity"] = None
    return dataclasses.replace(world, **changes)


def has_causal_information(world) -> tuple[bool, list[str]]:
    """The flowchart's branch: a randomized slice, known propensities (or a policy score) or a DAG?

    Returns whether any is present and one sentence per thing found (or, if none, per thing missing).

    >>> has_causal_information(cr.simulate_shop(n_users=30, n_items=12, random_state=0))[0]
    True
    """
    found, missing = [], []
    randomized, truth = getattr(world, "randomized", None), getattr(world, "truth", None)
    if isinstance(randomized, pd.DataFrame) and len(randomized):
        found.append(f"a randomized slice of {len(randomized):,} rows (exposure assigned at random)")
    else:
        missing.append("no randomized slice")
    propensity = getattr(world, "propensity", None)
    if propensity is None and truth is not None:
        propensity = truth.propensity
    if propensity is not None:
        found.append(f"known exposure propensities for {len(propensity):,} logged rows")
    else:
        missing.append("no known propensities")
    if schema.POLICY_SCORE in world.interactions:
        found.append("the logging policy's score, from which propensities can be modelled")
    if truth is not None and getattr(truth, "dag", None):
        found.append("a causal graph (DAG) of how the data were generated")
    else:
        missing.append("no causal graph")
    return (True, found) if found else (False, missing)


def observation_propensity(world, target: str = schema.CLICKED) -> np.ndarray:
    """The known probability that each logged row's ``target`` was observed, shape (n_logged,).

    Exposure propensity for clicks and purchases; rating propensity for ``"liked"``
    (the simulator's truth, or the propensities shipped with Coat). ValueError when unknown.
    """
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


def exposure_effect(world, method: str = "weighting") -> dict:
    """DoWhy's estimate of the effect of exposure on purchase, next to the naive difference and the truth.

    Returns ``effect_method, effect_naive, effect_estimate, effect_true, effect_adjustment``.
    ValueError when the data has no exposure/purchase columns or no causal graph.
    """
    if method not in causal.ESTIMATORS:
        raise ValueError(f"method={method!r} is not allowed; allowed values: {', '.join(map(repr, causal.ESTIMATORS))}")
    truth = getattr(world, "truth", None)
    if not {schema.EXPOSED, schema.PURCHASED} <= set(world.interactions.columns):
        raise ValueError("the causal-effect step needs 'exposed' and 'purchased' columns")
    if truth is None or not getattr(truth, "dag", None):
        raise ValueError("the causal-effect step needs a causal graph (world.truth.dag); this data has none")
    frame = causal.analysis_frame(world)
    setup = causal.build_model(frame, causal.simulator_graph(world))
    return {"effect_method": method, "effect_naive": float(causal.naive_difference(frame).value),
            "effect_estimate": float(causal.estimate_effect(setup, method).value),
            "effect_true": float(truth.ate), "effect_adjustment": list(setup.backdoor_variables)}


def _ranking(prefix: str, lists: pd.DataFrame, relevant: pd.DataFrame, k: int) -> dict:
    """``{prefix}_ndcg@k`` ... of ``lists`` against ``relevant`` pairs, over users with a relevant pair."""
    lists = lists[lists[schema.USER].isin(relevant[schema.USER])]
    if lists.empty:
        return {}
    scores = metrics.evaluate_ranking(lists, relevant[[schema.USER, schema.ITEM]], k=k)
    return {f"{prefix}_{name.replace('_at_k', f'@{k}')}": float(value) for name, value in scores.items()
            if name != "n_users"}


def evaluate_recommendations(recs, world, *, k: int = 10, relevant_rating: int = 4, heldout=None,
                             candidates=None, target=None) -> dict:
    """THE evaluator of top-``k`` lists (``Pipeline.evaluate`` and ``causalrec evaluate``).

    ``recs`` (``user_id, item_id`` and ``rank`` or ``score``) are scored through
    :func:`causalrec.metrics.evaluate_ranking` against: the randomized slice
    (``randomized_*``, relevant = rating >= ``relevant_rating``: unbiased); the
    ``heldout`` pairs (``heldout_*``; its ``relevant`` column, else the rating,
    else every row). ``candidates`` (pairs with a ``score``, e.g. held-out
    logged rows, with their 0/1 ``target``) add ``logged_auc`` and ``logged_*``.
    Always ``coverage@k``; ``mean_popularity@k`` and, for a simulated world,
    ``true_relevance@k`` (mean true click probability of what was recommended).

    >>> world = cr.simulate_shop(n_users=40, n_items=20, random_state=0)
    >>> recs = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [3, 4, 5], "rank": [1, 2, 1]})
    >>> evaluate_recommendations(recs, world, k=2)["coverage@2"]
    0.15
    """
    if not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
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
    randomized = getattr(world, "randomized", None)
    if isinstance(randomized, pd.DataFrame) and len(randomized):
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


@dataclass(frozen=True)
class Features:
    """Item content: TF-IDF ``text`` (n_items, vocabulary), its ``vocabulary``, standardized ``images``
    (n_items, 1, H, W); each None when the data has none."""

    text: np.ndarray | None
    vocabulary: np.ndarray | None
    images: np.ndarray | None


@dataclass
class PipelineReport:
    """What a run produced: ``metrics`` (see :func:`evaluate_recommendations`), ``recommendations``
    (``user_id, item_id, score, rank``), ``importance`` (``block, auc_drop, auc_drop_std``),
    ``timings`` (seconds per step of :data:`STEPS`), the config, data sizes, cleaning report, branch."""

    config: PipelineConfig
    data: dict
    cleaning: Any
    branch: BranchDecision
    metrics: dict
    recommendations: pd.DataFrame
    importance: pd.DataFrame
    timings: dict

    def to_dict(self) -> dict:
        """Plain JSON types only."""
        def records(df):
            return json.loads(df.to_json(orient="records"))
        return {"config": self.config.to_dict(), "data": {k: int(v) for k, v in self.data.items()},
                "cleaning": {k: int(v) for k, v in dataclasses.asdict(self.cleaning).items()
                             if isinstance(v, numbers.Integral)},
                "branch": self.branch.to_dict(), "metrics": dict(self.metrics),
                "recommendations": records(self.recommendations), "importance": records(self.importance),
                "timings": dict(self.timings)}

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value:.3f}" for key, value in list(self.metrics.items())[:4])
        return (f"PipelineReport(path={self.branch.path!r}, model={self.config.model!r}, {shown}, "
                f"seconds={sum(self.timings.values()):.1f})")


class _BlockNet:
    """The recommender's network seen as input blocks, the model type of
    :func:`causalrec.explain.permutation_importance` (``block_names``, ``check_inputs``,
    ``embed``, ``forward_embedded``; called on a dict of blocks, returns logits)."""

    def __init__(self, recommender, blocks):
        self.net, self.head, self.block_names = recommender.model_, recommender.head_, tuple(blocks)
        self.training = False

    def check_inputs(self, inputs):
        return dict(inputs), len(inputs["user ID"])

    def embed(self, inputs):
        return inputs

    def forward_embedded(self, blocks):
        return self(blocks)

    def train(self, mode=True):
        return self

    def eval(self):
        return self

    def __call__(self, blocks):
        content = {key: blocks[name] for key, name in (("images", "image"), ("text", "text")) if name in blocks}
        out = self.net(blocks["user ID"], blocks["item ID"], **content)
        return out if self.head is None else getattr(out, self.head)


class Pipeline:
    """The flowchart, one method per step (:data:`STEPS`); each returns its output and records its time.

    Learned state ends in ``_`` (``clean_``, ``train_``, ``test_``, ``branch_``, ``features_``,
    ``model_``, ``recommendations_``, ``metrics_`` ...); :meth:`run` calls every step.

    >>> pipe = Pipeline(PipelineConfig(epochs=1), verbose=False)
    >>> pipe.load(cr.simulate_shop(n_users=30, n_items=12, random_state=0))["n_items"]
    12
    >>> pipe.decide_branch().path
    'causal'
    """

    def __init__(self, config: PipelineConfig | None = None, *, verbose: bool = True):
        if not isinstance(config, (PipelineConfig, type(None))):
            raise TypeError(f"config must be a PipelineConfig, got {type(config).__name__}")
        self.config = config or PipelineConfig()
        self.verbose = bool(verbose)
        self.timings_: dict[str, float] = {}

    def _require(self, attribute: str, step: str) -> Any:
        if not hasattr(self, attribute):
            raise RuntimeError(f"run the {step!r} step first (Pipeline.{step})")
        return getattr(self, attribute)

    def _timed(self, step: str, start: float) -> None:
        self.timings_[step] = time.perf_counter() - start

    def load(self, world) -> dict:
        """Step 1: check the input (derive ``liked``, attach propensities for ips); return its sizes."""
        start, c = time.perf_counter(), self.config
        _check_world(world)
        log = world.interactions
        if c.target == LIKED:
            if schema.RATING not in log:
                raise ValueError(f"target={LIKED!r} needs a {schema.RATING!r} column in world.interactions")
            rating = log[schema.RATING]
            log = log.assign(**{LIKED: np.where(rating.isna(), np.nan, (rating >= c.relevant_rating).astype(float))})
        missing = [name for name in (schema.USER, schema.ITEM, c.target) if name not in log]
        if missing:
            raise ValueError(f"world.interactions lacks column(s) {missing} needed by target={c.target!r}")
        if c.debias == "ips":
            log = log.assign(**{PROPENSITY: observation_propensity(world, c.target)})
        randomized = getattr(world, "randomized", None)
        self.world_, self.log_ = world, log
        self.data_ = {"n_users": len(world.users), "n_items": len(world.items), "n_logged": len(log),
                      "n_randomized": 0 if randomized is None else len(randomized)}
        self._timed("data", start)
        return self.data_

    def preprocess(self):
        """Step 2: clean the log (a :class:`~causalrec.prep.CleaningReport`), split it into ``train_``/``test_``."""
        world, start, c = self._require("world_", "load"), time.perf_counter(), self.config
        clean, report = prep.clean_interactions(self.log_, known_users=world.users[schema.USER],
                                                known_items=world.items[schema.ITEM], require=(c.target,))
        if c.split == "temporal":
            if schema.DAY not in clean:
                raise ValueError("split='temporal' needs a 'day' column in the interactions")
            self.train_, self.test_ = prep.temporal_split(clean, test_size=c.test_size)
        else:
            self.train_, self.test_ = prep.random_split(clean, test_size=c.test_size, random_state=c.random_state)
        self.clean_, self.cleaning_ = clean, report
        self._timed("preprocessing", start)
        return clean, report

    def decide_branch(self) -> BranchDecision:
        """Step 3: does the data carry causal information (:func:`has_causal_information`)?"""
        world, start = self._require("world_", "load"), time.perf_counter()
        causal_info, reasons = has_causal_information(world)
        self.branch_ = BranchDecision(causal_info, tuple(reasons))
        self._timed("branch", start)
        return self.branch_

    def extract_features(self) -> Features:
        """Step 4: TF-IDF vectors of the descriptions and standardized images, when the data has them."""
        world, start = self._require("world_", "load"), time.perf_counter()
        text = vocabulary = images = None
        if schema.DESCRIPTION in world.items:
            vectorizer = prep.TextVectorizer(kind="tfidf").fit(world.items[schema.DESCRIPTION])
            text = vectorizer.transform(world.items[schema.DESCRIPTION])
            vocabulary = np.asarray(vectorizer.get_feature_names_out())
        if getattr(world, "images", None) is not None:
            images = prep.normalize_images(world.images).images
        if self.config.model == "multimodal" and text is None and images is None:
            raise ValueError("model='multimodal' needs item descriptions or images; this data has neither")
        self.features_ = Features(text=text, vocabulary=vocabulary, images=images)
        self._timed("features", start)
        return self.features_

    def train(self):
        """Step 5: fit a :class:`~causalrec.Recommender` on ``train_`` (naive, or IPS-weighted)."""
        train, features = self._require("train_", "preprocess"), self._require("features_", "extract_features")
        world, start, c = self.world_, time.perf_counter(), self.config
        content = {}
        if c.model == "multimodal":
            content = {"items": world.items, "images": world.images if features.images is not None else None,
                       "text": features.text}
        elif np.array_equal(world.items[schema.ITEM].to_numpy(), np.arange(len(world.items))):
            content = {"items": world.items[[schema.ITEM]]}  # the whole catalogue, seen in training or not
        weights = None
        if c.debias == "ips":
            if c.target != LIKED:  # clicks and purchases were observed only where the item was shown
                train = train[train[schema.EXPOSED] == 1]
            if train.empty:
                raise ValueError("debias='ips' left no observed training rows")
            weights = 1.0 / np.maximum(train[PROPENSITY].to_numpy(dtype=float), c.propensity_clip)
        model = cr.Recommender(c.model, dim=c.dim, loss=c.loss, epochs=c.epochs, batch_size=c.batch_size,
                               lr=c.lr, random_state=c.random_state, verbose=self.verbose, n_threads=c.n_threads)
        self.model_ = model.fit(train, target=c.target, sample_weight=weights, **content)
        self._timed("training", start)
        return self.model_

    def importance(self) -> pd.DataFrame:
        """Step 6: permutation importance (:func:`causalrec.explain.permutation_importance`) of the input blocks.

        Each block (user ID, item ID, and the multimodal model's image and text) is
        shuffled across ``importance_rows`` held-out rows, ``importance_repeats`` times;
        ``auc_drop`` is how much the AUC falls: what the *model* uses, not what causes a click.
        Returns ``block, auc_drop, auc_drop_std`` sorted by drop; ``attrs["baseline_auc"]``.
        """
        model, start, c = self._require("model_", "train"), time.perf_counter(), self.config
        rng = check_random_state(c.random_state)
        test = self.test_
        if len(test) > c.importance_rows:
            test = test.iloc[np.sort(rng.choice(len(test), c.importance_rows, replace=False))]
        import torch

        users = torch.as_tensor(test[schema.USER].to_numpy().astype(np.int64))
        items = torch.as_tensor(test[schema.ITEM].to_numpy().astype(np.int64))
        blocks = {"user ID": users, "item ID": items}
        for key, name in (("item_images", "image"), ("item_text", "text")):
            catalogue = getattr(model.model_, key, None)
            if catalogue is not None:
                blocks[name] = catalogue[items]
        shuffled = [b for b in blocks if b != "item ID" or getattr(model.model_, "item_embedding", True) is not None]
        y = test[c.target].to_numpy().astype(int)
        if len(np.unique(y)) < 2:
            table = pd.DataFrame({"block": shuffled, "auc_drop": np.nan, "auc_drop_std": np.nan})
            table.attrs["baseline_auc"] = float("nan")
        else:
            result = cr.explain.permutation_importance(_BlockNet(model, blocks), blocks, y, blocks=shuffled,
                                                       n_repeats=c.importance_repeats, random_state=rng)
            table = (pd.DataFrame({"block": list(result.blocks), "auc_drop": result.importances.mean(axis=1),
                                   "auc_drop_std": result.importances.std(axis=1)})
                     .sort_values("auc_drop", ascending=False, kind="stable").reset_index(drop=True))
            table.attrs["baseline_auc"] = float(result.baseline_score)
        self.importance_ = table
        self._timed("importance", start)
        return table

    def _evaluation_pairs(self) -> pd.DataFrame:
        randomized = getattr(self.world_, "randomized", None)
        return randomized if self.branch_.causal and isinstance(randomized, pd.DataFrame) and len(randomized) \
            else self.test_

    def predict(self) -> pd.DataFrame:
        """Step 7: the evaluation pairs (randomized slice on the causal path, else held-out rows) plus ``score``."""
        model, start = self._require("model_", "train"), time.perf_counter()
        pairs = self._evaluation_pairs()
        self.predictions_ = pairs.assign(score=model.predict(pairs[schema.USER], pairs[schema.ITEM]))
        self._timed("prediction", start)
        return self.predictions_

    def recommend(self, users=None) -> pd.DataFrame:
        """Step 8: ``k`` items per user (default every user), leaving out every logged pair."""
        model, start = self._require("model_", "train"), time.perf_counter()
        every_user = users is None
        users = np.arange(model.n_users_) if every_user else users
        recs = cr.recommend(model.score_items, users, model.n_items_, k=self.config.k,
                            seen=self.clean_[[schema.USER, schema.ITEM]])
        if every_user:
            self.recommendations_ = recs
        self._timed("top-k", start)
        return recs

    def evaluate(self) -> dict:
        """Step 9: :func:`evaluate_recommendations` of the lists; ``logged_*`` rank the held-out logged rows,
        ``randomized_*`` (causal path only) rank each user's randomized pairs by the model's score."""
        model, recs = self._require("model_", "train"), self._require("recommendations_", "recommend")
        start, c = time.perf_counter(), self.config
        test = self.test_.assign(score=model.predict(self.test_[schema.USER], self.test_[schema.ITEM]))
        result = evaluate_recommendations(recs, strip_causal_information(self.world_), k=c.k,
                                          candidates=test, target=c.target)
        pairs = self._evaluation_pairs()
        if pairs is not self.test_:
            scored = self.predictions_ if hasattr(self, "predictions_") else self.predict()
            relevant = (pairs[schema.RATING] >= c.relevant_rating).to_numpy().astype(int)
            if len(np.unique(relevant)) == 2:
                result["randomized_auc"] = metrics.auc(relevant, scored[schema.SCORE].to_numpy())
            result.update(_ranking("randomized", scored, scored[relevant == 1], c.k))
        self.metrics_ = result
        self._timed("evaluation", start)
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
        return self.report()

    def report(self) -> PipelineReport:
        """The :class:`PipelineReport` of the steps run (all of them)."""
        self._require("metrics_", "evaluate")
        return PipelineReport(self.config, dict(self.data_), self.cleaning_, self.branch_, dict(self.metrics_),
                              self.recommendations_, self.importance_,
                              {step: self.timings_[step] for step in STEPS if step in self.timings_})

    def explain(self, user: int, *, n: int = 3) -> pd.DataFrame:
        """Model-based reasons (not causes) for one user's list: each item's ``category`` and
        ``category_share`` (of the user's positives), the ``n`` ``similar_past_items`` by TF-IDF
        cosine and their best ``content_similarity``."""
        recs, features = self._require("recommendations_", "recommend"), self._require("features_", "extract_features")
        items = self.world_.items.set_index(schema.ITEM)
        mine = recs[recs[schema.USER] == user]
        if mine.empty:
            raise ValueError(f"user={user!r} has no recommendations")
        clean = self.clean_
        positives = clean.loc[(clean[schema.USER] == user) & (clean[self.config.target] == 1), schema.ITEM].unique()
        table = mine[[schema.RANK, schema.ITEM, schema.SCORE]].reset_index(drop=True)
        if schema.DESCRIPTION in items:
            table[schema.DESCRIPTION] = items.loc[table[schema.ITEM], schema.DESCRIPTION].to_numpy()
        if schema.CATEGORY in items:
            shares = items.loc[positives, schema.CATEGORY].value_counts(normalize=True)
            table[schema.CATEGORY] = items.loc[table[schema.ITEM], schema.CATEGORY].to_numpy()
            table["category_share"] = table[schema.CATEGORY].map(shares).fillna(0.0).astype(float)
        if features.text is not None and len(positives):
            unit = features.text / (np.linalg.norm(features.text, axis=1, keepdims=True) + 1e-12)
            similarity = unit[table[schema.ITEM]] @ unit[positives].T  # (n recommended, n positives)
            order = np.argsort(-similarity, axis=1, kind="stable")[:, :n]
            table["similar_past_items"] = [positives[row].tolist() for row in order]
            table["content_similarity"] = similarity[np.arange(len(table)), order[:, 0]]
        return table


def run_pipeline(world=None, config: PipelineConfig | dict | None = None, *, verbose: bool = True) -> PipelineReport:
    """Run the whole flowchart and return its :class:`PipelineReport`.

    ``world`` defaults to :func:`load_world` of the config; a dict config goes
    through :meth:`PipelineConfig.from_dict` (unknown keys are an error).
    """
    config = PipelineConfig.from_dict(config) if isinstance(config, dict) else config or PipelineConfig()
    return Pipeline(config, verbose=verbose).run(load_world(config) if world is None else world)
