"""A thin adapter over DoWhy: model and identify (:func:`causal_model`), :func:`estimate_effect`,
:func:`refute`; baselines ignoring confounding return the same :class:`EffectEstimate`."""

from __future__ import annotations

import contextlib
import logging
import re
import statistics
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from . import schema
from ._checks import check_dataframe, check_fraction, check_numeric_column, check_positive_int, check_random_state

#: Column of :func:`analysis_frame` holding ``log(1 + popularity)``.
LOG_POPULARITY = "log_popularity"

#: Our estimator names -> DoWhy's. "regression_adjustment" is OLS with treatment x back-door terms
#: (Lin 2013); "linear_regression" has none (DoWhy would add them for ``group``, a cause of the outcome).
ESTIMATORS = {"linear_regression": "backdoor.linear_regression",
              "regression_adjustment": "backdoor.linear_regression",
              "stratification": "backdoor.propensity_score_stratification",
              "matching": "backdoor.propensity_score_matching",
              "weighting": "backdoor.propensity_score_weighting"}

REFUTERS = {"placebo": "placebo_treatment_refuter", "random_common_cause": "random_common_cause",
            "data_subset": "data_subset_refuter"}

_PROPENSITY = frozenset({"stratification", "matching", "weighting"})  # need a back-door variable
_BINARY_ONLY = _PROPENSITY | {"regression_adjustment"}
_FRAME_COLUMNS = (schema.USER, schema.ITEM, schema.DAY, schema.POLICY_SCORE, LOG_POPULARITY, schema.PRICE,
                  schema.CATEGORY, schema.GROUP, schema.ACTIVITY, schema.PRICE_SENSITIVITY, schema.EXPOSED,
                  schema.POSITION, schema.CLICKED, schema.PURCHASED)


@contextlib.contextmanager
def _quiet_dowhy(frame: pd.DataFrame | None = None):
    """Quiet DoWhy; drop the columns its propensity estimators add to ``frame`` (a refuter would reuse them)."""
    logger = logging.getLogger("dowhy")
    level, before = logger.level, None if frame is None else list(frame.columns)
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"The copy keyword is deprecated")  # pandas 3
            warnings.filterwarnings("ignore", message=r"\d+ variables are assumed unobserved", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)
        for column in [] if frame is None else [c for c in frame.columns if c not in before]:
            del frame[column]


def parse_graph(graph) -> nx.DiGraph:
    """``graph`` (a DOT string such as ``"digraph { a -> b; }"`` or a DiGraph) as a new DiGraph.
    >>> sorted(parse_graph("digraph { z -> t; z -> y; t -> y; }").edges())
    [('t', 'y'), ('z', 't'), ('z', 'y')]
    """
    if isinstance(graph, nx.DiGraph) and not isinstance(graph, nx.MultiDiGraph):
        return nx.DiGraph(graph)
    if not isinstance(graph, str):
        raise TypeError(f"graph must be a DOT string or a networkx.DiGraph, got {type(graph).__name__}")
    if not re.search(r"\bdigraph\b", graph):
        raise ValueError(f"graph must be a DOT string of a directed graph ('digraph {{ ... }}'), got {graph[:60]!r}")
    import pydot
    with warnings.catch_warnings():  # pydot builds its grammar with names pyparsing 3.3 deprecates
        warnings.filterwarnings("ignore", module=r"pydot|pyparsing")
        try:
            parsed = pydot.graph_from_dot_data(graph)
        except Exception as error:  # pyparsing's own exception types
            raise ValueError(f"graph is not valid DOT: {error}") from None
    if not parsed:
        raise ValueError(f"graph is not valid DOT: {graph[:60]!r}")
    return nx.DiGraph(nx.nx_pydot.from_pydot(parsed[0]))


def simulator_graph(world) -> str:
    """The simulator's DAG (DOT), ``popularity`` renamed ``log_popularity`` as in :func:`analysis_frame`.
    >>> import causalrec as cr
    >>> "log_popularity -> exposed" in simulator_graph(cr.simulate_shop(n_users=20, n_items=20, random_state=0))
    True
    """
    return re.sub(rf"\b{schema.POPULARITY}\b", LOG_POPULARITY, world.truth.dag)


def _check_nodes(g, **nodes) -> None:
    for role, node in nodes.items():
        if node not in g:
            raise ValueError(f"the graph has no node {node!r} (the {role}); its nodes are {sorted(g)}")


def backdoor_paths(graph, treatment: str, outcome: str) -> list[tuple[str, ...]]:
    """Every path from ``treatment`` to ``outcome`` whose first edge points *into* the treatment, shortest first.
    >>> backdoor_paths("digraph { z -> t; z -> y; t -> y; }", "t", "y")
    [('t', 'z', 'y')]
    """
    g = parse_graph(graph)
    _check_nodes(g, treatment=treatment, outcome=outcome)
    paths = nx.all_simple_paths(g.to_undirected(), treatment, outcome)
    return sorted((tuple(p) for p in paths if g.has_edge(p[1], p[0])), key=lambda p: (len(p), p))


def satisfies_backdoor(graph, treatment: str, outcome: str, adjustment: Iterable[str]) -> bool:
    """Does ``adjustment`` hold no descendant of the treatment and block every back-door path?
    >>> g = "digraph { z -> t; z -> y; t -> m; m -> y; }"
    >>> [satisfies_backdoor(g, "t", "y", s) for s in (["z"], [], ["z", "m"])]
    [True, False, False]
    """
    g = parse_graph(graph)
    _check_nodes(g, treatment=treatment, outcome=outcome)
    if isinstance(adjustment, str):
        raise TypeError(f"adjustment must be a collection of node names, got the string {adjustment!r}")
    adjustment = set(adjustment)
    if unknown := sorted(adjustment - set(g)):
        raise ValueError(f"adjustment variables {unknown} are not nodes of the graph")
    if adjustment & {treatment, outcome}:
        raise ValueError("adjustment must not contain the treatment or the outcome")
    if adjustment & nx.descendants(g, treatment):
        return False
    g.remove_edges_from(list(g.out_edges(treatment)))
    return bool(nx.is_d_separator(g, {treatment}, {outcome}, adjustment))


def analysis_frame(world) -> pd.DataFrame:
    """One row per logged pair joined with its item and user; ``exposed`` bool, no ``rating`` (an effect).
    >>> import causalrec as cr
    >>> frame = analysis_frame(cr.simulate_shop(n_users=30, n_items=20, random_state=0))
    >>> frame["exposed"].dtype, list(frame.columns[3:5])
    (dtype('bool'), ['policy_score', 'log_popularity'])
    """
    logged = check_dataframe(getattr(world, "interactions", None), "world.interactions",
                             [c for c in schema.INTERACTION_COLUMNS if c != schema.RATING])
    users = check_dataframe(getattr(world, "users", None), "world.users", schema.USER_COLUMNS).set_index(schema.USER)
    items = check_dataframe(getattr(world, "items", None), "world.items", (schema.ITEM, schema.CATEGORY, schema.PRICE,
                                                                           schema.POPULARITY)).set_index(schema.ITEM)
    for key, table in ((schema.USER, users), (schema.ITEM, items)):
        if (unknown := ~logged[key].isin(table.index)).any():
            raise ValueError(f"world.interactions holds {int(unknown.sum())} row(s) whose {key} is not in the "
                             f"world's table of {key[:-3]}s, such as {logged[key][unknown].iloc[0]}")
    frame = (logged.reset_index(drop=True)
             .join(items[[schema.PRICE, schema.CATEGORY, schema.POPULARITY]], on=schema.ITEM)
             .join(users[[schema.GROUP, schema.ACTIVITY, schema.PRICE_SENSITIVITY]], on=schema.USER))
    frame[LOG_POPULARITY] = np.log1p(frame[schema.POPULARITY].to_numpy(dtype=float))
    frame[schema.EXPOSED] = frame[schema.EXPOSED].to_numpy() == 1
    return frame[list(_FRAME_COLUMNS)].astype({schema.POLICY_SCORE: float, schema.PRICE: float})


@dataclass(frozen=True)
class Refutation:
    """One refutation test; ``expected`` is 0 for the placebo, else the estimate; passed: p >= 0.05."""
    name: str
    new_effect: float
    expected: float
    p_value: float
    passed: bool


@dataclass(frozen=True)
class EffectEstimate:
    """An average treatment effect; ``ci_low, ci_high`` NaN where the method has no interval."""
    method: str
    value: float
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n: int = 0
    adjustment: tuple = ()
    seconds: float = 0.0
    refutations: tuple = ()
    dowhy_estimate: Any = field(default=None, repr=False, compare=False)


class EffectTable:
    """Several :class:`EffectEstimate` s with distinct methods, indexed by method name."""

    def __init__(self, estimates: Iterable[EffectEstimate]):
        self.estimates = tuple(estimates)
        if other := [type(e).__name__ for e in self.estimates if not isinstance(e, EffectEstimate)]:
            raise TypeError(f"EffectTable holds EffectEstimate objects, got {other[0]}")
        if repeated := sorted({m for m in self.methods if self.methods.count(m) > 1}):
            raise ValueError(f"EffectTable needs distinct methods; repeated: {repeated}")

    def __iter__(self):
        return iter(self.estimates)

    def __getitem__(self, method: str) -> EffectEstimate:
        if method in self.methods:
            return self.estimates[self.methods.index(method)]
        raise KeyError(f"no estimate for {method!r}; the table has {self.methods}")

    @property
    def methods(self) -> list[str]:
        return [e.method for e in self.estimates]

    def to_frame(self, truth: float | None = None) -> pd.DataFrame:
        """One row per method, a column per refuter; with ``truth``: ``truth, error, relative_error``."""
        rows = [{"estimate": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "seconds": e.seconds,
                 **{k: v for r in e.refutations for k, v in ((r.name, r.new_effect), (f"{r.name}_passed", r.passed))}}
                for e in self.estimates]
        frame = pd.DataFrame(rows, index=pd.Index(self.methods, name="method"))
        if truth is None:
            return frame
        truth = float(truth)
        return frame.assign(truth=truth, error=frame["estimate"] - truth, relative_error=lambda f: f["error"] / truth)

    def __repr__(self) -> str:
        return self.to_frame().round(4).to_string()


def _check_columns(data, treatment, outcome) -> None:
    check_dataframe(data, "data", [treatment, outcome])
    for role, column in (("treatment", treatment), ("outcome", outcome)):
        check_numeric_column(data, column, f"data (the {role})")
    if treatment == outcome:
        raise ValueError(f"treatment and outcome must be different columns, both are {treatment!r}")


def _is_binary(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series) or bool(np.isin(series.to_numpy(), (0, 1)).all())


def _binary_treatment(data: pd.DataFrame, column: str, what: str) -> np.ndarray:
    series = data[column]
    if not _is_binary(series):
        values = series[~series.isin([0, 1])].unique()[:3].tolist()
        raise ValueError(f"{what} needs a binary treatment (0/1 or bool), but column {column!r} "
                         f"holds other values such as {values}")
    t = series.to_numpy().astype(bool)
    if t.all() or not t.any():
        raise ValueError(f"the treatment column {column!r} must hold both treated and untreated rows; "
                         f"it has {int(t.sum())} treated of {len(t)}")
    return t


def naive_difference(data: pd.DataFrame, *, treatment: str = schema.EXPOSED, outcome: str = schema.PURCHASED,
                     confidence_level: float = 0.95) -> EffectEstimate:
    """Mean outcome of treated minus untreated rows (a correlation), with a normal (Welch) interval.
    >>> df = pd.DataFrame({"exposed": [0, 0, 1, 1], "purchased": [0, 1, 1, 1]})
    >>> naive_difference(df).value
    0.5
    """
    _check_columns(data, treatment, outcome)
    z = statistics.NormalDist().inv_cdf(0.5 + check_fraction(confidence_level, "confidence_level",
                                                             inclusive=(False, False)) / 2)
    start = time.perf_counter()
    t = _binary_treatment(data, treatment, "naive_difference")
    y = data[outcome].to_numpy(dtype=float)
    y1, y0 = y[t], y[~t]
    value = float(y1.mean() - y0.mean())
    se = float(np.sqrt(sum(a.var(ddof=1) / len(a) for a in (y1, y0) if len(a) > 1)))
    return EffectEstimate("naive_difference", value, value - z * se, value + z * se, n=len(y),
                          seconds=time.perf_counter() - start)


def unadjusted_regression(data: pd.DataFrame, *, treatment: str = schema.EXPOSED,
                          outcome: str = schema.PURCHASED, confidence_level: float = 0.95) -> EffectEstimate:
    """OLS (statsmodels) of the outcome on the treatment alone, t interval; equals :func:`naive_difference`.
    >>> df = pd.DataFrame({"exposed": [0, 0, 1, 1], "purchased": [0, 1, 1, 1]})
    >>> round(unadjusted_regression(df).value, 10)
    0.5
    """
    _check_columns(data, treatment, outcome)
    level = check_fraction(confidence_level, "confidence_level", inclusive=(False, False))
    start = time.perf_counter()
    t = _binary_treatment(data, treatment, "unadjusted_regression").astype(float)
    if len(t) < 3:
        raise ValueError(f"unadjusted_regression needs at least 3 rows of data, got {len(t)}")
    fit = OLS(data[outcome].to_numpy(dtype=float), np.column_stack([np.ones_like(t), t])).fit()
    low, high = fit.conf_int(alpha=1 - level)[1]
    return EffectEstimate("unadjusted_regression", float(fit.params[1]), float(low), float(high), n=len(t),
                          seconds=time.perf_counter() - start)


@dataclass(frozen=True)
class CausalSetup:
    """DoWhy's ``model`` and identified ``estimand``; ``latent_variables``: graph nodes not in ``data``."""
    data: pd.DataFrame = field(repr=False)
    treatment: str
    outcome: str
    graph: Any = field(repr=False)
    common_causes: tuple | None
    backdoor_variables: tuple
    latent_variables: tuple
    model: Any = field(repr=False, compare=False)
    estimand: Any = field(repr=False, compare=False)


def causal_model(data: pd.DataFrame, graph=None, *, treatment: str = schema.EXPOSED,
                 outcome: str = schema.PURCHASED, common_causes: Sequence[str] | None = None) -> CausalSetup:
    """DoWhy's ``CausalModel`` for ``data`` and ``graph`` (DOT or DiGraph) or ``common_causes``, identified.
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=100, n_items=40, random_state=0)
    >>> causal_model(analysis_frame(world), simulator_graph(world)).backdoor_variables
    ('log_popularity', 'policy_score')
    """
    _check_columns(data, treatment, outcome)
    if (graph is None) == (common_causes is None):
        raise ValueError("give exactly one of graph (a causal graph) or common_causes (a list of columns)")
    g, causes, latent = None, None, ()
    if graph is not None:
        g = parse_graph(graph)
        _check_nodes(g, treatment=treatment, outcome=outcome)
        if not nx.is_directed_acyclic_graph(g):
            raise ValueError(f"the graph must be acyclic, but it has the cycle {nx.find_cycle(g)}")
        if not nx.has_path(g, treatment, outcome):
            raise ValueError(f"the graph has no directed path from {treatment!r} to {outcome!r}: "
                             "it assumes the effect is zero")
        latent = tuple(sorted(str(n) for n in g if n not in data.columns))
    else:
        if isinstance(common_causes, str):
            raise TypeError(f"common_causes must be a list of column names, got the string {common_causes!r}")
        causes = tuple(common_causes)
        check_dataframe(data, "data (the common_causes)", causes)
        if set(causes) & {treatment, outcome}:
            raise ValueError("common_causes must not include the treatment or the outcome")
    work = data.copy()
    if _is_binary(work[treatment]):
        work[treatment] = work[treatment].to_numpy() == 1
    hook = sys.displayhook  # DoWhy, imported on first use, replaces sys.displayhook: put it back
    try:
        with warnings.catch_warnings():  # tqdm.auto, inside Jupyter without ipywidgets
            warnings.filterwarnings("ignore", message=r"IProgress not found", module=r"tqdm")
            from dowhy import CausalModel
    finally:
        sys.displayhook = hook
    with _quiet_dowhy():
        model = CausalModel(data=work, treatment=treatment, outcome=outcome, graph=g,
                            common_causes=None if causes is None else list(causes))
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
    backdoor = estimand.get_backdoor_variables()
    if estimand.estimands.get("backdoor") is None or backdoor is None:
        raise ValueError(f"the effect of {treatment!r} on {outcome!r} is not identified by the back-door "
                         f"criterion: no observed set blocks every back-door path (latent: {list(latent)})")
    backdoor = tuple(sorted(str(b) for b in backdoor))
    for column in backdoor:
        if missing := int(work[column].isna().sum()):
            raise ValueError(f"the adjustment variable {column!r} holds {missing} missing value(s) (NaN)")
    return CausalSetup(work, treatment, outcome, g, causes, backdoor, latent, model, estimand)


def _check_setup(setup) -> None:
    if not isinstance(setup, CausalSetup):
        raise TypeError(f"setup must be a CausalSetup from causal_model, got {type(setup).__name__}")


def estimate_effect(setup: CausalSetup, method: str = "regression_adjustment", *, num_strata: int = 50,
                    confidence_level: float = 0.95) -> EffectEstimate:
    """The average treatment effect by one back-door estimator of :data:`ESTIMATORS`
    (``linear_regression``: a variance-weighted average of effects, not the ATE, but an interval).
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=200, n_items=60, random_state=0)
    >>> setup = causal_model(analysis_frame(world), simulator_graph(world))
    >>> abs(estimate_effect(setup, "weighting").value - world.truth.ate) < 0.03
    True
    """
    _check_setup(setup)
    if method not in ESTIMATORS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(ESTIMATORS)}")
    num_strata = check_positive_int(num_strata, "num_strata", minimum=2)
    level = check_fraction(confidence_level, "confidence_level", inclusive=(False, False))
    if method in _BINARY_ONLY:
        _binary_treatment(setup.data, setup.treatment, f"method {method!r}")
    if method in _PROPENSITY and not setup.backdoor_variables:
        raise ValueError(f"method {method!r} models the propensity from the adjustment set, which is empty: "
                         "use 'linear_regression' or naive_difference")
    interval = method == "linear_regression"
    params = {"regression_adjustment": {"need_conditional_estimates": False},
              "stratification": {"num_strata": num_strata},
              "linear_regression": {"confidence_level": level}}.get(method)
    modifiers = list(setup.backdoor_variables) if method == "regression_adjustment" else []
    start = time.perf_counter()
    with _quiet_dowhy(setup.data):
        raw = setup.model.estimate_effect(setup.estimand, method_name=ESTIMATORS[method], method_params=params,
                                          effect_modifiers=modifiers, confidence_intervals=interval)
        bounds = np.asarray(raw.get_confidence_intervals() if interval else [np.nan] * 2, dtype=float).ravel()
    return EffectEstimate(method, float(raw.value), float(bounds[0]), float(bounds[1]), n=len(setup.data),
                          adjustment=setup.backdoor_variables, seconds=time.perf_counter() - start, dowhy_estimate=raw)


def estimate_effects(setup: CausalSetup, methods: Sequence[str] = tuple(ESTIMATORS), *,
                     num_strata: int = 50) -> EffectTable:
    """:func:`estimate_effect` for each of ``methods``, as an :class:`EffectTable`."""
    return EffectTable(estimate_effect(setup, method, num_strata=num_strata) for method in methods)


def refute(setup: CausalSetup, estimate: EffectEstimate, refuters: Sequence[str] = tuple(REFUTERS), *,
           num_simulations: int = 10, subset_fraction: float = 0.8, random_state=0) -> EffectEstimate:
    """A copy of ``estimate`` with DoWhy's ``refuters`` of :data:`REFUTERS` in ``refutations``; one passes when
    DoWhy does not call the change significant (p > 0.05: a normal test below 100 simulations, percentiles from 100)."""
    _check_setup(setup)
    if not isinstance(estimate, EffectEstimate) or estimate.dowhy_estimate is None:
        raise ValueError("refute needs an EffectEstimate from estimate_effect; "
                         f"{getattr(estimate, 'method', estimate)!r} did not come from DoWhy")
    refuters = [refuters] if isinstance(refuters, str) else list(refuters)
    if unknown := [r for r in refuters if r not in REFUTERS]:
        raise ValueError(f"unknown refuter(s) {unknown}; choose from {list(REFUTERS)}")
    num_simulations = check_positive_int(num_simulations, "num_simulations", minimum=2)
    subset_fraction = check_fraction(subset_fraction, "subset_fraction", inclusive=(False, False))
    rng = check_random_state(random_state)
    outcomes = []
    for name in refuters:
        options = {"num_simulations": num_simulations,
                   "random_state": np.random.RandomState(int(rng.integers(2**31 - 1))),
                   # DoWhy's default placebo draws from the unseeded global RNG
                   **({"placebo_type": "permute"} if name == "placebo" else {}),
                   **({"subset_fraction": subset_fraction} if name == "data_subset" else {})}
        with _quiet_dowhy(setup.data):
            result = setup.model.refute_estimate(setup.estimand, estimate.dowhy_estimate,
                                                 method_name=REFUTERS[name], **options)
        p_value = float((result.refutation_result or {}).get("p_value", float("nan")))
        outcomes.append(Refutation(name, float(np.ravel(result.new_effect)[0]),
                                   0.0 if name == "placebo" else estimate.value, p_value, bool(p_value > 0.05)))
    return replace(estimate, refutations=estimate.refutations + tuple(outcomes))


def effect_by_group(setup: CausalSetup, by: str, method: str = "regression_adjustment", *,
                    num_strata: int = 50) -> pd.DataFrame:
    """The average effect (``estimate, n``) within each value of the column ``by``, model rebuilt."""
    _check_setup(setup)
    check_dataframe(setup.data, "the data (by)", [by])
    if setup.data[by].isna().any():
        raise ValueError(f"the column by={by!r} holds missing values (NaN); every row needs a group")
    values = sorted(setup.data[by].unique())
    rows = []
    for value in values:
        part = setup.data[setup.data[by] == value].reset_index(drop=True)
        sub = causal_model(part, setup.graph, treatment=setup.treatment, outcome=setup.outcome,
                           common_causes=setup.common_causes)
        rows.append({"estimate": estimate_effect(sub, method, num_strata=num_strata).value, "n": len(part)})
    return pd.DataFrame(rows, index=pd.Index(values, name=by))
