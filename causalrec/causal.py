"""Causal effects with DoWhy: model -> identify -> estimate -> refute.

A thin adapter over `DoWhy <https://www.pywhy.org/dowhy>`_'s four verbs that
returns small result objects the chapters print and plot next to the
simulator's truth:

1. **Model.** :func:`build_model` takes a DataFrame and either a causal graph
   (a DOT string such as ``world.truth.dag``, or a :class:`networkx.DiGraph`)
   or a list of common causes, and checks both against each other.
2. **Identify.** The same call asks DoWhy for a back-door adjustment set and
   stores it as :attr:`CausalSetup.backdoor_variables`.
3. **Estimate.** :func:`estimate_effect` runs one of :data:`ESTIMATORS`
   (chosen by a short name, never by parsing a string) and returns an
   :class:`EffectEstimate`; :func:`estimate_effects` runs several into an
   :class:`EffectTable`.
4. **Refute.** :func:`refute` runs the :data:`REFUTERS` (placebo treatment,
   random common cause, data subset) on an estimate.

Two baselines that ignore confounding, :func:`naive_difference` and
:func:`unadjusted_regression`, return the same kind of object, so that naive
and causal numbers sit in one table. :func:`analysis_frame` and
:func:`simulator_graph` turn a simulated world into the frame and graph these
functions expect, and :func:`draw_graph` draws any causal graph in layers.

DoWhy (and networkx, pydot) are imported inside the functions that need them,
so ``import causalrec`` stays fast and works without DoWhy installed.
The warnings DoWhy's dependencies raise under pandas 3 are silenced only
around the calls that raise them.

Two details of DoWhy 0.14 that this module handles for you:

- Its propensity-score estimators write a ``propensity_score`` column (and
  weighting, a dozen weight columns) into the model's data. A refuter that
  later copies that data reuses the *old* scores for the placebo treatment,
  which on the default world turns the placebo effect of weighting into about
  -0.2, a spurious failure. Every column DoWhy adds is removed after each call.
- With a graph, DoWhy treats every cause of the outcome that does not cause the
  treatment (here, ``group``) as an effect modifier and adds treatment x
  modifier terms to its linear regression. Here ``linear_regression`` has no
  interaction terms, and ``regression_adjustment`` interacts the treatment
  with the back-door variables, on purpose.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from . import schema
from ._checks import check_dataframe, check_fraction, check_positive_int, check_random_state

__all__ = [
    "ESTIMATORS", "REFUTERS", "LOG_POPULARITY",
    "analysis_frame", "simulator_graph", "parse_graph", "to_dot", "draw_graph",
    "backdoor_paths", "satisfies_backdoor",
    "build_model", "estimate_effect", "estimate_effects", "refute", "effect_by_group",
    "naive_difference", "unadjusted_regression",
    "CausalSetup", "EffectEstimate", "EffectTable", "Refutation", "plot_effects",
]

#: Column of :func:`analysis_frame` holding ``log(1 + popularity)``.
LOG_POPULARITY = "log_popularity"

#: Our estimator names -> DoWhy method names.
ESTIMATORS = {
    # outcome ~ treatment + back-door variables (additive), by OLS
    "linear_regression": "backdoor.linear_regression",
    # the same OLS plus treatment x back-door interactions; the ATE is the mean
    # predicted difference between treated and untreated (Lin 2013)
    "regression_adjustment": "backdoor.linear_regression",
    "stratification": "backdoor.propensity_score_stratification",
    "matching": "backdoor.propensity_score_matching",
    "weighting": "backdoor.propensity_score_weighting",
}

#: Our refuter names -> DoWhy refuter names.
REFUTERS = {
    "placebo": "placebo_treatment_refuter",
    "random_common_cause": "random_common_cause",
    "data_subset": "data_subset_refuter",
}

# Estimators that only make sense for a binary (0/1 or bool) treatment.
_BINARY_ONLY = frozenset({"regression_adjustment", "stratification", "matching", "weighting"})
# Estimators that model the propensity score and so need at least one back-door variable.
_PROPENSITY = frozenset({"stratification", "matching", "weighting"})
# DoWhy gives an interval without resampling only for plain linear regression.
_ANALYTIC_INTERVAL = frozenset({"linear_regression"})


# --------------------------------------------------------------------------------------
# Narrow warning filters, each used only around the calls that raise it.
# --------------------------------------------------------------------------------------

def _pandas4_warning():
    import pandas.errors
    return getattr(pandas.errors, "Pandas4Warning", DeprecationWarning)


def _pyparsing_warnings():
    try:
        from pyparsing.warnings import PyparsingDeprecationWarning, PyparsingDiagnosticWarning
    except ImportError:  # older pyparsing: nothing specific to filter
        return ()
    return (PyparsingDeprecationWarning, PyparsingDiagnosticWarning)


@contextlib.contextmanager
def _dot_parsing():
    """pydot builds its grammar with pyparsing names deprecated in pyparsing 3.3."""
    import warnings
    with warnings.catch_warnings():
        for category in _pyparsing_warnings():
            warnings.filterwarnings("ignore", category=category, module=r"pydot")
            warnings.filterwarnings("ignore", category=category, module=r"pyparsing")
        yield


def _import_causal_model():
    """Import DoWhy's CausalModel (slow, a few seconds, so only when first needed).

    DoWhy imports ``tqdm.auto``, which warns on stderr inside Jupyter when
    ipywidgets is missing; DoWhy's progress bars are never shown here.
    DoWhy also calls ``sympy.init_printing()`` on import, which replaces
    ``sys.displayhook`` with sympy's printer (a tuple of str then shows as
    ``(a, b)``, without quotes, in a plain Python session or a doctest); the
    hook is put back.
    """
    import sys
    import warnings
    hook = sys.displayhook
    with warnings.catch_warnings():
        try:
            from tqdm import TqdmWarning
        except ImportError:  # pragma: no cover - tqdm comes with DoWhy
            pass
        else:
            warnings.filterwarnings("ignore", message=r"IProgress not found", category=TqdmWarning,
                                    module=r"tqdm")
        try:
            from dowhy import CausalModel
        finally:
            sys.displayhook = hook
    return CausalModel


@contextlib.contextmanager
def _dowhy_call(*, model_init=False):
    """Silence DoWhy's known noise around one call, and its log below errors.

    ``model_init``: also ignore "N variables are assumed unobserved", which
    :func:`build_model` turns into :attr:`CausalSetup.latent_variables`.
    """
    import warnings
    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.ERROR)  # DoWhy logs warnings to stderr through logging's last resort
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"The copy keyword is deprecated",
                                    category=_pandas4_warning(),
                                    module=r"dowhy\.causal_estimators\.regression_estimator")
            if model_init:
                warnings.filterwarnings("ignore", message=r"\d+ variables are assumed unobserved",
                                        category=UserWarning, module=r"dowhy\.causal_model")
            yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------

def parse_graph(graph):
    """Return ``graph`` as a :class:`networkx.DiGraph`.

    Parameters
    ----------
    graph : str or networkx.DiGraph
        A DOT string (``"digraph { a -> b; }"``) or a directed graph.

    Returns
    -------
    networkx.DiGraph
        A copy; the input is never modified.

    Examples
    --------
    >>> g = parse_graph("digraph { z -> t; z -> y; t -> y; }")
    >>> sorted(g.edges())
    [('t', 'y'), ('z', 't'), ('z', 'y')]
    """
    import networkx as nx

    if isinstance(graph, nx.DiGraph) and not isinstance(graph, nx.MultiDiGraph):
        return nx.DiGraph(graph)
    if isinstance(graph, nx.Graph):
        raise TypeError(f"graph must be a directed graph (networkx.DiGraph), got {type(graph).__name__}")
    if not isinstance(graph, str):
        raise TypeError(f"graph must be a DOT string or a networkx.DiGraph, got {type(graph).__name__}")
    if not re.search(r"\bdigraph\b", graph):
        raise ValueError("graph must be a DOT string of a directed graph, starting 'digraph {'; "
                         f"got {graph[:60]!r}")
    import pydot
    with _dot_parsing():
        try:
            parsed = pydot.graph_from_dot_data(graph)
        except Exception as error:  # pydot raises pyparsing's own exception types
            raise ValueError(f"graph is not valid DOT: {error}") from None
    if not parsed:
        raise ValueError(f"graph is not valid DOT: {graph[:60]!r}")
    result = nx.DiGraph()
    dot = parsed[0]
    for node in dot.get_nodes():
        name = _unquote(node.get_name())
        if name not in ("node", "edge", "graph", ""):
            result.add_node(name)
    for edge in dot.get_edges():
        result.add_edge(_unquote(str(edge.get_source())), _unquote(str(edge.get_destination())))
    return result


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def to_dot(graph) -> str:
    """A one-line DOT string for ``graph`` (edges in insertion order).

    >>> import networkx as nx
    >>> to_dot(nx.DiGraph([("z", "t"), ("t", "y")]))
    'digraph { z -> t; t -> y; }'
    """
    g = parse_graph(graph)

    def name(node):
        return node if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(node)) else f'"{node}"'

    parts = [f"{name(a)} -> {name(b)};" for a, b in g.edges()]
    parts += [f"{name(n)};" for n in g.nodes() if g.degree(n) == 0]
    return "digraph { " + " ".join(parts) + " }"


def simulator_graph(world) -> str:
    """The simulator's causal graph, with node names matching :func:`analysis_frame`.

    The only change to ``world.truth.dag`` is that ``popularity`` becomes
    ``log_popularity``: the frame holds ``log(1 + popularity)``, a one-to-one
    function of it, so adjusting for either blocks the same paths.

    Returns
    -------
    str
        A DOT string.

    Examples
    --------
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=20, n_items=20, random_state=0)
    >>> "log_popularity -> exposed" in simulator_graph(world)
    True
    """
    import networkx as nx

    g = parse_graph(world.truth.dag)
    return to_dot(nx.relabel_nodes(g, {schema.POPULARITY: LOG_POPULARITY}))


def _check_nodes(g, **nodes) -> None:
    for role, node in nodes.items():
        if node not in g:
            raise ValueError(f"the graph has no node {node!r} (the {role}); its nodes are {sorted(g.nodes())}")


def backdoor_paths(graph, treatment: str, outcome: str) -> list[tuple[str, ...]]:
    """Every path from ``treatment`` to ``outcome`` that starts with an arrow *into* the treatment.

    Arrow directions after the first edge do not matter for the list; whether a
    path is open depends on what is conditioned on (see :func:`satisfies_backdoor`).

    Returns
    -------
    list of tuple of str
        Each path as its sequence of nodes, shortest first.

    Examples
    --------
    >>> backdoor_paths("digraph { z -> t; z -> y; t -> y; }", "t", "y")
    [('t', 'z', 'y')]
    """
    import networkx as nx

    g = parse_graph(graph)
    _check_nodes(g, treatment=treatment, outcome=outcome)
    skeleton = g.to_undirected()
    paths = [tuple(p) for p in nx.all_simple_paths(skeleton, treatment, outcome) if g.has_edge(p[1], p[0])]
    return sorted(paths, key=lambda p: (len(p), p))


def satisfies_backdoor(graph, treatment: str, outcome: str, adjustment: Iterable[str]) -> bool:
    """Does ``adjustment`` satisfy the back-door criterion for ``treatment -> outcome``?

    It does when no variable in it is a descendant of the treatment and it
    blocks every back-door path, i.e. it d-separates treatment and outcome
    once the treatment's outgoing edges are removed. (Whether the variables
    are observed is a separate question.)

    Examples
    --------
    >>> g = "digraph { z -> t; z -> y; t -> m; m -> y; }"
    >>> [satisfies_backdoor(g, "t", "y", s) for s in (["z"], [], ["z", "m"])]
    [True, False, False]
    """
    import networkx as nx

    g = parse_graph(graph)
    _check_nodes(g, treatment=treatment, outcome=outcome)
    if isinstance(adjustment, str):
        raise TypeError(f"adjustment must be a collection of node names, got the string {adjustment!r}")
    adjustment = set(adjustment)
    unknown = sorted(adjustment - set(g.nodes()))
    if unknown:
        raise ValueError(f"adjustment variables {unknown} are not nodes of the graph")
    if adjustment & {treatment, outcome}:
        raise ValueError("the adjustment set must not contain the treatment or the outcome")
    if adjustment & nx.descendants(g, treatment):
        return False
    cut = g.copy()
    cut.remove_edges_from(list(g.out_edges(treatment)))
    return bool(nx.is_d_separator(cut, {treatment}, {outcome}, adjustment))


def _layered_layout(g):
    """Sugiyama-style layout: rows by topological generation, long edges routed through
    placeholder slots, rows ordered by barycentre sweeps to reduce crossings.

    Returns ``(position, routes, n_rows)``: ``position`` maps each node to (x, y);
    ``routes`` maps each edge to its list of points from source to target.
    """
    import networkx as nx

    level = {n: depth for depth, layer in enumerate(nx.topological_generations(g)) for n in layer}
    n_rows = max(level.values()) + 1
    rows = [sorted((n for n in g if level[n] == k), key=str) for k in range(n_rows)]
    above, below, chains = {}, {}, {}
    for a, b in g.edges():
        chain = [a] + [("placeholder", a, b, k) for k in range(level[a] + 1, level[b])] + [b]
        for k, node in enumerate(chain[1:-1], start=level[a] + 1):
            rows[k].append(node)
        for u, v in zip(chain, chain[1:]):
            below.setdefault(u, []).append(v)
            above.setdefault(v, []).append(u)
        chains[(a, b)] = chain

    def width(node):  # a placeholder needs less room than a labelled node
        return 0.45 if isinstance(node, tuple) else 1.0

    def place(row):  # centre the row, each node taking its width
        bounds = np.cumsum([0.0] + [width(n) for n in row])
        centres = (bounds[:-1] + bounds[1:]) / 2 - bounds[-1] / 2
        return dict(zip(row, centres))

    x = {}
    for row in rows:
        x.update(place(row))
    for sweep in range(12):  # alternate downward and upward sweeps
        downward = sweep % 2 == 0
        for k in (range(1, n_rows) if downward else range(n_rows - 2, -1, -1)):
            neighbours = above if downward else below
            current = {n: i for i, n in enumerate(rows[k])}

            def key(node):
                xs = [x[m] for m in neighbours.get(node, ())]
                return (float(np.mean(xs)) if xs else x[node], current[node])

            rows[k] = sorted(rows[k], key=key)
            x.update(place(rows[k]))

    def row_of(node):  # a placeholder ("placeholder", a, b, k) sits in row k
        return node[3] if isinstance(node, tuple) else level[node]

    position = {n: (float(x[n]), -float(level[n])) for n in g}
    routes = {edge: [(float(x[n]), -float(row_of(n))) for n in chain] for edge, chain in chains.items()}
    return position, routes, n_rows


def _clip_to_box(inside, outside, box):
    """The point where the segment from ``inside`` (a box centre) to ``outside`` leaves ``box``."""
    (x0, y0), (x1, y1) = inside, outside
    half_w, half_h = box
    dx, dy = x1 - x0, y1 - y0
    scale = min(half_w / abs(dx) if dx else np.inf, half_h / abs(dy) if dy else np.inf)
    return (x0 + dx * scale, y0 + dy * scale)


def draw_graph(graph, *, treatment=None, outcome=None, adjustment=(), observed=None, ax=None):
    """Draw a causal graph in layers, causes above their effects.

    Each row holds one topological generation (every parent sits in a row
    above); edges that skip rows are routed around the nodes in between, and
    rows are ordered to reduce crossings.

    Parameters
    ----------
    graph : str or networkx.DiGraph
    treatment, outcome : str, optional
        Nodes to colour as treatment (orange) and outcome (green).
    adjustment : iterable of str
        Nodes to colour as the adjustment set (blue).
    observed : iterable of str, optional
        The observed variables (for example a DataFrame's columns). Nodes not
        in it are drawn as latent: white, dashed outline.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.patches import Patch

    g = parse_graph(graph)
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError(f"graph has a cycle: {nx.find_cycle(g)}")
    if g.number_of_nodes() == 0:
        raise ValueError("graph has no nodes")
    position, routes, n_rows = _layered_layout(g)
    adjustment = set(adjustment)
    observed = None if observed is None else set(observed)
    xs = [p[0] for p in position.values()] + [p[0] for r in routes.values() for p in r]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.5 * (max(xs) - min(xs) + 2)), 0.95 * n_rows + 0.8))
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-n_rows + 0.5, 0.5)
    ax.set_axis_off()
    roles, texts = {}, {}
    for node, (x, y) in position.items():
        if node == treatment:
            face, edge, style, role = "tab:orange", "black", "solid", "treatment"
        elif node == outcome:
            face, edge, style, role = "tab:green", "black", "solid", "outcome"
        elif node in adjustment:
            face, edge, style, role = "tab:blue", "black", "solid", "adjustment set"
        elif observed is not None and node not in observed:
            face, edge, style, role = "white", "0.3", "dashed", "latent (not observed)"
        else:
            face, edge, style, role = "0.88", "0.3", "solid", "observed"
        texts[node] = ax.text(x, y, node, ha="center", va="center", fontsize=9, zorder=3,
                              color="white" if face == "tab:blue" else "black",
                              bbox=dict(boxstyle="round,pad=0.35", facecolor=face, edgecolor=edge,
                                        linestyle=style))
        roles[role] = (face, edge, style)
    # Arrow ends stop at the label boxes: measure each box in data units.
    to_data = ax.transData.inverted()
    box = {}
    for node, text in texts.items():
        extent = text.get_window_extent()  # in display pixels, from the figure's own renderer
        pad = 0.35 * text.get_fontsize() * ax.figure.dpi / 72 + 2
        (a0, b0), (a1, b1) = to_data.transform([(extent.x0 - pad, extent.y0 - pad),
                                                (extent.x1 + pad, extent.y1 + pad)])
        box[node] = ((a1 - a0) / 2, (b1 - b0) / 2)
    for (a, b), points in routes.items():
        points = list(points)
        points[0] = _clip_to_box(points[0], points[1], box[a])
        points[-1] = _clip_to_box(points[-1], points[-2], box[b])
        if len(points) > 2:
            ax.plot(*zip(*points[:-1]), color="0.35", lw=1.2, zorder=1)
        ax.annotate("", xy=points[-1], xytext=points[-2], zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", lw=1.2, shrinkA=0, shrinkB=0,
                                    mutation_scale=13))
    order = ["treatment", "outcome", "adjustment set", "observed", "latent (not observed)"]
    handles = [Patch(facecolor=roles[r][0], edgecolor=roles[r][1], linestyle=roles[r][2], label=r)
               for r in order if r in roles]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
    return ax


# --------------------------------------------------------------------------------------
# The analysis frame
# --------------------------------------------------------------------------------------

def analysis_frame(world) -> pd.DataFrame:
    """One row per logged candidate pair, with the features a causal analysis needs.

    Parameters
    ----------
    world : ShopWorld

    Returns
    -------
    pandas.DataFrame, one row per row of ``world.interactions`` (same order), with
        ``user_id, item_id, day, policy_score, log_popularity`` (``log(1 +
        popularity)``), ``price`` (currency units), ``category, group, activity,
        price_sensitivity, exposed`` (bool, the treatment), ``position,
        clicked, purchased`` (0/1, the outcome). ``rating`` is left out: it is
        missing for most rows and is caused by exposure, not a confounder.

    Examples
    --------
    >>> import causalrec as cr
    >>> frame = analysis_frame(cr.simulate_shop(n_users=30, n_items=20, random_state=0))
    >>> frame["exposed"].dtype
    dtype('bool')
    >>> list(frame.columns[:5])
    ['user_id', 'item_id', 'day', 'policy_score', 'log_popularity']
    """
    for part in ("interactions", "users", "items"):
        if not hasattr(world, part):
            raise TypeError(f"world must be a ShopWorld (it has no attribute {part!r}), "
                            f"got {type(world).__name__}")
    logged = check_dataframe(world.interactions, "world.interactions",
                             [c for c in schema.INTERACTION_COLUMNS if c != schema.RATING])
    users = check_dataframe(world.users, "world.users", schema.USER_COLUMNS).set_index(schema.USER)
    items = check_dataframe(world.items, "world.items",
                            (schema.ITEM, schema.CATEGORY, schema.PRICE, schema.POPULARITY)).set_index(schema.ITEM)
    user_ids, item_ids = logged[schema.USER], logged[schema.ITEM]
    for ids, table, name in ((user_ids, users, "user"), (item_ids, items, "item")):
        unknown = ~ids.isin(table.index)
        if unknown.any():
            raise ValueError(f"world.interactions holds {int(unknown.sum())} row(s) whose {name} ID is not "
                             f"in world.{name}s, such as {ids[unknown].iloc[0]}")
    frame = pd.DataFrame({
        schema.USER: user_ids.to_numpy(),
        schema.ITEM: item_ids.to_numpy(),
        schema.DAY: logged[schema.DAY].to_numpy(),
        schema.POLICY_SCORE: logged[schema.POLICY_SCORE].to_numpy(dtype=float),
        LOG_POPULARITY: np.log1p(items[schema.POPULARITY].to_numpy(dtype=float))[items.index.get_indexer(item_ids)],
        schema.PRICE: items[schema.PRICE].to_numpy(dtype=float)[items.index.get_indexer(item_ids)],
        schema.CATEGORY: items[schema.CATEGORY].to_numpy()[items.index.get_indexer(item_ids)],
        schema.GROUP: users[schema.GROUP].to_numpy()[users.index.get_indexer(user_ids)],
        schema.ACTIVITY: users[schema.ACTIVITY].to_numpy(dtype=float)[users.index.get_indexer(user_ids)],
        schema.PRICE_SENSITIVITY: users[schema.PRICE_SENSITIVITY].to_numpy(dtype=float)[
            users.index.get_indexer(user_ids)],
        schema.EXPOSED: logged[schema.EXPOSED].to_numpy() == 1,
        schema.POSITION: logged[schema.POSITION].to_numpy(),
        schema.CLICKED: logged[schema.CLICKED].to_numpy(),
        schema.PURCHASED: logged[schema.PURCHASED].to_numpy(),
    })
    return frame


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refutation:
    """The outcome of one refutation test.

    Attributes
    ----------
    name : str
        Our refuter name (a key of :data:`REFUTERS`).
    new_effect : float
        The mean estimate over the refuter's simulations.
    expected : float
        What a sound analysis should give: 0 for the placebo, the original
        estimate for the others.
    p_value : float
        DoWhy's p-value for "``expected`` is consistent with the simulations".
    passed : bool
        ``p_value >= 0.05``: the refuter found nothing wrong.
    """

    name: str
    new_effect: float
    expected: float
    p_value: float
    passed: bool


@dataclass(frozen=True)
class EffectEstimate:
    """One estimate of an average treatment effect.

    Attributes
    ----------
    method : str
        ``"naive_difference"``, ``"unadjusted_regression"`` or a key of :data:`ESTIMATORS`.
    value : float
        The estimated average effect, in outcome units per unit of treatment
        (for a purchase outcome: a change in purchase probability).
    ci_low, ci_high : float
        The confidence interval where the method gives one without
        resampling, else NaN.
    n : int
        Rows used.
    adjustment : tuple of str
        The variables adjusted for (empty for the baselines).
    seconds : float
        Wall-clock time of the estimate.
    refutations : tuple of Refutation
        Filled in by :func:`refute`.
    """

    method: str
    value: float
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n: int = 0
    adjustment: tuple = ()
    seconds: float = 0.0
    refutations: tuple = ()
    dowhy_estimate: Any = field(default=None, repr=False, compare=False)

    def refutation(self, name: str) -> Refutation:
        """The refutation called ``name``; ``KeyError`` if it was not run."""
        for r in self.refutations:
            if r.name == name:
                return r
        raise KeyError(f"no refutation {name!r} on this estimate; it has {[r.name for r in self.refutations]}")


class EffectTable:
    """Several :class:`EffectEstimate` s, printed and plotted as one table.

    Index it by method name; :meth:`to_frame` returns a DataFrame, with errors
    against the truth when one is given.

    Parameters
    ----------
    estimates : iterable of EffectEstimate
        With distinct ``method`` names.
    """

    def __init__(self, estimates: Iterable[EffectEstimate]):
        estimates = tuple(estimates)
        for e in estimates:
            if not isinstance(e, EffectEstimate):
                raise TypeError(f"EffectTable holds EffectEstimate objects, got {type(e).__name__}")
        names = [e.method for e in estimates]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"EffectTable needs distinct methods; repeated: {repeated}")
        self.estimates = estimates

    def __len__(self) -> int:
        return len(self.estimates)

    def __iter__(self):
        return iter(self.estimates)

    def __getitem__(self, method: str) -> EffectEstimate:
        for e in self.estimates:
            if e.method == method:
                return e
        raise KeyError(f"no estimate for {method!r}; the table has {self.methods}")

    @property
    def methods(self) -> list[str]:
        return [e.method for e in self.estimates]

    def to_frame(self, truth: float | None = None) -> pd.DataFrame:
        """A DataFrame indexed by method.

        Columns: ``estimate, ci_low, ci_high, seconds``; for each refuter run,
        its mean simulated effect (``<refuter>``) and whether it passed
        (``<refuter>_passed``); with ``truth``: ``truth, error`` (estimate -
        truth) and ``relative_error`` (error / truth).
        """
        rows = []
        for e in self.estimates:
            row = {"estimate": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "seconds": e.seconds}
            for r in e.refutations:
                row[r.name] = r.new_effect
                row[f"{r.name}_passed"] = r.passed
            rows.append(row)
        frame = pd.DataFrame(rows, index=pd.Index(self.methods, name="method"))
        if truth is not None:
            truth = float(truth)
            frame["truth"] = truth
            frame["error"] = frame["estimate"] - truth
            frame["relative_error"] = frame["error"] / truth
        return frame

    def __repr__(self) -> str:
        return self.to_frame().round(4).to_string()

    def _repr_html_(self) -> str:
        return self.to_frame().round(4)._repr_html_()


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------

def _check_columns(data, treatment, outcome):
    check_dataframe(data, "data")
    for role, column in (("treatment", treatment), ("outcome", outcome)):
        if not isinstance(column, str):
            raise TypeError(f"{role} must be a column name (str), got {column!r}")
        if column not in data.columns:
            raise ValueError(f"the {role} column {column!r} is not in data; its columns are {list(data.columns)}")
    if treatment == outcome:
        raise ValueError(f"treatment and outcome must be different columns, both are {treatment!r}")
    for role, column in (("treatment", treatment), ("outcome", outcome)):
        series = data[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise ValueError(f"the {role} column {column!r} must be numeric or bool, got dtype {series.dtype}")
        missing = int(series.isna().sum())
        if missing:
            raise ValueError(f"the {role} column {column!r} holds {missing} missing value(s) (NaN); "
                             "drop or impute those rows first")


def _is_binary(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    return bool(np.isin(series.to_numpy(), (0, 1)).all())


def _require_binary(series: pd.Series, column: str, what: str) -> np.ndarray:
    if not _is_binary(series):
        values = series[~series.isin([0, 1])].unique()[:3].tolist()
        raise ValueError(f"{what} needs a binary treatment (0/1 or bool), but column {column!r} "
                         f"holds other values such as {values}")
    return series.to_numpy().astype(bool)


# --------------------------------------------------------------------------------------
# Baselines that ignore confounding
# --------------------------------------------------------------------------------------

def naive_difference(data: pd.DataFrame, *, treatment: str = schema.EXPOSED, outcome: str = schema.PURCHASED,
                     confidence_level: float = 0.95) -> EffectEstimate:
    """Difference in mean outcome between treated and untreated rows.

    This is what a log shows without any adjustment: a correlation, not an
    effect. The interval is the usual normal (Welch) interval.

    Parameters
    ----------
    data : pandas.DataFrame
    treatment : str
        A binary (0/1 or bool) column.
    outcome : str
        A numeric column.
    confidence_level : float in (0, 1)

    Returns
    -------
    EffectEstimate

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"exposed": [0, 0, 1, 1], "purchased": [0, 1, 1, 1]})
    >>> naive_difference(df).value
    0.5
    """
    _check_columns(data, treatment, outcome)
    level = check_fraction(confidence_level, "confidence_level", inclusive=(False, False))
    t = _require_binary(data[treatment], treatment, "naive_difference")
    y = data[outcome].to_numpy(dtype=float)
    _check_both_arms(t, treatment)
    z = _normal_quantile(0.5 + level / 2)
    start = time.perf_counter()
    y1, y0 = y[t], y[~t]
    value = float(y1.mean() - y0.mean())
    se = float(np.sqrt(_var(y1) / len(y1) + _var(y0) / len(y0)))
    return EffectEstimate("naive_difference", value, value - z * se, value + z * se, n=len(y),
                          seconds=time.perf_counter() - start)


def unadjusted_regression(data: pd.DataFrame, *, treatment: str = schema.EXPOSED,
                          outcome: str = schema.PURCHASED, confidence_level: float = 0.95) -> EffectEstimate:
    """OLS of the outcome on the treatment alone (with an intercept).

    Its coefficient equals :func:`naive_difference` exactly: a regression
    without the right controls is the same correlation in another form. The
    interval is the classical OLS (t) interval.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"exposed": [0, 0, 1, 1], "purchased": [0, 1, 1, 1]})
    >>> round(unadjusted_regression(df).value, 10)
    0.5
    """
    from scipy import stats

    _check_columns(data, treatment, outcome)
    level = check_fraction(confidence_level, "confidence_level", inclusive=(False, False))
    t = _require_binary(data[treatment], treatment, "unadjusted_regression").astype(float)
    y = data[outcome].to_numpy(dtype=float)
    _check_both_arms(t.astype(bool), treatment)
    if len(y) < 3:
        raise ValueError(f"unadjusted_regression needs at least 3 rows, got {len(y)}")
    start = time.perf_counter()
    design = np.column_stack([np.ones_like(t), t])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    sigma2 = residual @ residual / (len(y) - 2)
    se = float(np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[1, 1]))
    q = float(stats.t.ppf(0.5 + level / 2, df=len(y) - 2))
    value = float(coef[1])
    return EffectEstimate("unadjusted_regression", value, value - q * se, value + q * se, n=len(y),
                          seconds=time.perf_counter() - start)


def _check_both_arms(t: np.ndarray, column: str) -> None:
    if t.all() or not t.any():
        raise ValueError(f"the treatment column {column!r} must hold both treated and untreated rows; "
                         f"it has {int(t.sum())} treated of {len(t)}")


def _var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if len(x) > 1 else 0.0


def _normal_quantile(p: float) -> float:
    from scipy import stats
    return float(stats.norm.ppf(p))


# --------------------------------------------------------------------------------------
# Model and identify
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class CausalSetup:
    """A DoWhy causal model with its identified estimand (from :func:`build_model`).

    Attributes
    ----------
    data : pandas.DataFrame
        The model's own copy of the data (a 0/1 treatment stored as bool).
    treatment, outcome : str
    graph : networkx.DiGraph or None
        The causal graph, or None when built from ``common_causes``.
    common_causes : tuple of str or None
    backdoor_variables : tuple of str
        The adjustment set DoWhy identified (sorted).
    latent_variables : tuple of str
        Graph nodes that are not columns of ``data`` (sorted).
    model, estimand
        DoWhy's ``CausalModel`` and ``IdentifiedEstimand``.
    """

    data: pd.DataFrame
    treatment: str
    outcome: str
    graph: Any
    common_causes: tuple | None
    backdoor_variables: tuple
    latent_variables: tuple
    model: Any = field(compare=False)
    estimand: Any = field(compare=False)

    def __repr__(self) -> str:
        return (f"CausalSetup(treatment={self.treatment!r}, outcome={self.outcome!r}, "
                f"backdoor_variables={self.backdoor_variables}, latent_variables={self.latent_variables}, "
                f"n_rows={len(self.data)})")


def build_model(data: pd.DataFrame, graph=None, *, treatment: str = schema.EXPOSED,
                outcome: str = schema.PURCHASED, common_causes: Sequence[str] | None = None) -> CausalSetup:
    """Build DoWhy's causal model and identify the effect by the back-door criterion.

    Give exactly one of ``graph`` (the full causal graph: variables missing
    from ``data`` are latent) or ``common_causes`` (DoWhy then assumes the
    simple graph in which each of them causes both treatment and outcome).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit; for the simulated shop, :func:`analysis_frame`.
    graph : str or networkx.DiGraph, optional
        For the shop, :func:`simulator_graph`.
    treatment, outcome : str
        Columns of ``data`` (and nodes of ``graph``).
    common_causes : sequence of str, optional

    Returns
    -------
    CausalSetup

    Raises
    ------
    ValueError
        If a column or node is missing, the treatment or outcome holds NaN, the
        graph has a cycle or no path from treatment to outcome, an adjustment
        variable holds NaN, or no back-door adjustment set exists.

    Examples
    --------
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=100, n_items=40, random_state=0)
    >>> setup = build_model(analysis_frame(world), simulator_graph(world))
    >>> setup.backdoor_variables
    ('log_popularity', 'policy_score')
    """
    import networkx as nx

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
                             "it assumes the effect is zero, so there is nothing to estimate")
        latent = tuple(sorted(str(n) for n in g.nodes() if n not in data.columns))
    else:
        if isinstance(common_causes, str):
            raise TypeError(f"common_causes must be a list of column names, got the string {common_causes!r}")
        causes = tuple(common_causes)
        missing = [c for c in causes if c not in data.columns]
        if missing:
            raise ValueError(f"common_causes {missing} are not columns of data; its columns are {list(data.columns)}")
        clash = [c for c in causes if c in (treatment, outcome)]
        if clash:
            raise ValueError(f"common_causes must not include the treatment or outcome, got {clash}")
    work = data.copy()
    if _is_binary(work[treatment]) and not pd.api.types.is_bool_dtype(work[treatment]):
        work[treatment] = work[treatment].to_numpy() == 1

    CausalModel = _import_causal_model()
    with _dowhy_call(model_init=True):
        model = CausalModel(data=work, treatment=treatment, outcome=outcome, graph=g,
                            common_causes=None if causes is None else list(causes))
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
    backdoor = estimand.get_backdoor_variables()
    if estimand.estimands.get("backdoor") is None or backdoor is None:
        raise ValueError(f"the effect of {treatment!r} on {outcome!r} is not identified by the back-door "
                         f"criterion: no set of observed variables blocks every back-door path "
                         f"(latent variables: {list(latent)})")
    backdoor = tuple(sorted(backdoor))
    for column in backdoor:
        missing = int(work[column].isna().sum())
        if missing:
            raise ValueError(f"the adjustment variable {column!r} holds {missing} missing value(s) (NaN)")
    return CausalSetup(work, treatment, outcome, g, causes, backdoor, latent, model, estimand)


# --------------------------------------------------------------------------------------
# Estimate
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def _restore_columns(frame: pd.DataFrame):
    """DoWhy's propensity estimators add a column to the model's data; remove it afterwards."""
    before = list(frame.columns)
    try:
        yield
    finally:
        added = [c for c in frame.columns if c not in before]
        for column in added:
            del frame[column]  # in place: DoWhy's model holds this very frame


def estimate_effect(setup: CausalSetup, method: str = "regression_adjustment", *,
                    num_strata: int = 50, confidence_level: float = 0.95) -> EffectEstimate:
    """Estimate the average treatment effect with one back-door estimator.

    Parameters
    ----------
    setup : CausalSetup
        From :func:`build_model`.
    method : str
        A key of :data:`ESTIMATORS`:

        - ``"linear_regression"``: OLS of outcome on treatment plus the
          back-door variables. With effects that vary between units it
          estimates a variance-weighted average of them, not the ATE.
        - ``"regression_adjustment"``: the same OLS with treatment x back-door
          interactions; the ATE is the mean of the predicted differences.
        - ``"stratification"``: compare treated and untreated within
          ``num_strata`` strata of the estimated propensity score.
        - ``"matching"``: match each unit to the nearest unit of the other arm
          on the propensity score.
        - ``"weighting"``: inverse-propensity weighting (normalised weights,
          propensities clipped to [0.01, 0.99]).

        Propensity scores come from a logistic regression on the back-door
        variables. All estimators here are deterministic.
    num_strata : int
        Strata for ``"stratification"``. DoWhy's own default ("auto") starts
        at one stratum per 20 rows and halves until enough strata hold 10
        treated and 10 untreated rows, which takes seconds per call.
    confidence_level : float in (0, 1)
        For the interval of ``"linear_regression"`` (the only method for which
        DoWhy gives one without resampling).

    Returns
    -------
    EffectEstimate

    Examples
    --------
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=200, n_items=60, random_state=0)
    >>> setup = build_model(analysis_frame(world), simulator_graph(world))
    >>> estimate = estimate_effect(setup, "weighting")
    >>> abs(estimate.value - world.truth.ate) < 0.03
    True
    """
    if not isinstance(setup, CausalSetup):
        raise TypeError(f"setup must be a CausalSetup from build_model, got {type(setup).__name__}")
    if method not in ESTIMATORS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(ESTIMATORS)}")
    num_strata = check_positive_int(num_strata, "num_strata", minimum=2)
    level = check_fraction(confidence_level, "confidence_level", inclusive=(False, False))
    if method in _BINARY_ONLY:
        _require_binary(setup.data[setup.treatment], setup.treatment, f"method {method!r}")
    if method in _PROPENSITY and not setup.backdoor_variables:
        raise ValueError(f"method {method!r} models the propensity score from the adjustment set, but the "
                         "adjustment set is empty (nothing confounds the effect): use 'linear_regression' "
                         "or naive_difference")
    params: dict[str, Any] = {}
    modifiers: list[str] = []
    if method == "regression_adjustment":
        modifiers = list(setup.backdoor_variables)
        params["need_conditional_estimates"] = False
    elif method == "stratification":
        params["num_strata"] = num_strata
    interval = method in _ANALYTIC_INTERVAL
    if interval:
        params["confidence_level"] = level
    start = time.perf_counter()
    with _dowhy_call(), _restore_columns(setup.data):
        raw = setup.model.estimate_effect(setup.estimand, method_name=ESTIMATORS[method],
                                          effect_modifiers=modifiers, confidence_intervals=interval,
                                          method_params=params or None)
        ci_low = ci_high = float("nan")
        if interval:
            bounds = np.asarray(raw.get_confidence_intervals(), dtype=float).ravel()
            ci_low, ci_high = float(bounds[0]), float(bounds[1])
    if raw.value is None:
        raise ValueError(f"DoWhy returned no estimate for method {method!r}")
    return EffectEstimate(method, float(raw.value), ci_low, ci_high, n=len(setup.data),
                          adjustment=setup.backdoor_variables, seconds=time.perf_counter() - start,
                          dowhy_estimate=raw)


def estimate_effects(setup: CausalSetup, methods: Sequence[str] = tuple(ESTIMATORS), *,
                     refuters: Sequence[str] = (), num_simulations: int = 10, num_strata: int = 50,
                     random_state=0) -> EffectTable:
    """Run several estimators (and optionally refuters) into an :class:`EffectTable`.

    Parameters
    ----------
    setup : CausalSetup
    methods : sequence of str
        Keys of :data:`ESTIMATORS`, in the order the table should show them.
    refuters : sequence of str
        Keys of :data:`REFUTERS` to run on every estimate (none by default:
        each runs the estimator ``num_simulations`` more times).
    num_simulations, random_state
        Passed to :func:`refute`.
    num_strata : int
        Passed to :func:`estimate_effect`.
    """
    if isinstance(methods, str):
        raise TypeError(f"methods must be a list of names, got the string {methods!r}")
    rng = check_random_state(random_state)
    results = []
    for method in methods:
        result = estimate_effect(setup, method, num_strata=num_strata)
        if refuters:
            result = refute(setup, result, refuters, num_simulations=num_simulations,
                            random_state=int(rng.integers(2**31 - 1)))
        results.append(result)
    return EffectTable(results)


# --------------------------------------------------------------------------------------
# Refute
# --------------------------------------------------------------------------------------

def refute(setup: CausalSetup, estimate: EffectEstimate, refuters: Sequence[str] = tuple(REFUTERS), *,
           num_simulations: int = 10, subset_fraction: float = 0.8, random_state=0) -> EffectEstimate:
    """Run DoWhy refutation tests on an estimate.

    - ``"placebo"``: replace the treatment by a random permutation of itself;
      a sound estimator then finds an effect near 0.
    - ``"random_common_cause"``: add an independent random column to the
      adjustment set; the estimate should barely move.
    - ``"data_subset"``: re-estimate on random subsets of ``subset_fraction``
      of the rows; the estimates should scatter around the original.

    Passing these tests does not prove the graph right: none of them can see
    a confounder that is missing from the graph.

    Parameters
    ----------
    setup : CausalSetup
        The setup the estimate came from.
    estimate : EffectEstimate
        From :func:`estimate_effect` (the baselines cannot be refuted here).
    refuters : sequence of str
        Keys of :data:`REFUTERS`.
    num_simulations : int
        Re-estimations per refuter (DoWhy's default, 100, is slow on 60,000 rows).
    subset_fraction : float in (0, 1)
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    EffectEstimate
        A copy of ``estimate`` with :attr:`EffectEstimate.refutations` filled in.
    """
    if not isinstance(setup, CausalSetup):
        raise TypeError(f"setup must be a CausalSetup from build_model, got {type(setup).__name__}")
    if not isinstance(estimate, EffectEstimate) or estimate.dowhy_estimate is None:
        raise ValueError("refute needs an EffectEstimate from estimate_effect; "
                         f"{getattr(estimate, 'method', estimate)!r} did not come from DoWhy")
    if isinstance(refuters, str):
        raise TypeError(f"refuters must be a list of names, got the string {refuters!r}")
    unknown = [r for r in refuters if r not in REFUTERS]
    if unknown:
        raise ValueError(f"unknown refuter(s) {unknown}; choose from {list(REFUTERS)}")
    num_simulations = check_positive_int(num_simulations, "num_simulations", minimum=2)
    subset_fraction = check_fraction(subset_fraction, "subset_fraction", inclusive=(False, False))
    rng = check_random_state(random_state)
    outcomes = []
    for name in refuters:
        options: dict[str, Any] = {"num_simulations": num_simulations,
                                   "random_state": np.random.RandomState(int(rng.integers(2**31 - 1)))}
        if name == "placebo":
            options["placebo_type"] = "permute"  # DoWhy's other placebo draws from the unseeded global RNG
        elif name == "data_subset":
            options["subset_fraction"] = subset_fraction
        with _dowhy_call(), _restore_columns(setup.data):
            result = setup.model.refute_estimate(setup.estimand, estimate.dowhy_estimate,
                                                 method_name=REFUTERS[name], **options)
        verdict = result.refutation_result or {}
        p_value = float(verdict.get("p_value", float("nan")))
        expected = 0.0 if name == "placebo" else estimate.value
        outcomes.append(Refutation(name, float(np.ravel(result.new_effect)[0]), expected, p_value,
                                   passed=bool(p_value >= 0.05)))
    return replace(estimate, refutations=estimate.refutations + tuple(outcomes))


# --------------------------------------------------------------------------------------
# Effects by group
# --------------------------------------------------------------------------------------

def effect_by_group(setup: CausalSetup, by: str, method: str = "regression_adjustment", *,
                    num_strata: int = 50) -> pd.DataFrame:
    """Estimate the average effect separately within each value of ``by``.

    The model is rebuilt on each group's rows with the same graph (or common
    causes), then estimated with ``method``.

    Parameters
    ----------
    setup : CausalSetup
    by : str
        A column of ``setup.data`` with a few distinct values (e.g. ``"group"``).
    method : str
        A key of :data:`ESTIMATORS`.

    Returns
    -------
    pandas.DataFrame indexed by the values of ``by``, columns ``estimate, n``.
    """
    if not isinstance(setup, CausalSetup):
        raise TypeError(f"setup must be a CausalSetup from build_model, got {type(setup).__name__}")
    if by not in setup.data.columns:
        raise ValueError(f"the column {by!r} is not in the data; its columns are {list(setup.data.columns)}")
    if setup.data[by].isna().any():
        raise ValueError(f"the column {by!r} holds missing values (NaN); every row needs a group")
    values = sorted(setup.data[by].unique())
    if len(values) > 50:
        raise ValueError(f"the column {by!r} has {len(values)} distinct values; effect_by_group is for a few groups")
    rows = []
    for value in values:
        part = setup.data[setup.data[by] == value].reset_index(drop=True)
        sub = build_model(part, setup.graph, treatment=setup.treatment, outcome=setup.outcome,
                          common_causes=setup.common_causes)
        rows.append({"estimate": estimate_effect(sub, method, num_strata=num_strata).value, "n": len(part)})
    return pd.DataFrame(rows, index=pd.Index(values, name=by))


# --------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------

def plot_effects(table: EffectTable, truth: float | None = None, *, tolerance: float | None = None,
                 ax=None, title: str = "Estimated effect of exposure on purchase"):
    """A dot plot of the estimates (with intervals where known) against the truth.

    Parameters
    ----------
    table : EffectTable
    truth : float, optional
        Drawn as a vertical line.
    tolerance : float, optional
        Shades ``truth * (1 +- tolerance)``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(table, EffectTable):
        table = EffectTable(table)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.55 * len(table) + 1.6))
    frame = table.to_frame()
    y = np.arange(len(frame))[::-1]
    naive = np.array([m in ("naive_difference", "unadjusted_regression") for m in frame.index])
    if truth is not None and tolerance is not None:
        ax.axvspan(truth * (1 - tolerance), truth * (1 + tolerance), color="tab:green", alpha=0.15,
                   label=f"truth ± {tolerance:.0%}")
    if truth is not None:
        ax.axvline(truth, color="tab:green", lw=2, label=f"true ATE = {truth:.3f}")
    for mask, colour, marker, label in ((naive, "tab:orange", "s", "ignores confounding"),
                                        (~naive, "tab:blue", "o", "adjusts (back door)")):
        if not mask.any():
            continue
        sub = frame[mask]
        has_ci = sub["ci_low"].notna().to_numpy()
        xerr = np.vstack([sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]])
        ax.errorbar(sub["estimate"][has_ci], y[mask][has_ci], xerr=xerr[:, has_ci], fmt="none",
                    ecolor=colour, capsize=3)
        ax.scatter(sub["estimate"], y[mask], color=colour, marker=marker, s=55, zorder=3, label=label)
    ax.set_yticks(y, frame.index)
    ax.set(xlabel="average effect on purchase probability (0.10 = +10 percentage points)",
           ylabel="estimator", title=title)
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", fontsize=9)
    return ax
