"""Tests for causalrec.plots: the numbers behind each figure, and that every figure draws exactly
those numbers with labelled axes (Agg backend, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from causalrec import causal, explain, plots as plotting, schema  # noqa: E402
from causalrec.data.simulate import simulate_shop  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _heights(ax):
    return np.array([patch.get_height() for patch in ax.patches])


def _labelled(ax):
    return ax.get_xlabel() != "" and ax.get_ylabel() != "" and ax.get_title() != ""


@pytest.fixture(scope="module")
def world():
    return simulate_shop(n_users=60, n_items=30, candidates_per_user=20, randomized_per_user=3, random_state=5)


# --------------------------------------------------------------------------- long tail
def test_popularity_shares_from_counts_and_from_a_log():
    shares = plotting.popularity_shares(pd.Series([2, 0, 6, 2], index=[10, 11, 12, 13]))
    assert shares.index.tolist() == [12, 10, 13, 11]                      # ties by item ID
    np.testing.assert_allclose(shares.to_numpy(), [0.6, 0.2, 0.2, 0.0])
    log = pd.DataFrame({schema.ITEM: [0, 0, 2, 2, 2], schema.PURCHASED: [1, 0, 1, 1, 0]})
    by_rows = plotting.popularity_shares(log, n_items=4)
    assert by_rows.to_dict() == {2: 0.6, 0: 0.4, 1: 0.0, 3: 0.0}
    by_purchase = plotting.popularity_shares(log, column=schema.PURCHASED)
    np.testing.assert_allclose(by_purchase.loc[[2, 0]].to_numpy(), [2 / 3, 1 / 3])


def test_popularity_shares_rejects_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        plotting.popularity_shares([1, -1])
    with pytest.raises(ValueError, match="every count is 0"):
        plotting.popularity_shares([0, 0])
    with pytest.raises(ValueError, match="outside"):
        plotting.popularity_shares(pd.DataFrame({schema.ITEM: [0, 5]}), n_items=3)
    with pytest.raises(ValueError, match="'clicked'"):
        plotting.popularity_shares(pd.DataFrame({schema.ITEM: [0]}), column="clicked")


def test_plot_long_tail_draws_one_bar_per_item_with_the_shares(world):
    ax = plotting.plot_long_tail(world.interactions, column=schema.PURCHASED, n_items=world.n_items)
    expected = plotting.popularity_shares(world.interactions, column=schema.PURCHASED, n_items=world.n_items)
    heights = _heights(ax)
    assert len(heights) == world.n_items
    np.testing.assert_allclose(heights, 100 * expected.to_numpy())
    assert np.all(np.diff(heights) <= 0) and heights.sum() == pytest.approx(100)
    assert _labelled(ax) and "%" in ax.get_ylabel() and "rank" in ax.get_xlabel()
    assert to_hex(ax.patches[0].get_facecolor()).upper() == plotting.PALETTE[0]


def test_plot_long_tail_draws_on_given_axes():
    _, ax = plt.subplots()
    out = plotting.plot_long_tail([5, 1, 3], what="past sales", ax=ax)
    assert out is ax and "past sales" in ax.get_ylabel()
    np.testing.assert_allclose(_heights(ax), [100 * 5 / 9, 100 * 3 / 9, 100 * 1 / 9])


# --------------------------------------------------------------------------- rate by bin
def test_rate_by_bin_quantiles_match_a_hand_computation():
    df = pd.DataFrame({"x": np.arange(10), "y": [0, 0, 0, 1, 0, 1, 1, 1, 1, 1]})
    table = plotting.rate_by_bin(df, "x", "y", bins=2)
    assert table["n"].tolist() == [5, 5]
    np.testing.assert_allclose(table["rate"], [0.2, 1.0])
    np.testing.assert_allclose(table["se"], [np.std([0, 0, 0, 1, 0], ddof=1) / np.sqrt(5), 0.0])
    assert table[["x_min", "x_max"]].to_numpy().tolist() == [[0, 4], [5, 9]]


def test_rate_by_bin_with_edges_keeps_empty_bins_and_refuses_values_outside():
    df = pd.DataFrame({"x": [0.5, 1.5, 1.6], "y": [1.0, 0.0, 1.0]})
    table = plotting.rate_by_bin(df, "x", "y", bins=[0, 1, 2, 3])
    assert table["n"].tolist() == [1, 2, 0] and np.isnan(table["rate"].iloc[2])
    with pytest.raises(ValueError, match="outside the edges"):
        plotting.rate_by_bin(df, "x", "y", bins=[1, 2])
    with pytest.raises(ValueError, match="too few distinct values"):
        plotting.rate_by_bin(pd.DataFrame({"x": [1, 1, 1, 2], "y": [0, 1, 0, 1]}), "x", "y", bins=4)
    with pytest.raises(ValueError, match="NaN"):
        plotting.rate_by_bin(pd.DataFrame({"x": [1, np.nan], "y": [0, 1]}), "x", "y", bins=1)
    with pytest.raises(ValueError, match="increasing edges"):
        plotting.rate_by_bin(df, "x", "y", bins=[2, 1])


def test_plot_rate_by_bin_draws_the_rates_with_error_bars(world):
    log = world.interactions.merge(world.items[[schema.ITEM, schema.POPULARITY]], on=schema.ITEM)
    ax = plotting.plot_rate_by_bin(log, schema.POPULARITY, schema.EXPOSED, bins=4)
    table = plotting.rate_by_bin(log, schema.POPULARITY, schema.EXPOSED, bins=4)
    np.testing.assert_allclose(_heights(ax), table["rate"].to_numpy())
    assert len(ax.get_xticklabels()) == 4
    caps = [line for container in ax.containers if hasattr(container, "errorbar") and container.errorbar
            for line in container.errorbar.lines[2]]
    segments = caps[0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], 2 * 1.96 * table["se"].to_numpy())
    assert _labelled(ax) and schema.POPULARITY in ax.get_xlabel() and schema.EXPOSED in ax.get_ylabel()


# --------------------------------------------------------------------------- model comparison
def test_plot_model_comparison_draws_each_value_in_order():
    results = pd.DataFrame({"auc": [0.5, 0.7, 0.75]}, index=["random", "popularity", "content"])
    ax = plotting.plot_model_comparison(results, "auc", reference=0.5)
    np.testing.assert_allclose(_heights(ax), [0.5, 0.7, 0.75])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random", "popularity", "content"]
    assert ax.lines[0].get_ydata()[0] == 0.5 and _labelled(ax)
    with pytest.raises(ValueError, match="'ndcg'"):
        plotting.plot_model_comparison(results, "ndcg")
    with pytest.raises(TypeError, match="results"):
        plotting.plot_model_comparison({"a": 1}, "auc")


# --------------------------------------------------------------------------- one user
def test_plot_user_history_counts_items_per_category(world):
    user = int(world.interactions.loc[world.interactions[schema.PURCHASED] == 1, schema.USER].iloc[0])
    recommended = world.items[schema.ITEM].to_numpy()[:7]
    recs = pd.DataFrame({schema.USER: [user] * 7 + [user + 1], schema.ITEM: list(recommended) + [0]})
    ax = plotting.plot_user_history(world, user, recs)
    categories = np.sort(world.items[schema.CATEGORY].unique())
    heights = _heights(ax)
    assert len(heights) == 2 * len(categories)
    past_bars, rec_bars = heights[:len(categories)], heights[len(categories):]
    log = world.interactions
    bought = log.loc[(log[schema.USER] == user) & (log[schema.PURCHASED] == 1), schema.ITEM].unique()
    cat = world.items.set_index(schema.ITEM)[schema.CATEGORY]
    assert past_bars.tolist() == cat.loc[bought].value_counts().reindex(categories, fill_value=0).tolist()
    assert rec_bars.tolist() == cat.loc[recommended].value_counts().reindex(categories, fill_value=0).tolist()
    assert rec_bars.sum() == 7 and _labelled(ax) and str(user) in ax.get_title()
    # an array of item IDs works too
    same = plotting.plot_user_history(world, user, recommended)
    np.testing.assert_array_equal(_heights(same), heights)


def test_plot_user_history_rejects_unknown_users_and_items(world):
    with pytest.raises(ValueError, match="not a user"):
        plotting.plot_user_history(world, world.n_users + 5, [0])
    with pytest.raises(ValueError, match="unknown item"):
        plotting.plot_user_history(world, 0, [world.n_items + 1])
    with pytest.raises(ValueError, match="no recommendations"):
        plotting.plot_user_history(world, 0, pd.DataFrame({schema.USER: [1], schema.ITEM: [0]}))


# --------------------------------------------------------------------------- causal figures
@pytest.fixture(scope="module")
def effects(world):
    frame = causal.analysis_frame(world)
    table = causal.estimate_effects(causal.causal_model(frame, causal.simulator_graph(world)),
                                    ["linear_regression", "weighting"])
    return causal.EffectTable([causal.naive_difference(frame), *table])


def test_plot_effects_draws_every_estimate_and_its_interval(effects):
    ax = plotting.plot_effects(effects, truth=0.1, tolerance=0.15)
    assert [t.get_text() for t in ax.get_yticklabels()] == effects.methods
    frame = effects.to_frame()
    drawn = {tuple(np.round(xy, 6)) for c in ax.containers for xy in c.lines[0].get_xydata()}
    for y, method in zip(range(len(frame) - 1, -1, -1), frame.index):
        assert (round(frame.loc[method, "estimate"], 6), y) in drawn                 # one dot per estimate
    segments = [segment for c in ax.containers for bars in c.lines[2] for segment in bars.get_segments()]
    lr = frame.loc["linear_regression"]
    assert any(np.allclose(segment[:, 0], [lr.ci_low, lr.ci_high]) for segment in segments)  # its interval
    assert ax.lines[0].get_xdata()[0] == 0.1 and _labelled(ax)                       # the truth line


def test_plot_importance_draws_the_mean_and_std_per_block():
    importance = explain.Importance("permutation", ("a", "b"), np.array([[0.1, 0.3], [0.0, 0.0]]), scoring="AUC")
    ax = plotting.plot_importance(importance)
    widths = {label.get_text(): patch.get_width() for label, patch in zip(ax.get_yticklabels(), ax.patches)}
    assert widths == pytest.approx({"a": 0.2, "b": 0.0}) and "AUC" in ax.get_xlabel() and _labelled(ax)


def test_draw_graph_puts_causes_above_effects_and_marks_the_roles(world):
    graph = causal.parse_graph(causal.simulator_graph(world))
    ax = plotting.draw_graph(graph, treatment="exposed", outcome="purchased",
                             adjustment=["policy_score", "log_popularity"],
                             observed=causal.analysis_frame(world).columns)
    labels = {t.get_text(): t for t in ax.texts if t.get_text()}                       # arrows have no text
    assert set(labels) == set(graph.nodes())
    assert labels["relevance"].get_bbox_patch().get_linestyle() in ("--", "dashed")  # latent
    assert to_hex(labels["exposed"].get_bbox_patch().get_facecolor()).upper() == plotting.PALETTE[1]
    y = {name: t.get_position()[1] for name, t in labels.items()}
    assert all(y[a] > y[b] for a, b in graph.edges())
    arrows = [child for child in ax.get_children() if type(child).__name__ == "Annotation" and not child.get_text()]
    assert len(arrows) == graph.number_of_edges()
    with pytest.raises(ValueError, match="cycle"):
        plotting.draw_graph(causal.parse_graph("digraph { a -> b; b -> a; }"))
    with pytest.raises(ValueError, match="DiGraph"):
        plotting.draw_graph("digraph { a -> b; }")
