"""The article's flowchart made runnable: one config in, a report out.

The source article draws a recommender as a flowchart: collect data,
preprocess it, ask whether the data carries causal information, then either
model causal relations or extract features, train a deep model, look at which
inputs matter, and predict interest to recommend. This module runs those steps
on a world (:class:`~causalrec.data.simulate.ShopWorld`, a real
:class:`~causalrec.data.load.RatingsData`, or any object with ``users``,
``items`` and ``interactions``):

1. **data**: :meth:`Pipeline.load` checks the input and summarises it;
2. **preprocessing**: :meth:`Pipeline.preprocess` cleans the log
   (:func:`~causalrec.prep.clean_interactions`, with its
   :class:`~causalrec.prep.CleaningReport`) and splits it into a
   training part and a held-out logged test part;
3. **the branch**: :meth:`Pipeline.decide_branch` asks
   :func:`has_causal_information`: a randomized slice, known exposure
   propensities or a causal graph send the run down the *causal* path; other
   data take the *features* path. In this runnable version both paths then
   train the same model; what changes is what we can honestly claim: only the
   causal path is evaluated on a randomized slice, free of the logging
   policy's choices (the causal modelling proper is chapters 08 and 09);
4. **features**: :meth:`Pipeline.extract_features`: TF-IDF vectors of the
   item descriptions and standardized images;
5. **training**: :meth:`Pipeline.train` fits a
   :class:`~causalrec.recommenders.Recommender`, either *naive* (every logged
   row alike) or with inverse propensity scoring (``debias="ips"``: only the
   rows whose outcome was observed, weighted by one over the known
   propensity, :func:`observation_propensity`);
6. **importance**: :meth:`Pipeline.importance`: a first, cheap look at which
   input blocks the model relies on, by permutation (shuffle one block across
   held-out rows, measure how much the AUC drops). Chapter 10 goes further;
7. **prediction and top-k**: :meth:`Pipeline.predict`,
   :meth:`Pipeline.recommend`, then :meth:`Pipeline.evaluate`.

:func:`run_pipeline` runs them all and returns a :class:`PipelineReport`;
``report.to_dict()`` is plain JSON. On the causal path of a simulated world,
:func:`exposure_effect` adds the flowchart's "model causal relations" box: the
effect of showing an item on its purchase, estimated with DoWhy next to the
naive difference and the truth. ``python -m causalrec run`` (:mod:`causalrec.cli`)
runs all of it from a TOML file and writes a report folder.

>>> PipelineConfig(model="mf", epochs=2).k
10
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import schema
from ._checks import check_fraction, check_positive_int, check_random_state

__all__ = ["PipelineConfig", "BranchDecision", "Features", "PipelineReport", "Pipeline",
           "has_causal_information", "strip_causal_information", "run_pipeline",
           "exposure_effect", "observation_propensity", "STEPS", "MODELS", "LOSSES", "TARGETS", "SPLITS", "DEBIAS", "LIKED"]

MODELS = ("mf", "neumf", "multimodal")
LOSSES = ("bce", "bpr", "softmax")
#: Column derived from ratings by :meth:`Pipeline.load` when ``target="liked"``:
#: 1 when ``rating >= relevant_rating``, 0 below, missing when there is no rating.
LIKED = "liked"
TARGETS = (schema.CLICKED, schema.PURCHASED, LIKED)
SPLITS = ("random", "temporal")
#: Training objectives: ``"naive"`` (every logged row counts once) or ``"ips"``
#: (only rows whose outcome was observed, weighted by one over its propensity).
DEBIAS = ("naive", "ips")
#: Column of :attr:`Pipeline.log_` holding each row's observation propensity (``debias="ips"``).
PROPENSITY = "observation_propensity"
#: The steps of :meth:`Pipeline.run`, in order (keys of ``PipelineReport.timings``).
STEPS = ("data", "preprocessing", "branch", "features", "training", "importance", "prediction",
         "top-k", "evaluation")


def _allowed(name, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; allowed values: {', '.join(map(repr, allowed))}")


@dataclass(frozen=True)
class PipelineConfig:
    """Every choice of a pipeline run, validated when created.

    Parameters
    ----------
    model : {"mf", "neumf", "multimodal"}
        The network (see :class:`~causalrec.recommenders.Recommender`).
    loss : {"bce", "bpr", "softmax"}
    target : {"clicked", "purchased", "liked"}
        The logged 0/1 outcome the model learns. ``"liked"`` is derived from
        ratings (``rating >= relevant_rating``): the target for rating data
        such as Coat or MovieLens, which log no clicks.
    epochs, batch_size, dim : int
    lr : float
        Adam's learning rate.
    k : int
        Length of each recommendation list.
    split : {"random", "temporal"}
        How the cleaned log is split into training and held-out logged rows.
    test_size : float in (0, 1)
        Share of the log held out.
    relevant_rating : int
        In a randomized slice (and for ``target="liked"``), a rating at least
        this high counts as relevant.
    debias : {"naive", "ips"}
        ``"naive"`` trains on every logged row alike. ``"ips"`` trains only on
        the rows whose outcome was observed (exposed rows for clicks and
        purchases, rated rows for ``"liked"``), each weighted by
        ``1 / max(propensity, propensity_clip)``, so that what the logging
        policy showed often does not dominate (Schnabel et al., 2016). The
        loss is the weighted *mean* of each batch (self-normalised, the SNIPS
        form). It needs known propensities: the simulator's truth, or
        propensities shipped with the data (Coat).
    propensity_clip : float in (0, 1]
        Lower bound on the propensities for ``debias="ips"`` (weights at most
        ``1 / propensity_clip``).
    importance_rows, importance_repeats : int
        Held-out rows used by the permutation importance, and shuffles per block.
    random_state : int
        Seeds the split, the training and the importance shuffles.
    n_threads : int
        Torch threads while training.

    Raises
    ------
    ValueError
        Naming the field and the allowed values, e.g. ``model='svd'``.

    Examples
    --------
    >>> PipelineConfig(model="svd")
    Traceback (most recent call last):
    ...
    ValueError: model='svd' is not allowed; allowed values: 'mf', 'neumf', 'multimodal'
    >>> PipelineConfig.from_dict({"epochs": 2}).epochs
    2
    """

    model: str = "mf"
    loss: str = "bce"
    target: str = schema.CLICKED
    epochs: int = 5
    batch_size: int = 4096
    lr: float = 0.01
    dim: int = 32
    k: int = 10
    split: str = "random"
    test_size: float = 0.2
    relevant_rating: int = 4
    importance_rows: int = 2000
    importance_repeats: int = 3
    random_state: int = 0
    n_threads: int = 1
    debias: str = "naive"
    propensity_clip: float = 0.05

    def __post_init__(self):
        _allowed("model", self.model, MODELS)
        _allowed("loss", self.loss, LOSSES)
        _allowed("target", self.target, TARGETS)
        _allowed("split", self.split, SPLITS)
        _allowed("debias", self.debias, DEBIAS)
        check_fraction(self.propensity_clip, "propensity_clip", inclusive=(False, True))
        for name in ("epochs", "batch_size", "dim", "k", "importance_rows", "importance_repeats", "n_threads"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.relevant_rating, "relevant_rating")
        check_positive_int(self.random_state, "random_state", minimum=0)
        check_fraction(self.test_size, "test_size", inclusive=(False, False))
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "PipelineConfig":
        """A config from a dict (e.g. parsed JSON); unknown keys are an error, not ignored."""
        if not isinstance(values, dict):
            raise TypeError(f"values must be a dict, got {type(values).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(map(repr, unknown))}; "
                             f"allowed keys: {', '.join(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def strip_causal_information(world):
    """The same logs without the randomized slice, propensities or truth.

    Returns a :class:`~causalrec.data.simulate.ShopWorld` (or a copy of the input's
    class) with ``randomized=None`` and ``truth=None``, and without a
    ``propensity`` when the input had one. The logged columns are kept,
    except ``policy_score``: a logged policy score is how the shop chose what
    to show, i.e. the main input of a propensity model. The input is not changed.

    Examples
    --------
    >>> import causalrec as cr
    >>> logs = strip_causal_information(cr.simulate_shop(n_users=30, n_items=12, random_state=0))
    >>> has_causal_information(logs)[0], logs.randomized, logs.truth
    (False, None, None)
    """
    for name in ("users", "items", "interactions"):
        if not isinstance(getattr(world, name, None), pd.DataFrame):
            raise ValueError(f"world must have a DataFrame attribute {name!r} (a ShopWorld or RatingsData)")
    interactions = world.interactions.drop(columns=[schema.POLICY_SCORE], errors="ignore")
    changes = {"interactions": interactions, "randomized": None, "truth": None}
    if dataclasses.is_dataclass(world):
        names = {f.name for f in dataclasses.fields(world)}
        if "propensity" in names:
            changes["propensity"] = None
        return dataclasses.replace(world, **changes)
    from .data.simulate import ShopWorld
    return ShopWorld(users=world.users, items=world.items, images=getattr(world, "images", None),
                     config=dict(getattr(world, "config", {}) or {}), **changes)


def has_causal_information(world) -> tuple[bool, list[str]]:
    """Does the data carry causal information? The flowchart's branch.

    Three things count: a **randomized slice** (exposure or ratings assigned at
    random: an experiment), **known exposure propensities** (the logging
    policy's probabilities, or a logged policy score to model them from) and a
    **causal graph**.

    Parameters
    ----------
    world : ShopWorld, RatingsData or similar

    Returns
    -------
    (bool, list of str)
        Whether any of them is present, and one sentence per thing found
        (or, when nothing is found, one per thing missing).

    Examples
    --------
    >>> import causalrec as cr
    >>> causal, reasons = has_causal_information(cr.simulate_shop(n_users=30, n_items=12, random_state=0))
    >>> causal, len(reasons)
    (True, 4)
    """
    found, missing = [], []
    randomized = getattr(world, "randomized", None)
    if isinstance(randomized, pd.DataFrame) and len(randomized) > 0:
        found.append(f"a randomized slice of {len(randomized):,} rows (exposure assigned at random)")
    else:
        missing.append("no randomized slice")
    truth = getattr(world, "truth", None)
    propensity = getattr(world, "propensity", None)
    if propensity is None and truth is not None:
        propensity = getattr(truth, "propensity", None)
    if propensity is not None:
        found.append(f"known exposure propensities for {len(propensity):,} logged rows")
    else:
        missing.append("no known propensities")
    interactions = getattr(world, "interactions", None)
    if isinstance(interactions, pd.DataFrame) and schema.POLICY_SCORE in interactions:
        found.append("the logging policy's score, from which propensities can be modelled")
    dag = getattr(truth, "dag", None) if truth is not None else None
    if dag:
        found.append("a causal graph (DAG) of how the data were generated")
    else:
        missing.append("no causal graph")
    return (True, found) if found else (False, missing)


def observation_propensity(world, target: str = schema.CLICKED) -> np.ndarray:
    """The known probability that each logged row's ``target`` was observed.

    For clicks and purchases (observed only when the item was shown) it is the
    exposure propensity, ``world.truth.propensity``; for ``"liked"`` (observed
    only when the user rated) it is ``world.truth.rating_propensity`` in the
    simulator, or the propensities shipped with a real data set
    (``world.propensity``, as Coat has).

    Parameters
    ----------
    world : ShopWorld or RatingsData
    target : {"clicked", "purchased", "liked"}

    Returns
    -------
    numpy.ndarray of float in (0, 1], shape (len(world.interactions),)

    Raises
    ------
    ValueError
        When the data carries no such propensities (e.g. MovieLens, or logs
        from :func:`strip_causal_information`).

    Examples
    --------
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=30, n_items=12, random_state=0)
    >>> p = observation_propensity(world, "clicked")
    >>> p.shape == (len(world.interactions),), bool(((p > 0) & (p <= 1)).all())
    (True, True)
    """
    _allowed("target", target, TARGETS)
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
    if p.shape != (len(world.interactions),):
        raise ValueError(f"the propensities have shape {p.shape}, the log has {len(world.interactions)} rows")
    if not np.all((p > 0) & (p <= 1)):
        raise ValueError("the propensities must lie in (0, 1]")
    return p


def exposure_effect(world, method: str = "weighting") -> dict:
    """The causal-effect step: the effect of showing an item on its purchase.

    The article's flowchart models causal relations when the data carry
    causal information. Here that means: estimate the average effect of
    exposure on purchase with DoWhy (:mod:`causalrec.causal`, back-door
    adjustment on the simulator's graph), next to the naive difference in
    purchase rates between shown and not-shown candidates, and, in a
    simulated world, the true effect.

    Parameters
    ----------
    world : ShopWorld
        Needs ``exposed`` and ``purchased`` columns and a causal graph
        (``world.truth.dag``).
    method : str
        A key of :data:`causalrec.causal.ESTIMATORS`.

    Returns
    -------
    dict
        ``effect_method, effect_naive, effect_estimate, effect_true`` (the
        last NaN when unknown) and ``effect_adjustment`` (the back-door set).

    Raises
    ------
    ValueError
        When the data has no exposure/purchase columns or no causal graph.
    """
    from . import causal

    _allowed("method", method, tuple(causal.ESTIMATORS))
    truth = getattr(world, "truth", None)
    columns = getattr(world, "interactions", pd.DataFrame()).columns
    if schema.EXPOSED not in columns or schema.PURCHASED not in columns:
        raise ValueError("the causal-effect step needs 'exposed' and 'purchased' columns; this data has "
                         f"{list(columns)}")
    if truth is None or not getattr(truth, "dag", None):
        raise ValueError("the causal-effect step needs a causal graph (world.truth.dag); this data has none")
    frame = causal.analysis_frame(world)
    setup = causal.build_model(frame, causal.simulator_graph(world))
    estimate = causal.estimate_effect(setup, method)
    return {"effect_method": method,
            "effect_naive": float(causal.naive_difference(frame).value),
            "effect_estimate": float(estimate.value),
            "effect_true": float(getattr(truth, "ate", np.nan)),
            "effect_adjustment": list(setup.backdoor_variables)}


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
    """Item content ready for a model.

    Attributes
    ----------
    text : numpy.ndarray of float, shape (n_items, vocabulary_size) or None
        TF-IDF vectors of the descriptions.
    vocabulary : numpy.ndarray of str, shape (vocabulary_size,) or None
    images : numpy.ndarray of float32, shape (n_items, 1, H, W) or None
        Standardized images (zero mean, unit variance over the catalogue).
    """

    text: np.ndarray | None
    vocabulary: np.ndarray | None
    images: np.ndarray | None


@dataclass
class PipelineReport:
    """Everything a run produced.

    Attributes
    ----------
    config : PipelineConfig
    data : dict
        Sizes of the input (users, items, logged and randomized rows).
    cleaning : CleaningReport
    branch : BranchDecision
    metrics : dict of str -> float
        ``logged_*`` on the held-out logged rows (relevant = target is 1);
        ``randomized_*`` on the randomized slice (relevant = rating >=
        ``relevant_rating``), when there is one; ``coverage@k`` and
        ``mean_popularity@k`` of the top-k lists.
    recommendations : pandas.DataFrame
        ``user_id, item_id, score, rank`` for every user (seen items excluded).
    importance : pandas.DataFrame
        One row per input block: ``block, auc_drop, auc_drop_std`` (see :meth:`Pipeline.importance`).
    timings : dict of str -> float
        Seconds per step (keys: :data:`STEPS`).
    """

    config: PipelineConfig
    data: dict
    cleaning: Any
    branch: BranchDecision
    metrics: dict
    recommendations: pd.DataFrame
    importance: pd.DataFrame
    timings: dict

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (plain Python types only)."""
        cleaning = {name: int(getattr(self.cleaning, name)) for name in
                    ("rows_in", "rows_out", "missing_ids", "missing_values", "out_of_range_ratings",
                     "unknown_users", "unknown_items", "duplicates")}
        return {
            "config": self.config.to_dict(),
            "data": {key: int(value) for key, value in self.data.items()},
            "cleaning": cleaning,
            "branch": self.branch.to_dict(),
            "metrics": {key: float(value) for key, value in self.metrics.items()},
            "recommendations": _records(self.recommendations),
            "importance": _records(self.importance),
            "timings": {key: float(value) for key, value in self.timings.items()},
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value:.3f}" for key, value in list(self.metrics.items())[:4])
        return (f"PipelineReport(path={self.branch.path!r}, model={self.config.model!r}, "
                f"{shown}, seconds={sum(self.timings.values()):.1f})")


def _at(name: str, k: int) -> str:
    """``"ndcg_at_k"`` -> ``"ndcg@10"``."""
    return name.replace("_at_k", f"@{k}")


def _records(df: pd.DataFrame) -> list[dict]:
    return [{key: (value.item() if isinstance(value, np.generic) else value) for key, value in row.items()}
            for row in df.to_dict(orient="records")]


class Pipeline:
    """The flowchart, one method per step; each returns its output and records its time.

    Call the steps in order (:data:`STEPS`), or :meth:`run` for all of them.
    Learned state ends in ``_`` (``clean_``, ``train_``, ``test_``,
    ``branch_``, ``features_``, ``model_``, ``recommendations_``, ...).

    Parameters
    ----------
    config : PipelineConfig, optional
    verbose : bool
        Progress bars (tqdm) over the steps and during training.

    Examples
    --------
    >>> import causalrec as cr
    >>> pipe = Pipeline(PipelineConfig(epochs=1), verbose=False)
    >>> pipe.load(cr.simulate_shop(n_users=30, n_items=12, random_state=0))["n_items"]
    12
    >>> pipe.decide_branch().path
    'causal'
    """

    def __init__(self, config: PipelineConfig | None = None, *, verbose: bool = True):
        if config is None:
            config = PipelineConfig()
        if not isinstance(config, PipelineConfig):
            raise TypeError(f"config must be a PipelineConfig, got {type(config).__name__}")
        self.config = config
        self.verbose = bool(verbose)
        self.timings_: dict[str, float] = {}

    # ----------------------------------------------------------------- helpers
    def _timed(self, step: str, start: float) -> None:
        self.timings_[step] = time.perf_counter() - start

    def _require(self, attribute: str, step: str) -> Any:
        if not hasattr(self, attribute):
            raise RuntimeError(f"run the {step!r} step first (Pipeline.{step})")
        return getattr(self, attribute)

    # ------------------------------------------------------------------- steps
    def load(self, world) -> dict:
        """Step 1, data: check the input and return its sizes.

        Returns
        -------
        dict
            ``n_users, n_items, n_logged, n_randomized``.
        """
        start = time.perf_counter()
        for name in ("users", "items", "interactions"):
            if not isinstance(getattr(world, name, None), pd.DataFrame):
                raise ValueError(f"world must have a DataFrame attribute {name!r} "
                                 "(a ShopWorld or RatingsData)")
        log = world.interactions
        if self.config.target == LIKED:
            if schema.RATING not in log:
                raise ValueError(f"target={LIKED!r} needs a {schema.RATING!r} column in world.interactions")
            rating = log[schema.RATING]
            log = log.assign(**{LIKED: np.where(rating.isna(), np.nan,
                                                (rating >= self.config.relevant_rating).astype(float))})
        missing = [c for c in (schema.USER, schema.ITEM, self.config.target) if c not in log]
        if missing:
            raise ValueError(f"world.interactions lacks column(s) {missing} needed by target={self.config.target!r}")
        if self.config.debias == "ips":
            log = log.assign(**{PROPENSITY: observation_propensity(world, self.config.target)})
        self.world_ = world
        self.log_ = log
        randomized = getattr(world, "randomized", None)
        self.data_ = {"n_users": len(world.users), "n_items": len(world.items),
                      "n_logged": len(world.interactions),
                      "n_randomized": 0 if randomized is None else len(randomized)}
        self._timed("data", start)
        return self.data_

    def preprocess(self):
        """Step 2, preprocessing: clean the log, then split it.

        Returns
        -------
        (clean, report) : (pandas.DataFrame, CleaningReport)
            Also stored: ``clean_``, ``cleaning_``, ``train_`` and ``test_``
            (the held-out logged rows, ``config.test_size`` of them).
        """
        from .prep import clean_interactions, random_split, temporal_split

        world = self._require("world_", "load")
        start = time.perf_counter()
        clean, report = clean_interactions(self.log_, known_users=world.users[schema.USER],
                                           known_items=world.items[schema.ITEM],
                                           require=(self.config.target,))
        if self.config.split == "temporal":
            if schema.DAY not in clean:
                raise ValueError("split='temporal' needs a 'day' column in the interactions")
            train, test = temporal_split(clean, test_size=self.config.test_size)
        else:
            train, test = random_split(clean, test_size=self.config.test_size,
                                       random_state=self.config.random_state)
        self.clean_, self.cleaning_, self.train_, self.test_ = clean, report, train, test
        self._timed("preprocessing", start)
        return clean, report

    def decide_branch(self) -> BranchDecision:
        """Step 3, the branch: does the data carry causal information?"""
        world = self._require("world_", "load")
        start = time.perf_counter()
        causal, reasons = has_causal_information(world)
        self.branch_ = BranchDecision(causal, tuple(reasons))
        self._timed("branch", start)
        return self.branch_

    def extract_features(self) -> Features:
        """Step 4, features: TF-IDF of the descriptions, standardized images (when present)."""
        from .prep import TextVectorizer, normalize_images

        world = self._require("world_", "load")
        start = time.perf_counter()
        text = vocabulary = images = None
        if schema.DESCRIPTION in world.items:
            vectorizer = TextVectorizer(kind="tfidf").fit(world.items[schema.DESCRIPTION])
            text = vectorizer.transform(world.items[schema.DESCRIPTION])
            vocabulary = np.asarray(vectorizer.get_feature_names_out())
        if getattr(world, "images", None) is not None:
            images = normalize_images(world.images).images
        if self.config.model == "multimodal" and text is None and images is None:
            raise ValueError("model='multimodal' needs item descriptions or images; this data has neither")
        self.features_ = Features(text=text, vocabulary=vocabulary, images=images)
        self._timed("features", start)
        return self.features_

    def train(self):
        """Step 5, training: fit a :class:`~causalrec.recommenders.Recommender` on the training rows."""
        from .recommenders import Recommender

        train = self._require("train_", "preprocess")
        features = self._require("features_", "extract_features")
        world = self.world_
        start = time.perf_counter()
        c = self.config
        content = {}
        if c.model == "multimodal":
            content = {"items": world.items}
            if features.images is not None:
                content["images"] = world.images
            if features.text is not None:
                content["text"] = features.text
        elif np.array_equal(world.items[schema.ITEM].to_numpy(), np.arange(len(world.items))):
            content = {"items": world.items[[schema.ITEM]]}  # the whole catalogue, seen in training or not
        weights = None
        if c.debias == "ips":
            if c.target != LIKED:
                # clicks and purchases were observed only where the item was shown
                train = train[train[schema.EXPOSED] == 1]
            if train.empty:
                raise ValueError("debias='ips' left no observed training rows")
            weights = 1.0 / np.maximum(train[PROPENSITY].to_numpy(dtype=float), c.propensity_clip)
        model = Recommender(c.model, dim=c.dim, loss=c.loss, epochs=c.epochs, batch_size=c.batch_size,
                            lr=c.lr, random_state=c.random_state, verbose=self.verbose,
                            n_threads=c.n_threads)
        self.model_ = model.fit(train, target=c.target, sample_weight=weights, **content)
        self._timed("training", start)
        return self.model_

    def _block_scores(self, users, items, block: str | None, permutation) -> np.ndarray:
        """Model outputs (on the model's own scale) with one input block shuffled across rows.

        ``users, items, permutation`` : int arrays of shape (n,). ``block`` is
        None (nothing shuffled), ``"user ID"``, ``"item ID"``, ``"image"`` or ``"text"``.
        For a multimodal network the item's content is passed explicitly, so
        shuffling the item ID moves only its embedding, and shuffling the image
        (text) gives each row another row's image (text).
        """
        import torch

        from .recommenders import _select

        net = self.model_.model_
        u, i = torch.as_tensor(users), torch.as_tensor(items)
        shuffled = torch.as_tensor(permutation)
        content = {}
        for key, name in (("images", "image"), ("text", "text")):
            catalogue = getattr(net, f"item_{key}", None)
            if catalogue is not None:
                content[key] = catalogue[i[shuffled] if block == name else i]
        if block == "user ID":
            u = u[shuffled]
        elif block == "item ID":
            i = i[shuffled]
        with torch.no_grad():
            out = net(u, i, **content)
        return _select(out, self.model_.head_).double().numpy()

    def importance(self) -> pd.DataFrame:
        """Step 6, a first look at importance: permutation of input blocks on held-out rows.

        For each block (user ID, item ID, and for the multimodal model image and
        text), shuffle it across ``config.importance_rows`` held-out logged rows
        (``config.importance_repeats`` times) and measure how much the AUC of
        the model's predictions of the target drops. A large drop: the model
        leans on that block. This says what the *model* uses, not what causes
        a purchase.

        Returns
        -------
        pandas.DataFrame
            ``block, auc_drop, auc_drop_std``, sorted by ``auc_drop``; its
            ``attrs["baseline_auc"]`` is the unshuffled AUC.
        """
        from .metrics import auc

        model = self._require("model_", "train")
        start = time.perf_counter()
        rng = check_random_state(self.config.random_state)
        test = self.test_
        if len(test) > self.config.importance_rows:
            test = test.iloc[np.sort(rng.choice(len(test), self.config.importance_rows, replace=False))]
        y = test[self.config.target].to_numpy().astype(int)
        users = test[schema.USER].to_numpy().astype(np.int64)
        items = test[schema.ITEM].to_numpy().astype(np.int64)
        blocks = ["user ID", "item ID"]
        net = model.model_
        if getattr(net, "item_images", None) is not None:
            blocks.append("image")
        if getattr(net, "item_text", None) is not None:
            blocks.append("text")
        if getattr(net, "item_embedding", True) is None:
            blocks.remove("item ID")
        if len(np.unique(y)) < 2:
            table = pd.DataFrame({"block": blocks, "auc_drop": np.nan, "auc_drop_std": np.nan})
            table.attrs["baseline_auc"] = float("nan")
        else:
            identity = np.arange(len(y))
            baseline = auc(y, self._block_scores(users, items, None, identity))
            rows = []
            for block in blocks:
                drops = [baseline - auc(y, self._block_scores(users, items, block, rng.permutation(len(y))))
                         for _ in range(self.config.importance_repeats)]
                rows.append({"block": block, "auc_drop": float(np.mean(drops)),
                             "auc_drop_std": float(np.std(drops))})
            table = (pd.DataFrame(rows).sort_values("auc_drop", ascending=False, kind="stable")
                     .reset_index(drop=True))
            table.attrs["baseline_auc"] = float(baseline)
        self.importance_ = table
        self._timed("importance", start)
        return table

    def predict(self) -> pd.DataFrame:
        """Step 7, prediction: score the evaluation pairs.

        Returns
        -------
        pandas.DataFrame
            The randomized slice's ``user_id, item_id, rating`` plus ``score``
            when the data has one, else the held-out logged rows plus ``score``.
        """
        model = self._require("model_", "train")
        start = time.perf_counter()
        randomized = getattr(self.world_, "randomized", None)
        pairs = randomized if isinstance(randomized, pd.DataFrame) and len(randomized) else self.test_
        scored = pairs.copy()
        scored["score"] = model.predict(pairs[schema.USER], pairs[schema.ITEM])
        self.predictions_ = scored
        self._timed("prediction", start)
        return scored

    def recommend(self, users=None) -> pd.DataFrame:
        """Step 8, top-k: ``config.k`` items per user, leaving out every logged pair.

        Parameters
        ----------
        users : array-like of int, optional
            Default: every user.

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, score, rank``.
        """
        from .ranking import recommend

        model = self._require("model_", "train")
        start = time.perf_counter()
        every_user = users is None
        if every_user:
            users = np.arange(model.n_users_)
        seen = self.clean_[[schema.USER, schema.ITEM]]
        recs = recommend(model.score_items, users, model.n_items_, k=self.config.k, seen=seen)
        if every_user:
            self.recommendations_ = recs
        self._timed("top-k", start)
        return recs

    def evaluate(self) -> dict:
        """Step 9, evaluation: the metrics dict of :class:`PipelineReport`."""
        from .metrics import auc, catalogue_coverage, evaluate_ranking, mean_popularity

        model = self._require("model_", "train")
        recs = self._require("recommendations_", "recommend")
        start = time.perf_counter()
        c = self.config
        metrics = {}
        test = self.test_
        y = test[c.target].to_numpy().astype(int)
        if len(np.unique(y)) == 2:
            metrics["logged_auc"] = auc(y, model.predict(test[schema.USER], test[schema.ITEM]))
        candidates = test[[schema.USER, schema.ITEM]].assign(score=model.predict(test[schema.USER],
                                                                                  test[schema.ITEM]))
        relevant = test.loc[test[c.target] == 1, [schema.USER, schema.ITEM]]
        if len(relevant):
            ranking = evaluate_ranking(candidates, relevant, k=c.k)
            metrics.update({f"logged_{_at(name, c.k)}": value for name, value in ranking.items()})
        randomized = getattr(self.world_, "randomized", None)
        if self.branch_.causal and isinstance(randomized, pd.DataFrame) and len(randomized):
            is_relevant = (randomized[schema.RATING] >= c.relevant_rating).to_numpy().astype(int)
            scores = model.predict(randomized[schema.USER], randomized[schema.ITEM])
            if len(np.unique(is_relevant)) == 2:
                metrics["randomized_auc"] = auc(is_relevant, scores)
            candidates = randomized[[schema.USER, schema.ITEM]].assign(score=scores)
            relevant = randomized.loc[is_relevant == 1, [schema.USER, schema.ITEM]]
            if len(relevant):
                ranking = evaluate_ranking(candidates, relevant, k=c.k)
                metrics.update({f"randomized_{_at(name, c.k)}": value for name, value in ranking.items()})
        metrics[f"coverage@{c.k}"] = catalogue_coverage(recs, model.n_items_)
        if schema.POPULARITY in self.world_.items:
            popularity = self.world_.items.set_index(schema.ITEM)[schema.POPULARITY]
            metrics[f"mean_popularity@{c.k}"] = mean_popularity(recs, popularity)
        self.metrics_ = {key: float(value) for key, value in metrics.items()}
        self._timed("evaluation", start)
        return self.metrics_

    def run(self, world) -> PipelineReport:
        """Every step in order; return the :class:`PipelineReport`."""
        steps = [lambda: self.load(world), self.preprocess, self.decide_branch, self.extract_features,
                 self.train, self.importance, self.predict, self.recommend, self.evaluate]
        self.timings_ = {}
        if self.verbose:
            from ._checks import progress_bar
            bar = progress_bar(total=len(steps), desc="pipeline", unit="step")
        for name, step in zip(STEPS, steps):
            if self.verbose:
                bar.set_postfix_str(name)
            step()
            if self.verbose:
                bar.update(1)
        if self.verbose:
            bar.close()
        return self.report()

    def report(self) -> PipelineReport:
        """The :class:`PipelineReport` of the steps run so far (all must have run)."""
        self._require("metrics_", "evaluate")
        return PipelineReport(config=self.config, data=dict(self.data_), cleaning=self.cleaning_,
                              branch=self.branch_, metrics=dict(self.metrics_),
                              recommendations=self.recommendations_, importance=self.importance_,
                              timings={step: self.timings_[step] for step in STEPS if step in self.timings_})

    # ------------------------------------------------------------ explanations
    def explain(self, user: int, *, n: int = 3) -> pd.DataFrame:
        """Model-based reasons for one user's recommendations (not causes).

        For each recommended item: its category and the share of the user's
        logged positives in that category, and the ``n`` items they engaged with (``config.target`` = 1) whose TF-IDF
        description is most similar (cosine), with that similarity.

        Returns
        -------
        pandas.DataFrame
            ``rank, item_id, score, description, category, category_share,
            similar_past_items, content_similarity`` (the last two when the
            items have descriptions and the user has positives).
        """
        recs = self._require("recommendations_", "recommend")
        features = self._require("features_", "extract_features")
        items = self.world_.items.set_index(schema.ITEM)
        mine = recs[recs[schema.USER] == user]
        if mine.empty:
            raise ValueError(f"user={user!r} has no recommendations")
        positives = self.clean_.loc[(self.clean_[schema.USER] == user) & (self.clean_[self.config.target] == 1),
                                    schema.ITEM].unique()
        rows = []
        categories = None
        if schema.CATEGORY in items and len(positives):
            categories = items.loc[positives, schema.CATEGORY].value_counts(normalize=True)
        for _, rec in mine.iterrows():
            item = int(rec[schema.ITEM])
            row = {"rank": int(rec["rank"]), schema.ITEM: item, "score": float(rec["score"])}
            if schema.DESCRIPTION in items:
                row[schema.DESCRIPTION] = items.loc[item, schema.DESCRIPTION]
            if schema.CATEGORY in items:
                row[schema.CATEGORY] = items.loc[item, schema.CATEGORY]
                row["category_share"] = (float(categories.get(row[schema.CATEGORY], 0.0))
                                         if categories is not None else 0.0)
            if features.text is not None and len(positives):
                text = features.text
                norms = np.linalg.norm(text, axis=1) + 1e-12
                similarity = text[positives] @ text[item] / (norms[positives] * norms[item])
                order = np.argsort(-similarity, kind="stable")[:n]
                row["similar_past_items"] = [int(positives[j]) for j in order]
                row["content_similarity"] = float(similarity[order[0]])
            rows.append(row)
        return pd.DataFrame(rows)


def run_pipeline(world_or_data, config: PipelineConfig | dict | None = None, *,
                 verbose: bool = True) -> PipelineReport:
    """Run the whole flowchart on a world and return its report.

    Parameters
    ----------
    world_or_data : ShopWorld or RatingsData
    config : PipelineConfig or dict, optional
        A dict goes through :meth:`PipelineConfig.from_dict` (unknown keys are an error).
    verbose : bool
        Progress bars.

    Returns
    -------
    PipelineReport
    """
    if config is None:
        config = PipelineConfig()
    elif isinstance(config, dict):
        config = PipelineConfig.from_dict(config)
    return Pipeline(config, verbose=verbose).run(world_or_data)
