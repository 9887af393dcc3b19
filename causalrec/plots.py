"""Every figure of the package: each draws on ``ax`` (a new figure when None), labels its axes, sets
a title and returns the Axes. The numbers behind a figure come without drawing
(:func:`popularity_shares`, :func:`rate_by_bin`), so a chapter can assert what the reader sees.
"""

import networkx as nx
import numpy as np
import pandas as pd

from . import schema
from ._checks import check_dataframe, check_ids, check_numeric_column, check_positive_int

#: matplotlib's colour-blind-safe "tableau-colorblind10" colours, in order of use.
PALETTE = ("#006BA4", "#FF800E", "#ABABAB", "#595959", "#5F9ED1", "#C85200", "#898989", "#A2C8EC", "#FFBC79", "#CFCFCF")


# draw_graph's node boxes by role, in the legend's order
_NODE_STYLE = {role: {"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": edge, "linestyle": line}
               for role, face, edge, line in (("treatment", PALETTE[1], "black", "solid"), ("outcome", "#59A14F",
                                              "black", "solid"), ("adjustment set", PALETTE[0], "black", "solid"),
                                              ("observed", "0.88", "0.3", "solid"), ("latent", "white", "0.3", "dashed"))}


def _axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=figsize, layout="constrained")[1]


def popularity_shares(data, *, column=None, n_items=None) -> pd.Series:
    """Each item's share of all interactions, largest first (ties by ID), from one count per item
    or a log with ``item_id`` (rows counted, or ``column`` summed; absent items 0 with ``n_items``).
    >>> popularity_shares([1, 6, 3]).round(2).to_dict()
    {1: 0.6, 2: 0.3, 0: 0.1}
    """
    if isinstance(data, pd.DataFrame):
        check_dataframe(data, "data", [column] if column else [], ids=(schema.ITEM,))
        if column:
            check_numeric_column(data, column, "data")
        counts = (data.groupby(schema.ITEM)[column].sum() if column else data.groupby(schema.ITEM).size()).astype(float)
        if n_items is not None:
            check_ids(counts.index.to_numpy(), f"data[{schema.ITEM!r}]", check_positive_int(n_items, "n_items"))
            counts = counts.reindex(range(n_items), fill_value=0.0)
    elif column is not None or n_items is not None:
        raise ValueError("column and n_items apply to a log (DataFrame), not to counts")
    else:
        counts = pd.Series(data, dtype=float)
        if counts.ndim != 1 or not len(counts) or not (np.isfinite(counts) & (counts >= 0)).all():
            raise ValueError("counts must be a non-empty 1-D sequence of finite non-negative numbers")
    if not counts.sum() > 0:
        raise ValueError("there are no interactions to share out: every count is 0")
    shares = (counts / counts.sum()).rename("share").rename_axis(schema.ITEM)
    return shares.iloc[np.lexsort((shares.index.to_numpy(), -shares.to_numpy()))]


def plot_long_tail(data, *, column=None, n_items=None, what=None, ax=None):
    """Bars of each item's share (%, from :func:`popularity_shares`) by popularity rank: a few tall
    bars and a long flat tail. ``what`` names what is shared out ("past sales")."""
    shares = popularity_shares(data, column=column, n_items=n_items)
    ax = _axes(ax, (7, 3.5))
    ax.bar(np.arange(1, len(shares) + 1), 100 * shares.to_numpy(), width=1.0, color=PALETTE[0], edgecolor="none")
    what = what or (f"'{column}'" if column else "interactions")
    ax.set(xlabel="Item rank by popularity (1 = most popular)", xlim=(0.5, len(shares) + 0.5),
           ylabel=f"Share of {what} (%)", title=f"The long tail: share of {what} per item")
    return ax


def rate_by_bin(df, x, y, bins=5) -> pd.DataFrame:
    """Mean of ``y`` in ``bins`` equal-count bins of ``x`` (or bins between edges): per bin (1 =
    lowest), ``x_min, x_max, n, rate`` (NaN if empty) and ``se`` (``std / sqrt(n)``).
    >>> df = pd.DataFrame({"pop": [1, 2, 3, 4, 5, 6], "shown": [0, 0, 1, 0, 1, 1]})
    >>> rate_by_bin(df, "pop", "shown", bins=2)["rate"].round(3).tolist()
    [0.333, 0.667]
    """
    check_dataframe(df, "df", [x, y])
    for column in (x, y):
        check_numeric_column(df, column, "df")
    values = df[x].astype(float)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        binned = pd.qcut(values, check_positive_int(bins, "bins"), duplicates="drop")
        if len(binned.cat.categories) < bins:
            raise ValueError(f"column {x!r} has too few distinct values for bins={bins} equal-count bins")
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bins must be an int or at least two increasing edges, got {bins!r}")
        if (binned := pd.cut(values, edges, include_lowest=True)).isna().any():
            raise ValueError(f"{int(binned.isna().sum())} value(s) of {x!r} lie outside the edges of bins, "
                             f"e.g. {values[binned.isna()].iloc[:3].tolist()}")
    number = pd.RangeIndex(1, len(binned.cat.categories) + 1, name="bin")
    codes = binned.cat.codes.to_numpy() + 1
    rates, xs = df[y].astype(float).groupby(codes), values.groupby(codes)
    return pd.DataFrame({"x_min": xs.min(), "x_max": xs.max(), "n": rates.size(), "rate": rates.mean(),
                         "se": rates.std(ddof=1).fillna(0.0) / np.sqrt(rates.size())}
                        ).reindex(number).fillna({"n": 0}).astype({"n": np.int64})


def plot_rate_by_bin(df, x, y, bins=5, *, ax=None, xlabel=None, ylabel=None, title=None):
    """Bars of :func:`rate_by_bin` with 95% error bars (1.96 standard errors); tick labels give
    each bin's range of ``x``. E.g. ``plot_rate_by_bin(log, "popularity", "exposed")``."""
    table = rate_by_bin(df, x, y, bins)
    ax = _axes(ax, (6, 3.5))
    ax.bar(table.index, table["rate"].to_numpy(), yerr=1.96 * table["se"].to_numpy(), capsize=4,
           color=PALETTE[0], error_kw={"ecolor": PALETTE[3]})
    ax.set_xticks(table.index, [f"{i}\n{lo:.3g}–{hi:.3g}" for i, lo, hi in zip(table.index, table["x_min"], table["x_max"])])
    ax.set(xlabel=xlabel or f"Bin of {x!r} (1 = lowest; range of {x!r} below)",
           ylabel=ylabel or f"Mean of {y!r} (rate per row)", title=title or f"{y!r} by bin of {x!r} (95% intervals)")
    return ax


def plot_model_comparison(results, metric, *, reference=None, reference_label="random guessing", ax=None,
                          ylabel=None, title=None):
    """One labelled bar per model (the index of ``results``, a Series or a DataFrame with column
    ``metric``), with an optional dashed ``reference`` line (e.g. 0.5 for an AUC)."""
    if isinstance(results, pd.DataFrame):
        results = check_dataframe(results, "results", [metric])[metric]
    if not isinstance(results, pd.Series) or not len(results):
        raise TypeError(f"results must be a non-empty pandas DataFrame or Series, got {type(results).__name__}")
    values = pd.to_numeric(results, errors="raise").astype(float)
    ax = _axes(ax, (6, 3.5))
    ax.bar_label(ax.bar(np.arange(len(values)), values.to_numpy(), color=PALETTE[0]), fmt="%.3f", padding=2)
    names = [str(name) for name in values.index]
    tilt = max(map(len, names)) > 10  # long names would collide: tilt them
    ax.set_xticks(np.arange(len(values)), names, rotation=25 if tilt else 0, ha="right" if tilt else "center",
                  rotation_mode="anchor")
    if reference is not None:
        ax.axhline(reference, color=PALETTE[1], linestyle="--", linewidth=1.5, label=reference_label)
        ax.legend(loc="upper left")
    ax.set(xlabel="Model", ylabel=ylabel or metric, title=title or f"{metric} by model")
    ax.margins(y=0.15)
    return ax


def plot_user_history(world, user_id, recommendations, *, by=schema.CATEGORY, positive=schema.PURCHASED, ax=None):
    """A user's past ``positive`` items next to their recommendations (a table with ``user_id,
    item_id`` or the item IDs), counted per value of the item column ``by``."""
    items, log = world.items, world.interactions
    check_dataframe(items, "world.items", [schema.ITEM, by])
    check_dataframe(log, "world.interactions", [schema.USER, schema.ITEM, positive])
    if not np.isin(user_id, world.users[schema.USER].to_numpy()):
        raise ValueError(f"user_id {user_id!r} is not a user of this world")
    if isinstance(recommendations, pd.DataFrame):
        check_dataframe(recommendations, "recommendations", [schema.USER, schema.ITEM], allow_empty=True)
        recommendations = recommendations.loc[recommendations[schema.USER] == user_id, schema.ITEM]
    recommended = np.asarray(recommendations).reshape(-1)
    if recommended.size == 0:
        raise ValueError(f"there are no recommendations for user {user_id}")
    if (unknown := ~np.isin(recommended, items[schema.ITEM].to_numpy())).any():
        raise ValueError(f"recommendations hold unknown item ID(s) {recommended[unknown][:5].tolist()}")
    past = log.loc[(log[schema.USER] == user_id) & (log[positive] >= 1), schema.ITEM].unique()
    group_of, levels = items.set_index(schema.ITEM)[by], np.sort(items[by].unique())
    ax = _axes(ax, (7, 3.5))
    for shift, ids, colour, label in ((-0.2, past, PALETTE[0], f"{positive} before ({len(past)} items)"),
                                      (0.2, recommended, PALETTE[1], f"recommended ({len(recommended)} items)")):
        counts = group_of.loc[ids].value_counts().reindex(levels, fill_value=0)
        ax.bar(np.arange(len(levels)) + shift, counts.to_numpy(), 0.4, color=colour, label=label)
    ax.set_xticks(np.arange(len(levels)), [str(level) for level in levels])
    ax.set(xlabel=f"Item {by}", ylabel="Number of items", ylim=(0, 1.3 * ax.get_ylim()[1] + 1),  # legend room
           title=f"User {user_id}: past {positive} items and recommendations, by {by}")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", ncols=2)
    return ax


def plot_effects(table, truth: float | None = None, *, tolerance: float | None = None, ax=None,
                 title: str = "Estimated effect of exposure on purchase"):
    """A dot per estimate of a :class:`causalrec.causal.EffectTable` (with its interval where
    known), against a line at ``truth`` shaded by ``truth * (1 +- tolerance)``."""
    frame = table.to_frame()
    ax = _axes(ax, (7.5, 0.55 * len(frame) + 1.6))
    y = np.arange(len(frame))[::-1]
    naive = frame.index.isin(["naive_difference", "unadjusted_regression"])
    if truth is not None and tolerance is not None:
        ax.axvspan(truth * (1 - tolerance), truth * (1 + tolerance), color=PALETTE[4], alpha=0.2,
                   label=f"truth ± {tolerance:.0%}")
    if truth is not None:
        ax.axvline(truth, color=PALETTE[3], lw=2, label=f"true ATE = {truth:.3f}")
    for mask, colour, marker, label in ((naive, PALETTE[1], "s", "ignores confounding"),
                                        (~naive, PALETTE[0], "o", "adjusts (back door)")):
        if mask.any():
            part = frame[mask]
            ax.errorbar(part["estimate"], y[mask], xerr=[part["estimate"] - part["ci_low"], part["ci_high"]
                        - part["estimate"]], fmt=marker, color=colour, ms=7, capsize=3, label=label, zorder=3)
    ax.set_yticks(y, frame.index)
    ax.set(xlabel="average effect on purchase probability (0.10 = +10 percentage points)", ylabel="estimator",
           title=title, xlim=(0, None))
    ax.legend(loc="lower right", fontsize=9)
    return ax


def plot_importance(importance, ax=None, *, title=None, xlabel=None, color=None):
    """Horizontal bars of a :class:`causalrec.explain.Importance`: mean per block, one-std error bars."""
    frame = importance.to_frame().iloc[::-1]
    ax = _axes(ax, (6, 0.45 * len(frame) + 1.2))
    ax.barh(frame.index, frame["importance"], xerr=frame["std"], color=color or PALETTE[0], ecolor=PALETTE[3],
            capsize=3)
    ax.axvline(0, color=PALETTE[3], lw=0.8)
    default = {"gradient_saliency": "mean |gradient| summed over the block (logit per input unit)",
               "integrated_gradients": "mean |attribution| of the block (logit)",
               "permutation": f"drop in {importance.scoring or 'score'} when the block is shuffled"}
    ax.set(xlabel=xlabel or default.get(importance.method, "importance"), ylabel="input block",
           title=title or importance.method.replace("_", " "))
    return ax


def draw_graph(graph, *, treatment=None, outcome=None, adjustment=(), observed=None, ax=None):
    """A causal graph (a DiGraph: parse DOT with :func:`causalrec.causal.parse_graph`) in rows,
    causes above effects: a row per topological generation, ordered by the parents' positions;
    edges skipping rows bend outwards. Treatment orange, outcome green, ``adjustment`` blue;
    nodes not in ``observed`` (e.g. a frame's columns) are latent: white, dashed."""
    from matplotlib.patches import Patch
    g = graph
    if not isinstance(g, nx.DiGraph) or not g or not nx.is_directed_acyclic_graph(g):
        raise ValueError(f"graph must be a non-empty acyclic networkx.DiGraph, got {type(g).__name__}"
                         + (f" with the cycle {nx.find_cycle(g)}" if isinstance(g, nx.DiGraph) and g else ""))
    rows, x = [sorted(row, key=str) for row in nx.topological_generations(g)], {}
    for depth, row in enumerate(rows):
        row.sort(key=lambda n: np.mean([x[p] for p in g.predecessors(n)]) if depth else 0)
        x.update({n: i - (len(row) - 1) / 2 for i, n in enumerate(row)})
    position = {n: (x[n], -depth) for depth, row in enumerate(rows) for n in row}
    width = max(len(row) for row in rows)
    ax = _axes(ax, (max(6.0, 2.2 * width), 0.95 * len(rows) + 0.8))
    ax.set(xlim=(-width / 2 - 0.2, width / 2 + 0.2), ylim=(-len(rows) + 0.5, 0.5))
    ax.set_axis_off()
    roles, boxes = [], {}
    for node, (px, py) in position.items():
        role = ("treatment" if node == treatment else "outcome" if node == outcome else "adjustment set"
                if node in adjustment else "observed" if observed is None or node in observed else "latent")
        roles.append(role)
        # boxes are drawn before the arrows (lower zorder), so each arrow is clipped at its box
        boxes[node] = ax.text(px, py, node, ha="center", va="center", fontsize=9, zorder=1,
                              color="white" if role == "adjustment set" else "black", bbox=_NODE_STYLE[role])
    for a, b in g.edges():
        bend = 0.0 if position[a][1] - position[b][1] == 1 else 0.3 if position[a][0] + position[b][0] < 0 else -0.3
        ax.annotate("", xy=position[b], xytext=position[a], zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", lw=1.2, mutation_scale=13, shrinkA=1, shrinkB=1,
                                    patchA=boxes[a].get_bbox_patch(), patchB=boxes[b].get_bbox_patch(),
                                    connectionstyle=f"arc3,rad={bend}"))
    ax.legend(handles=[Patch(facecolor=style["facecolor"], edgecolor=style["edgecolor"], linestyle=style["linestyle"],
                             label=role) for role, style in _NODE_STYLE.items() if role in roles],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
    return ax
