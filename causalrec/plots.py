"""Figures the chapters share: the long tail, rates by bin, model comparisons, one user's story.

Every function draws on ``ax`` (a new figure when ``None``), labels both axes
with their units, gives the plot a title, and returns the
:class:`matplotlib.axes.Axes` so a chapter can add to it. Colours come from
:data:`PALETTE`, matplotlib's colour-blind-safe "tableau-colorblind10" set.

The numbers behind a figure are available without drawing it
(:func:`popularity_shares`, :func:`rate_by_bin`), so a chapter can assert what
the reader sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema
from ._checks import check_dataframe, check_id_column, check_numeric_column, check_positive_int

__all__ = ["PALETTE", "popularity_shares", "plot_long_tail", "rate_by_bin", "plot_rate_by_bin",
           "plot_model_comparison", "plot_user_history"]

#: Colour-blind-safe colours (matplotlib's "tableau-colorblind10" style), in order of use.
PALETTE = ("#006BA4", "#FF800E", "#ABABAB", "#595959", "#5F9ED1",
           "#C85200", "#898989", "#A2C8EC", "#FFBC79", "#CFCFCF")


def _axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


# --------------------------------------------------------------------------- long tail
def popularity_shares(data, *, column=None, n_items=None) -> pd.Series:
    """Each item's share of all interactions, most popular first.

    Parameters
    ----------
    data : pandas.DataFrame or array-like
        Either a log with an ``item_id`` column (one row per interaction; with
        ``column``, the sum of that column per item is counted instead, e.g.
        ``"purchased"``), or one count per item (array or Series indexed by item).
    column : str, optional
        Column of the log to sum per item (default: count rows).
    n_items : int, optional
        For a log: the number of items, so that items absent from it count as 0.

    Returns
    -------
    pandas.Series
        Shares (fractions summing to 1), indexed by item ID, sorted by share
        descending and then item ID; named ``"share"``.

    Examples
    --------
    >>> popularity_shares([1, 6, 3]).round(2).to_dict()
    {1: 0.6, 2: 0.3, 0: 0.1}
    """
    if isinstance(data, pd.DataFrame):
        check_dataframe(data, "data", [schema.ITEM] + ([column] if column else []))
        check_id_column(data, schema.ITEM, "data")
        if column:
            check_numeric_column(data, column, "data")
            counts = data.groupby(schema.ITEM)[column].sum().astype(float)
        else:
            counts = data.groupby(schema.ITEM).size().astype(float)
        if n_items is not None:
            n_items = check_positive_int(n_items, "n_items")
            outside = counts.index[(counts.index < 0) | (counts.index >= n_items)]
            if len(outside):
                raise ValueError(f"data holds item ID(s) {list(outside[:5])} outside [0, {n_items})")
            counts = counts.reindex(range(n_items), fill_value=0.0)
    else:
        if column is not None or n_items is not None:
            raise ValueError("column and n_items apply to a log (DataFrame), not to counts")
        counts = pd.Series(data, dtype=float) if not isinstance(data, pd.Series) else data.astype(float)
        if counts.ndim != 1 or len(counts) == 0:
            raise ValueError(f"counts must be a non-empty 1-D sequence, got {len(counts)} value(s)")
        if counts.isna().any() or (counts < 0).any() or not np.isfinite(counts.to_numpy()).all():
            raise ValueError("counts must be finite and non-negative (no NaN)")
    total = counts.sum()
    if not total > 0:
        raise ValueError("there are no interactions to share out: every count is 0")
    shares = (counts / total).rename("share")
    shares.index.name = schema.ITEM
    order = np.lexsort((shares.index.to_numpy(), -shares.to_numpy()))
    return shares.iloc[order]


def plot_long_tail(data, *, column=None, n_items=None, log=False, what=None, ax=None, color=None, label=None):
    """Bar chart of each item's share of interactions, items ranked by popularity.

    A long tail shows as a few tall bars on the left and a long flat tail of
    items that hardly anyone interacts with.

    Parameters
    ----------
    data, column, n_items
        As in :func:`popularity_shares`.
    log : bool
        Logarithmic y axis (zero shares are then not drawn).
    what : str, optional
        What is being shared out, for the labels (default: ``column`` or
        "interactions"), e.g. ``"past sales"``.
    ax : matplotlib.axes.Axes, optional
    color, label : optional
        Bar colour (default ``PALETTE[0]``) and legend label.

    Returns
    -------
    matplotlib.axes.Axes
        One bar per item, at x = rank (1 = most popular), height = share in %.
    """
    shares = popularity_shares(data, column=column, n_items=n_items)
    ax = _axes(ax, (7, 3.5))
    ranks = np.arange(1, len(shares) + 1)
    ax.bar(ranks, 100 * shares.to_numpy(), width=1.0, color=color or PALETTE[0], label=label,
           edgecolor="none")
    what = what or (f"'{column}'" if column else "interactions")
    ax.set_xlabel("Item rank by popularity (1 = most popular)")
    ax.set_ylabel(f"Share of {what} (%)" + (", log scale" if log else ""))
    ax.set_title(f"The long tail: share of {what} per item")
    ax.set_xlim(0.5, len(shares) + 0.5)
    if log:
        ax.set_yscale("log")
    if label:
        ax.legend()
    return ax


# --------------------------------------------------------------------------- rate by bin
def rate_by_bin(df, x, y, bins=5) -> pd.DataFrame:
    """Mean of ``y`` within bins of ``x``, with its standard error.

    Parameters
    ----------
    df : pandas.DataFrame
        Holds numeric columns ``x`` and ``y`` (no NaN).
    x, y : str
        Column to bin by, and column whose mean (a rate, for 0/1 columns) is taken.
    bins : int or sequence of float
        An int: that many equal-count (quantile) bins of ``x``. A sequence:
        bin edges; every value of ``x`` must lie within them (lowest edge included).

    Returns
    -------
    pandas.DataFrame
        Indexed by bin number (1 = lowest ``x``); columns ``x_min``, ``x_max``
        (smallest and largest ``x`` in the bin), ``n`` (rows), ``rate`` (mean of ``y``) and ``se``
        (its standard error, ``std / sqrt(n)``). A bin without rows (possible
        with explicit edges) has ``n = 0`` and NaN rate.

    Raises
    ------
    ValueError
        If a column is missing or holds NaN, if ``x`` has too few distinct
        values for ``bins`` quantile bins, or if values fall outside the edges.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"pop": [1, 2, 3, 4, 5, 6], "shown": [0, 0, 1, 0, 1, 1]})
    >>> rate_by_bin(df, "pop", "shown", bins=2)[["n", "rate"]].round(3)
         n   rate
    bin
    1    3  0.333
    2    3  0.667
    """
    check_dataframe(df, "df", [x, y])
    check_numeric_column(df, x, "df")
    check_numeric_column(df, y, "df")
    values = df[x].astype(float)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        n_bins = check_positive_int(bins, "bins")
        binned = pd.qcut(values, n_bins, duplicates="drop")
        if len(binned.cat.categories) < n_bins:
            raise ValueError(f"column {x!r} has too few distinct values for {n_bins} equal-count bins "
                             f"(only {len(binned.cat.categories)} are possible); pass fewer bins or explicit edges")
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"bins must be an int or at least two increasing edges, got {bins!r}")
        binned = pd.cut(values, edges, include_lowest=True)
        outside = binned.isna()
        if outside.any():
            raise ValueError(f"{int(outside.sum())} value(s) of {x!r} lie outside the edges "
                             f"[{edges[0]}, {edges[-1]}], e.g. {values[outside].iloc[:3].tolist()}")
    categories = binned.cat.categories
    number = pd.RangeIndex(1, len(categories) + 1, name="bin")
    codes = binned.cat.codes.to_numpy() + 1
    grouped = df[y].astype(float).groupby(codes)
    x_grouped = values.groupby(codes)
    table = pd.DataFrame({
        "x_min": x_grouped.min().reindex(number),
        "x_max": x_grouped.max().reindex(number),
        "n": grouped.size().reindex(number, fill_value=0).astype(np.int64),
        "rate": grouped.mean().reindex(number),                     # NaN for an empty bin
        "se": (grouped.std(ddof=1).fillna(0.0) / np.sqrt(grouped.size())).reindex(number),
    }, index=number)
    return table


def plot_rate_by_bin(df, x, y, bins=5, *, ax=None, color=None, label=None, xlabel=None, ylabel=None,
                     title=None):
    """Bars of the mean of ``y`` per bin of ``x``, with 95% error bars.

    For example the exposure rate of items by popularity quintile:
    ``plot_rate_by_bin(log, "popularity", "exposed")``.

    Parameters
    ----------
    df, x, y, bins
        As in :func:`rate_by_bin`.
    ax : matplotlib.axes.Axes, optional
    color, label : optional
        Bar colour (default ``PALETTE[0]``) and legend label.
    xlabel, ylabel, title : str, optional
        Override the default texts (which name the columns).

    Returns
    -------
    matplotlib.axes.Axes
        One bar per bin, height = rate, error bar = 1.96 standard errors;
        tick labels give the range of ``x`` observed in each bin.
    """
    table = rate_by_bin(df, x, y, bins)
    ax = _axes(ax, (6, 3.5))
    positions = np.arange(1, len(table) + 1)
    ax.bar(positions, table["rate"].to_numpy(), yerr=1.96 * table["se"].to_numpy(), capsize=4,
           color=color or PALETTE[0], label=label, error_kw={"ecolor": PALETTE[3]})
    ax.set_xticks(positions, [f"{i}\n{lo:.3g}–{hi:.3g}" for i, lo, hi in
                              zip(table.index, table["x_min"], table["x_max"])])
    ax.set_xlabel(xlabel or f"Bin of {x!r} (1 = lowest; range of {x!r} below)")
    ax.set_ylabel(ylabel or f"Mean of {y!r} (rate per row)")
    ax.set_title(title or f"{y!r} by bin of {x!r} (error bars: 95% interval)")
    if label:
        ax.legend()
    return ax


# --------------------------------------------------------------------------- model comparison
def plot_model_comparison(results, metric, *, reference=None, reference_label="random guessing",
                          ax=None, ylabel=None, title=None):
    """One bar per model for one metric, with an optional reference line.

    Parameters
    ----------
    results : pandas.DataFrame or pandas.Series
        Models as the index; a DataFrame needs a column ``metric``.
    metric : str
        The metric to draw (also the default y label).
    reference : float, optional
        A horizontal dashed line, e.g. 0.5 for an AUC.
    ax : matplotlib.axes.Axes, optional
    ylabel, title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Bars in the order of ``results``, each labelled with its value; long
        model names are tilted.
    """
    if isinstance(results, pd.DataFrame):
        check_dataframe(results, "results", [metric])
        values = results[metric]
    elif isinstance(results, pd.Series):
        if len(results) == 0:
            raise ValueError("results is empty: it needs at least one model")
        values = results
    else:
        raise TypeError(f"results must be a pandas DataFrame or Series, got {type(results).__name__}")
    values = pd.to_numeric(values, errors="raise").astype(float)
    if values.isna().any():
        raise ValueError(f"results[{metric!r}] holds NaN for {list(values.index[values.isna()])}")
    ax = _axes(ax, (6, 3.5))
    positions = np.arange(len(values))
    bars = ax.bar(positions, values.to_numpy(), color=PALETTE[0])
    ax.bar_label(bars, fmt="%.3f", padding=2)
    names = [str(name) for name in values.index]
    long_names = max(len(name) for name in names) > 10                # tilt long names so they do not collide
    ax.set_xticks(positions, names, rotation=25 if long_names else 0, ha="right" if long_names else "center",
                  rotation_mode="anchor")
    if reference is not None:
        ax.axhline(reference, color=PALETTE[1], linestyle="--", linewidth=1.5, label=reference_label)
        ax.legend(loc="upper left")
    ax.set_xlabel("Model")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title or f"{metric} by model")
    ax.margins(y=0.15)
    return ax


# --------------------------------------------------------------------------- one user
def plot_user_history(world, user_id, recommendations, *, by=schema.CATEGORY, positive=schema.PURCHASED,
                      ax=None):
    """A user's past positive items next to their recommendations, counted per ``by``.

    Parameters
    ----------
    world : ShopWorld
        Supplies the log (``world.interactions``) and the item table.
    user_id : int
        The user to show.
    recommendations : pandas.DataFrame or array-like of int
        A table with ``user_id, item_id`` (only this user's rows are used) or
        the recommended item IDs themselves.
    by : str
        Column of ``world.items`` to group items by (default ``"category"``).
    positive : str
        Column of the log that marks the user's past items (default ``"purchased"``).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Two bars per value of ``by`` (every value in the item table, sorted):
        the number of past items, then the number of recommended items.
    """
    items = world.items
    check_dataframe(items, "world.items", [schema.ITEM, by])
    check_dataframe(world.interactions, "world.interactions", [schema.USER, schema.ITEM, positive])
    known_users = world.users[schema.USER].to_numpy()
    if not np.isin(user_id, known_users):
        raise ValueError(f"user_id {user_id!r} is not a user of this world")
    if isinstance(recommendations, pd.DataFrame):
        check_dataframe(recommendations, "recommendations", [schema.USER, schema.ITEM], allow_empty=True)
        recommended = recommendations.loc[recommendations[schema.USER] == user_id, schema.ITEM].to_numpy()
    else:
        recommended = np.asarray(recommendations).reshape(-1)
    if recommended.size == 0:
        raise ValueError(f"there are no recommendations for user {user_id}")
    unknown = ~np.isin(recommended, items[schema.ITEM].to_numpy())
    if unknown.any():
        raise ValueError(f"recommendations hold unknown item ID(s) {recommended[unknown][:5].tolist()}")
    log = world.interactions
    past = log.loc[(log[schema.USER] == user_id) & (log[positive] >= 1), schema.ITEM].unique()
    group_of = items.set_index(schema.ITEM)[by]
    levels = np.sort(items[by].unique())
    past_counts = group_of.loc[past].value_counts().reindex(levels, fill_value=0)
    rec_counts = group_of.loc[recommended].value_counts().reindex(levels, fill_value=0)

    ax = _axes(ax, (7, 3.5))
    positions = np.arange(len(levels))
    width = 0.4
    ax.bar(positions - width / 2, past_counts.to_numpy(), width, color=PALETTE[0],
           label=f"{positive} before ({len(past)} items)")
    ax.bar(positions + width / 2, rec_counts.to_numpy(), width, color=PALETTE[1],
           label=f"recommended ({len(recommended)} items)")
    ax.set_xticks(positions, [str(level) for level in levels])
    ax.set_xlabel(f"Item {by}")
    ax.set_ylabel("Number of items")
    ax.set_title(f"User {user_id}: past {positive} items and recommendations, by {by}")
    ax.yaxis.get_major_locator().set_params(integer=True)
    highest = max(int(past_counts.max()), int(rec_counts.max()), 1)
    ax.set_ylim(0, highest * 1.3 + 1)                                   # headroom for the legend
    ax.legend(loc="upper left", ncols=2)
    return ax
