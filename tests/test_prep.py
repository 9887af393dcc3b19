"""Preprocessing: the cleaning report accounts for every row, splits partition the log, features match sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

import causalrec as cr
from causalrec import prep as pp
from causalrec import schema as S

SETTINGS = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def world():
    return cr.load_default()


def frame(users, items, **columns):
    return pd.DataFrame({S.USER: users, S.ITEM: items, **columns})


@st.composite
def interaction_frames(draw, min_rows=1, max_rows=40, n_users=6, n_items=10, n_days=5):
    """Clean interaction frames with unique but shuffled, non-default index labels."""
    n = draw(st.integers(min_rows, max_rows))
    ints = lambda hi: st.lists(st.integers(0, hi - 1), min_size=n, max_size=n)  # noqa: E731
    labels = draw(st.permutations(range(100, 100 + n)))
    return pd.DataFrame({S.USER: draw(ints(n_users)), S.ITEM: draw(ints(n_items)),
                         S.DAY: draw(ints(n_days))}, index=labels)


def assert_partition(df, train, test):
    """train and test are disjoint, cover df exactly, keep df's order, labels and values."""
    assert len(train) + len(test) == len(df)
    assert sorted(train.index.tolist() + test.index.tolist()) == sorted(df.index.tolist())
    for part in (train, test):
        assert np.all(np.diff(df.index.get_indexer(part.index)) > 0)  # input order kept
        pd.testing.assert_frame_equal(part, df.loc[part.index])


# ====================================================================== cleaning
def dirty_frame():
    """Nine rows, one reason each for rows b, d, e, f, h (hand-labelled below)."""
    return pd.DataFrame({
        S.USER: [0, np.nan, 1, 1, 9, 2, 2, 2, 3],
        S.ITEM: [10, 11, 12, 13, 14, 99, 15, 15, 16],
        S.DAY: [0, 0, 0, 1, 1, 1, 2, 2, 3],
        S.RATING: [4.0, 5.0, np.nan, -2.0, 3.0, 3.0, 5.0, 5.0, np.nan],
    }, index=list("abcdefghi"))


def test_clean_interactions_hand_computed_report():
    df = dirty_frame()
    before = df.copy()
    clean, report = pp.clean_interactions(df, known_users=[0, 1, 2, 3], known_items=range(10, 20))
    # b: NaN user; d: rating -2; e: user 9 unknown; f: item 99 unknown; h: duplicate of g
    assert clean.index.tolist() == ["a", "c", "g", "i"]
    assert (report.rows_in, report.rows_out, report.removed) == (9, 4, 5)
    assert report.reasons.to_dict() == {"b": "missing_ids", "d": "out_of_range_ratings",
                                        "e": "unknown_users", "f": "unknown_items", "h": "duplicates"}
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert clean[S.USER].dtype == np.int64  # NaN had made it float
    assert clean[S.RATING].isna().sum() == 2  # missing ratings are kept unless required
    table = report.to_frame()
    assert table["rows_removed"].sum() == report.removed
    assert table.loc["unknown_items", "share"] == pytest.approx(1 / 9)
    _, required = pp.clean_interactions(df, require=S.RATING)
    assert (required.missing_ids, required.missing_values) == (1, 2)  # b counted once, under its first reason


def test_a_valid_copy_is_never_lost_to_an_invalid_duplicate():
    df = frame([1, 1, 1], [2, 2, 2], day=[0, 0, 0], rating=[7.0, 3.0, 3.0])
    clean, report = pp.clean_interactions(df)
    assert clean.index.tolist() == [1] and (report.out_of_range_ratings, report.duplicates) == (1, 1)
    assert pp.clean_interactions(frame([1, 1], [2, 2], day=[0, 1]))[1].duplicates == 0   # other days
    assert len(pp.clean_interactions(frame([1, 1], [2, 2]), dedupe_on=())[0]) == 2


dirty_ratings = st.sampled_from([np.nan, np.nan, -1.0, 0.0, 1.0, 2.5, 5.0, 6.0, np.inf])


@SETTINGS
@given(st.data())
def test_clean_interactions_properties(data):
    n = data.draw(st.integers(1, 30))
    ids = lambda hi: st.lists(st.one_of(st.integers(0, hi), st.none()), min_size=n, max_size=n)  # noqa: E731
    df = pd.DataFrame({S.USER: data.draw(ids(4)), S.ITEM: data.draw(ids(5)),
                       S.DAY: data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
                       S.RATING: data.draw(st.lists(dirty_ratings, min_size=n, max_size=n))},
                      index=data.draw(st.permutations(range(n)))).astype({S.USER: float, S.ITEM: float})
    before = df.copy()
    clean, report = pp.clean_interactions(df, known_users=[0, 1, 2, 3], known_items=[0, 1, 2, 3, 4])
    pd.testing.assert_frame_equal(df, before)
    # every removed row is accounted for exactly once: nothing is dropped silently
    assert report.rows_in == n and report.rows_out == len(clean)
    assert report.to_frame()["rows_removed"].sum() == report.removed == len(report.reasons)
    assert sorted(report.reasons.index.tolist() + clean.index.tolist()) == sorted(df.index.tolist())
    # what is left is clean and unchanged, and cleaning it again removes nothing
    r = clean[S.RATING].dropna()
    assert ((r >= 1) & (r <= 5)).all() and not clean.duplicated([S.USER, S.ITEM, S.DAY]).any()
    assert clean[S.USER].isin([0, 1, 2, 3]).all() and clean[S.ITEM].isin(range(5)).all()
    pd.testing.assert_frame_equal(clean, df.loc[clean.index], check_dtype=False)
    if len(clean):
        again, second = pp.clean_interactions(clean, known_users=[0, 1, 2, 3], known_items=range(5))
        assert second.removed == 0
        pd.testing.assert_frame_equal(again, clean)


def test_clean_default_world_removes_nothing(world):
    for table in (world.interactions, world.randomized):
        _, report = pp.clean_interactions(table, known_users=world.users[S.USER], known_items=world.items[S.ITEM])
        assert report.removed == 0 and report.rows_in == len(table)


@pytest.mark.parametrize("df, kwargs, named", [
    (frame([1], [2], rating=["five"]), {}, "'rating'"),
    (frame([1.5], [2]), {}, "'user_id'"),
    (frame(["a", 3], [2, 2]), {}, "'user_id'"),
    (frame([1], [2]), {"require": ("clicked",)}, "clicked"),
    (frame([1], [2], rating=[3.0]), {"rating_range": (5, 1)}, "rating_range"),
    (frame([], []), {}, "df is empty"),
    ([[1, 2]], {}, "DataFrame"),
])
def test_clean_interactions_names_bad_input(df, kwargs, named):
    with pytest.raises((ValueError, TypeError), match=named):
        pp.clean_interactions(df, **kwargs)


def test_ratings_checked_and_binarized():
    pp.check_ratings(frame([1, 2], [1, 2], rating=[1.0, np.nan]))
    with pytest.raises(ValueError, match=r"'rating'.*outside \[1, 5\]: \[7.0\] at row\(s\) \[1\]"):
        pp.check_ratings(frame([1, 2], [1, 2], rating=[1.0, 7.0]))
    with pytest.raises(ValueError, match="missing rating"):
        pp.check_ratings(frame([1], [1], rating=[np.nan]), allow_missing=False)
    labels = pp.binarize_ratings(frame([1, 2, 3], [1, 2, 3], rating=[5.0, 3.0, 4.0]))[S.LABEL]
    assert labels.tolist() == [1, 0, 1] and labels.dtype == np.int64
    with pytest.raises(ValueError, match="threshold"):
        pp.binarize_ratings(frame([1], [1], rating=[5.0]), threshold=9)


# ========================================================================== features
def test_tfidf_is_sklearns_as_dense_float32_rows_of_unit_length(world):
    texts = world.items[S.DESCRIPTION]
    vec = pp.TextVectorizer(kind="tfidf").fit(texts)
    x = vec.transform(texts)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (world.n_items, vec.n_features_)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(x, TfidfVectorizer().fit_transform(texts).toarray(), rtol=1e-5)
    assert vec.get_feature_names_out().tolist() == list(vec.vocabulary_) == sorted(vec.vocabulary_)
    sparse = pp.TextVectorizer(sparse=True).fit_transform(texts)
    assert scipy.sparse.issparse(sparse) and np.allclose(sparse.toarray(), x)


def test_text_vectorizer_follows_the_sklearn_contract():
    vec = pp.TextVectorizer(kind="bow", min_df=2)
    with pytest.raises(NotFittedError):
        vec.transform(["red shoe"])
    assert clone(vec).get_params() == vec.get_params()
    vec.fit(["Red shoe", "blue shoe", "red red hat"])
    assert vec.vocabulary_ == {"red": 0, "shoe": 1}
    assert vec.transform(["red shoe red", "green boots"]).tolist() == [[2.0, 1.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="kind"):
        pp.TextVectorizer(kind="bert").fit(["a b"])


def test_normalize_images_on_world(world):
    out, mean, std = pp.normalize_images(world.images)
    assert out.shape == (world.n_items, 1, 16, 16) and out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1.0) < 1e-5
    # held-out images reuse the training statistics; a channel axis and uint8 are accepted
    np.testing.assert_allclose(pp.normalize_images(world.images[:10], mean=mean, std=std).images, out[:10], atol=1e-6)
    np.testing.assert_allclose(pp.normalize_images(world.images[:, None]).images, out)
    assert pp.normalize_images(np.array([[[0, 255], [0, 255]]], dtype=np.uint8))[1:] == (0.5, 0.5)


@pytest.mark.parametrize("images, kwargs, named", [
    (np.zeros((4, 4)), {}, r"shape \(n, H, W\)"),
    (np.zeros((2, 3, 4, 4)), {}, r"\(2, 3, 4, 4\)"),
    (np.array([[[0.0, np.nan]]]), {}, r"\[0, 1\]"),
    (np.array([[[0.0, 255.0]]]), {}, "255"),
    (np.full((2, 4, 4), 0.5), {}, "constant"),
    (np.ones((1, 2, 2)) / 2, {"std": 0.0}, "std"),
    (np.full((1, 2, 2), "x"), {}, "numeric"),
])
def test_normalize_images_names_bad_input(images, kwargs, named):
    with pytest.raises(ValueError, match=named):
        pp.normalize_images(images, **kwargs)


# ========================================================================== splits
@SETTINGS
@given(interaction_frames(min_rows=2), st.integers(0, 2**16), st.floats(0.05, 0.95))
def test_random_split_partitions_and_is_reproducible(df, seed, test_size):
    train, test = pp.random_split(df, test_size=test_size, random_state=seed)
    assert_partition(df, train, test)
    assert len(test) == min(max(round(test_size * len(df)), 1), len(df) - 1)
    assert pp.random_split(df, test_size=test_size, random_state=seed)[1].index.equals(test.index)


@SETTINGS
@given(interaction_frames(min_rows=2), st.floats(0.05, 0.95))
def test_temporal_split_partitions_and_respects_time(df, test_size):
    if df[S.DAY].nunique() < 2:
        with pytest.raises(ValueError, match="single day"):
            pp.temporal_split(df, test_size=test_size)
        return
    train, test = pp.temporal_split(df, test_size=test_size)
    assert_partition(df, train, test)
    assert train[S.DAY].max() < test[S.DAY].min()
    # no other day boundary gives a test share closer to the target
    best = min(abs((df[S.DAY] >= d).mean() - test_size) for d in sorted(df[S.DAY].unique())[1:])
    assert abs(len(test) / len(df) - test_size) == pytest.approx(best)


def test_temporal_split_on_world_and_with_dates(world):
    train, test = pp.temporal_split(world.interactions, cutoff=21)
    assert train[S.DAY].max() == 20 and test[S.DAY].min() == 21
    df = frame([1, 2, 3, 4], [1, 2, 3, 4], day=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03"]))
    assert pp.temporal_split(df, cutoff="2024-01-02")[1].index.tolist() == [1, 2, 3]
    assert pp.temporal_split(df, test_size=0.5)[1].index.tolist() == [2, 3]


@pytest.mark.parametrize("split", [pp.random_split, pp.temporal_split])
@pytest.mark.parametrize("df, named", [
    (frame([1, np.nan, 2], [1, 2, 3], day=[0, 1, 2]), "'user_id'"),
    (frame([], [], day=[]), "df is empty"),
    (pd.DataFrame({S.USER: [1, 2], S.DAY: [0, 1]}), "'item_id'"),
])
def test_splits_name_bad_input(split, df, named):
    with pytest.raises(ValueError, match=named):
        split(df)


@pytest.mark.parametrize("call, named", [
    (lambda df: pp.random_split(df, test_size=1.0), "test_size"),
    (lambda df: pp.random_split(df.head(1)), "at least 2"),
    (lambda df: pp.temporal_split(df, cutoff=1, test_size=0.2), "cutoff"),
    (lambda df: pp.temporal_split(df, cutoff=5), "cutoff"),
    (lambda df: pp.temporal_split(df.assign(day=["mon", "tue", "wed"])), "'day'"),
    (lambda df: pp.temporal_split(df.assign(day=[0, np.nan, 1])), "'day'"),
])
def test_split_arguments_are_named(call, named):
    with pytest.raises(ValueError, match=named):
        call(frame([1, 2, 3], [1, 2, 3], day=[0, 1, 2]))
