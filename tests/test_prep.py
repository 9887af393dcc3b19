"""causalrec.prep: cleaning reports, encoders, features, splits and negative sampling.

Each kind of bad input has its own test that checks the ValueError names the
problem; properties (partitions, reproducibility, exclusions) are checked with
hypothesis on small random frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

import causalrec as cr
from causalrec import prep as pp
from causalrec import schema as S

SETTINGS = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def world():
    return cr.load_default()


@pytest.fixture(scope="module")
def small_world():
    return cr.simulate_shop(n_users=30, n_items=40, randomized_per_user=3, random_state=5)


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
    assert not set(train.index) & set(test.index)
    assert sorted(train.index.tolist() + test.index.tolist()) == sorted(df.index.tolist())
    for part in (train, test):
        positions = df.index.get_indexer(part.index)
        assert np.all(np.diff(positions) > 0)  # input order kept
        pd.testing.assert_frame_equal(part, df.loc[part.index])


# ====================================================================== cleaning
def dirty_frame():
    """Nine rows, one reason each for rows 1-6 (hand-labelled below)."""
    return pd.DataFrame({
        S.USER: [0, np.nan, 1, 1, 9, 2, 2, 2, 3],
        S.ITEM: [10, 11, 12, 13, 14, 99, 15, 15, 16],
        S.DAY: [0, 0, 0, 1, 1, 1, 2, 2, 3],
        S.CLICKED: [1, 0, 1, 1, 0, 1, 1, 1, 0],
        S.RATING: [4.0, 5.0, np.nan, -2.0, 3.0, 3.0, 5.0, 5.0, np.nan],
    }, index=list("abcdefghi"))


def test_clean_interactions_hand_computed_report():
    df = dirty_frame()
    before = df.copy()
    clean, report = pp.clean_interactions(df, known_users=[0, 1, 2, 3], known_items=range(10, 20))
    # b: NaN user; d: rating -2; e: user 9 unknown; f: item 99 unknown; h: duplicate of g
    assert clean.index.tolist() == ["a", "c", "g", "i"]
    assert (report.rows_in, report.rows_out, report.removed) == (9, 4, 5)
    assert (report.missing_ids, report.missing_values, report.out_of_range_ratings) == (1, 0, 1)
    assert (report.unknown_users, report.unknown_items, report.duplicates) == (1, 1, 1)
    assert report.reasons.to_dict() == {"b": "missing_ids", "d": "out_of_range_ratings",
                                        "e": "unknown_users", "f": "unknown_items", "h": "duplicates"}
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert clean[S.USER].dtype == np.int64  # NaN had made it float
    assert clean[S.RATING].isna().sum() == 2  # missing ratings are kept by default
    table = report.to_frame()
    assert table["rows_removed"].sum() == report.removed
    assert table.loc["unknown_items", "share"] == pytest.approx(1 / 9)
    text = str(report)
    assert "9 rows in, 4 rows out, 5 removed" in text
    assert "ratings outside [1, 5]" in text and "duplicates on ['user_id', 'item_id', 'day']" in text


def test_clean_interactions_require_drops_missing_ratings_and_counts_each_row_once():
    clean, report = pp.clean_interactions(dirty_frame(), require=(S.RATING,))
    # c and i lack a rating; b lacks a user (counted under missing_ids only, though its rating is fine)
    assert report.missing_values == 2 and report.missing_ids == 1
    assert report.out_of_range_ratings == 1 and report.duplicates == 1
    assert report.unknown_users == report.unknown_items == 0
    assert clean.index.tolist() == ["a", "e", "f", "g"]
    assert "missing values in required columns ['rating']" in str(report)


def test_clean_interactions_finds_duplicates_among_valid_rows_only():
    # The first copy has a bad rating; the valid second copy must survive.
    df = frame([1, 1, 1], [2, 2, 2], day=[0, 0, 0], rating=[7.0, 3.0, 3.0])
    clean, report = pp.clean_interactions(df)
    assert clean.index.tolist() == [1]
    assert (report.out_of_range_ratings, report.duplicates) == (1, 1)
    clean_last, _ = pp.clean_interactions(df, keep="last")
    assert clean_last.index.tolist() == [2]


def test_clean_interactions_dedupe_columns():
    df = frame([1, 1], [2, 2], day=[0, 1])
    assert pp.clean_interactions(df)[1].duplicates == 0  # different days: not duplicates
    assert pp.clean_interactions(df, dedupe_on=(S.USER, S.ITEM))[1].duplicates == 1
    assert pp.clean_interactions(frame([1, 1], [2, 2]))[1].duplicates == 1  # no day column
    clean, report = pp.clean_interactions(frame([1, 1], [2, 2]), dedupe_on=())
    assert len(clean) == 2 and "not checked" in str(report)


def test_clean_interactions_without_rating_column_and_with_string_ids():
    df = frame(["u1", "u2", "u2", None], ["i1", "i1", "i1", "i2"])
    clean, report = pp.clean_interactions(df, known_items=["i1"])
    assert clean.index.tolist() == [0, 1]
    assert (report.missing_ids, report.duplicates, report.rating_range) == (1, 1, None)
    assert "ratings not checked" in str(report)


def test_clean_interactions_accepts_datetime_days():
    df = frame([1, 1], [2, 2], day=pd.to_datetime(["2024-01-01", "2024-01-01"]))
    assert pp.clean_interactions(df)[1].duplicates == 1


dirty_ratings = st.sampled_from([np.nan, np.nan, -1.0, 0.0, 1.0, 2.5, 5.0, 6.0, np.inf])


@SETTINGS
@given(st.data())
def test_clean_interactions_properties(data):
    n = data.draw(st.integers(1, 30))
    ids = lambda hi: st.lists(st.one_of(st.integers(0, hi), st.none()), min_size=n, max_size=n)  # noqa: E731
    df = pd.DataFrame({S.USER: data.draw(ids(4)), S.ITEM: data.draw(ids(5)),
                       S.DAY: data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
                       S.RATING: data.draw(st.lists(dirty_ratings, min_size=n, max_size=n))},
                      index=data.draw(st.permutations(range(n))))
    df[S.USER] = df[S.USER].astype(float)
    df[S.ITEM] = df[S.ITEM].astype(float)
    before = df.copy()
    clean, report = pp.clean_interactions(df, known_users=[0, 1, 2, 3], known_items=[0, 1, 2, 3, 4])
    pd.testing.assert_frame_equal(df, before)
    # every removed row is accounted for exactly once
    assert report.rows_in == n and report.rows_out == len(clean)
    counts = [report.missing_ids, report.missing_values, report.out_of_range_ratings,
              report.unknown_users, report.unknown_items, report.duplicates]
    assert sum(counts) == report.removed == len(report.reasons)
    assert sorted(report.reasons.index.tolist() + clean.index.tolist()) == sorted(df.index.tolist())
    # what is left is clean, unchanged, and cleaning it again removes nothing
    assert clean[[S.USER, S.ITEM]].notna().all().all()
    r = clean[S.RATING].dropna()
    assert ((r >= 1) & (r <= 5)).all()
    assert not clean.duplicated([S.USER, S.ITEM, S.DAY]).any()
    assert clean[S.USER].isin([0, 1, 2, 3]).all() and clean[S.ITEM].isin(range(5)).all()
    pd.testing.assert_frame_equal(clean, df.loc[clean.index], check_dtype=False)
    if len(clean):  # an empty frame is refused, so only a non-empty result can be cleaned again
        again, second = pp.clean_interactions(clean, known_users=[0, 1, 2, 3], known_items=range(5))
        assert second.removed == 0
        pd.testing.assert_frame_equal(again, clean)


def test_clean_default_world_removes_nothing(world):
    for table in (world.interactions, world.randomized):
        clean, report = pp.clean_interactions(table, known_users=world.users[S.USER],
                                              known_items=world.items[S.ITEM])
        assert report.removed == 0 and report.rows_in == len(table)
        assert report.to_frame()["rows_removed"].sum() == 0
        pd.testing.assert_frame_equal(clean, table)
    # the randomized slice rates every pair: requiring a rating still removes nothing there
    assert pp.clean_interactions(world.randomized, require=(S.RATING,))[1].removed == 0
    # but most logged pairs carry no rating (not rated is normal, and not dropped by default)
    assert pp.clean_interactions(world.interactions, require=(S.RATING,))[1].missing_values > 50_000


# ---------------------------------------------------------------- cleaning: bad input
def test_clean_rejects_missing_columns():
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['item_id'\]"):
        pp.clean_interactions(pd.DataFrame({S.USER: [1]}))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['rating'\]"):
        pp.clean_interactions(frame([1], [2]), require=(S.RATING,))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['day'\]"):
        pp.clean_interactions(frame([1], [2]), dedupe_on=(S.USER, S.DAY))


def test_clean_rejects_empty_frame():
    with pytest.raises(ValueError, match="df is empty"):
        pp.clean_interactions(frame([], []))


def test_clean_rejects_non_dataframe():
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        pp.clean_interactions([(1, 2)])


def test_clean_rejects_non_numeric_ratings():
    with pytest.raises(ValueError, match=r"column 'rating' of df must be numeric.*dtype (str|object)"):
        pp.clean_interactions(frame([1, 2], [3, 4], rating=["4", "five"]))
    with pytest.raises(ValueError, match="column 'rating' of df must be numeric.*bool"):
        pp.clean_interactions(frame([1, 2], [3, 4], rating=[True, False]))


def test_clean_removes_and_reports_negative_ratings():
    clean, report = pp.clean_interactions(frame([1, 2, 3], [3, 4, 5], rating=[-1.0, 0.0, 5.0]))
    assert clean.index.tolist() == [2] and report.out_of_range_ratings == 2


def test_clean_rejects_wrong_dtypes_in_other_columns():
    with pytest.raises(ValueError, match="column 'clicked' of df must be numeric"):
        pp.clean_interactions(frame([1], [2], clicked=["yes"]))
    with pytest.raises(ValueError, match="column 'day' of df must be numeric or datetime"):
        pp.clean_interactions(frame([1], [2], day=["monday"]))


def test_clean_rejects_fractional_boolean_and_mixed_ids():
    with pytest.raises(ValueError, match=r"column 'user_id' of df must hold integer or string IDs.*\[1\.5\]"):
        pp.clean_interactions(frame([1.5, 2.0], [1, 2]))
    with pytest.raises(ValueError, match="column 'item_id' of df must hold integer or string IDs, got bool"):
        pp.clean_interactions(frame([1, 2], [True, False]))
    mixed = r"'user_id' of df must hold IDs of one kind.*next to strings it holds 1 \(int\)"
    with pytest.raises(ValueError, match=mixed):
        pp.clean_interactions(frame([1, "a"], [1, 2]))


def test_clean_rejects_bad_arguments():
    df = frame([1], [2], rating=[3.0])
    with pytest.raises(ValueError, match="rating_range must have low < high"):
        pp.clean_interactions(df, rating_range=(5, 1))
    with pytest.raises(ValueError, match="rating_range must be a pair"):
        pp.clean_interactions(df, rating_range=5)
    with pytest.raises(ValueError, match="keep must be 'first' or 'last'"):
        pp.clean_interactions(df, keep="none")
    with pytest.raises(ValueError, match="'user_id' of df holds integers but known_users holds strings"):
        pp.clean_interactions(df, known_users=["1"])
    with pytest.raises(ValueError, match=r"known_items holds 1 missing ID\(s\)"):
        pp.clean_interactions(df, known_items=[2, None])
    with pytest.raises(ValueError, match="known_users is empty"):
        pp.clean_interactions(df, known_users=[])


# =============================================================== ratings consumers
def test_check_ratings_accepts_valid_and_refuses_bad():
    pp.check_ratings(frame([1, 2], [1, 2], rating=[1.0, np.nan]))
    expected = r"2 rating\(s\) outside \[1, 5\]: \[-3.0, 0.0\] at row\(s\) \[1, 2\]"
    with pytest.raises(ValueError, match=expected):
        pp.check_ratings(frame([1, 2, 3], [1, 2, 3], rating=[2.0, -3.0, 0.0]))
    with pytest.raises(ValueError, match="outside"):
        pp.check_ratings(frame([1], [1], rating=[np.inf]))
    with pytest.raises(ValueError, match=r"holds 1 missing rating\(s\) \(NaN\) at row\(s\) \[1\]"):
        pp.check_ratings(frame([1, 2], [1, 2], rating=[1.0, np.nan]), allow_missing=False)
    with pytest.raises(ValueError, match="column 'rating' of df must be numeric"):
        pp.check_ratings(frame([1], [1], rating=["3"]))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['rating'\]"):
        pp.check_ratings(frame([1], [1]))


def test_binarize_ratings_hand_computed_and_strict():
    df = frame([1, 2, 3, 4], [1, 1, 1, 1], rating=[1.0, 3.5, 4.0, 5.0])
    out = pp.binarize_ratings(df)
    assert out[pp.LABEL].tolist() == [0, 0, 1, 1] and pp.LABEL not in df.columns
    assert pp.binarize_ratings(df, threshold=3)[pp.LABEL].tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="outside"):
        pp.binarize_ratings(frame([1], [1], rating=[-1.0]))
    with pytest.raises(ValueError, match="missing rating"):
        pp.binarize_ratings(frame([1], [1], rating=[np.nan]))
    with pytest.raises(ValueError, match="threshold must be a number in rating_range"):
        pp.binarize_ratings(df, threshold=6)


# ======================================================================= IdEncoder
@SETTINGS
@given(st.one_of(st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=30),
                 st.lists(st.text(min_size=1, max_size=4).filter(lambda t: not t.endswith("\x00")),
                          min_size=1, max_size=30)))
def test_id_encoder_round_trip_is_sorted_and_order_free(ids):
    enc = pp.IdEncoder().fit(ids)
    codes = enc.transform(ids)
    assert codes.dtype == np.int64
    assert enc.classes_.tolist() == sorted(set(ids))
    assert set(codes.tolist()) == set(range(enc.n_classes_))
    assert enc.inverse_transform(codes).tolist() == list(ids)
    reversed_enc = pp.IdEncoder().fit(list(reversed(ids)))
    np.testing.assert_array_equal(reversed_enc.transform(ids), codes)


def test_id_encoder_refuses_ids_ending_in_nul_instead_of_merging_them():
    # found by hypothesis in CI: numpy's strings turned "\x00" into "" (data changed silently)
    with pytest.raises(ValueError, match=r"ending in a NUL character .* row\(s\) \[1\]"):
        pp.IdEncoder().fit(["a", "a\x00"])
    assert pp.IdEncoder().fit(["a\x00b", "a"]).classes_.tolist() == ["a", "a\x00b"]


def test_id_encoder_unseen_ids():
    enc = pp.IdEncoder().fit(pd.Series([7, 3, 5]))
    with pytest.raises(ValueError, match=r"2 ID\(s\) were not seen in fit \(2 distinct\), e.g. \[9, 1\]"):
        enc.transform([3, 9, 1])
    assert enc.transform([3, 9, 1], unknown="ignore").tolist() == [0, -1, -1]
    assert enc.transform([3, 9, 1], unknown="oov").tolist() == [0, 3, 3]
    assert enc.transform([], unknown="error").tolist() == []
    strings = pp.IdEncoder().fit(["b", "a"])
    assert strings.transform(pd.Series(["a", "z"]), unknown="ignore").tolist() == [0, -1]
    with pytest.raises(ValueError, match="unknown must be one of"):
        enc.transform([3], unknown="new")


def test_id_encoder_whole_floats_are_integers():
    enc = pp.IdEncoder().fit(np.array([2.0, 1.0]))
    assert enc.classes_.dtype == np.int64 and enc.transform([1, 2]).tolist() == [0, 1]


def test_id_encoder_bad_input():
    with pytest.raises(ValueError, match=r"ids holds 1 missing ID\(s\) \(NaN\) at row\(s\) \[1\]"):
        pp.IdEncoder().fit([1, None, 3])
    with pytest.raises(ValueError, match="ids is empty"):
        pp.IdEncoder().fit([])
    with pytest.raises(ValueError, match="not fitted yet"):
        pp.IdEncoder().transform([1])
    with pytest.raises(ValueError, match="ids holds strings but the fitted classes_ holds integers"):
        pp.IdEncoder().fit([1, 2]).transform(["1"])
    with pytest.raises(ValueError, match="booleans"):
        pp.IdEncoder().fit([True, False])
    with pytest.raises(ValueError, match="1-D sequence"):
        pp.IdEncoder().fit(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="1-D sequence"):
        pp.IdEncoder().fit("abc")
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 2\); found \[-1, 2\]"):
        pp.IdEncoder().fit([5, 6]).inverse_transform([0, -1, 2])
    with pytest.raises(ValueError, match="codes must be integers"):
        pp.IdEncoder().fit([5, 6]).inverse_transform([0.5])


# =================================================================== FeatureScaler
def test_feature_scaler_uses_training_statistics_only():
    train = pd.DataFrame({"price": [1.0, 3.0], "popularity": [0, 10], "name": ["a", "b"]}, index=[4, 9])
    before = train.copy()
    scaler = pp.FeatureScaler(["price", "popularity"]).fit(train)
    assert scaler.mean_.to_dict() == {"price": 2.0, "popularity": 5.0}
    assert scaler.scale_.to_dict() == {"price": 1.0, "popularity": 5.0}
    out = scaler.transform(train)
    assert out["price"].tolist() == [-1.0, 1.0] and out["popularity"].tolist() == [-1.0, 1.0]
    assert out["name"].tolist() == ["a", "b"] and out.index.tolist() == [4, 9]
    pd.testing.assert_frame_equal(train, before)
    test = pd.DataFrame({"price": [5.0], "popularity": [5]})
    assert scaler.transform(test).iloc[0].tolist() == [3.0, 0.0]
    back = scaler.inverse_transform(out)
    cols = ["price", "popularity"]
    np.testing.assert_allclose(back[cols].to_numpy(), train[cols].to_numpy())


def test_feature_scaler_on_world_items_with_log(world):
    scaler = pp.FeatureScaler([S.PRICE, S.POPULARITY], log1p=[S.POPULARITY])
    out = scaler.fit_transform(world.items)
    np.testing.assert_allclose(out[[S.PRICE, S.POPULARITY]].mean(), 0.0, atol=1e-9)
    np.testing.assert_allclose(out[[S.PRICE, S.POPULARITY]].std(ddof=0), 1.0, rtol=1e-9)
    z = (np.log1p(world.items[S.POPULARITY]) - np.log1p(world.items[S.POPULARITY]).mean())
    np.testing.assert_allclose(out[S.POPULARITY], z / z.std(ddof=0))
    back = scaler.inverse_transform(out)
    np.testing.assert_allclose(back[S.POPULARITY], world.items[S.POPULARITY], rtol=1e-9, atol=1e-9)


def test_feature_scaler_constant_column_becomes_zero():
    scaler = pp.FeatureScaler("c").fit(pd.DataFrame({"c": [4.0, 4.0, 4.0]}))
    assert scaler.constant_columns_ == ["c"] and scaler.scale_["c"] == 1.0
    assert scaler.transform(pd.DataFrame({"c": [4.0, 6.0]}))["c"].tolist() == [0.0, 2.0]


def test_feature_scaler_bad_input():
    good = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"'x' of df holds 1 missing or infinite value\(s\) at row\(s\) \[1"):
        pp.FeatureScaler("x").fit(pd.DataFrame({"x": [1.0, np.nan]}))
    with pytest.raises(ValueError, match="column 'x' of df must be numeric"):
        pp.FeatureScaler("x").fit(pd.DataFrame({"x": ["1", "2"]}))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['y'\]"):
        pp.FeatureScaler(["x", "y"]).fit(good)
    with pytest.raises(ValueError, match="df is empty"):
        pp.FeatureScaler("x").fit(good.iloc[:0])
    with pytest.raises(ValueError, match="not fitted yet"):
        pp.FeatureScaler("x").transform(good)
    with pytest.raises(ValueError, match="is in log1p but holds negative values"):
        pp.FeatureScaler("x", log1p="x").fit(pd.DataFrame({"x": [-2.0, 1.0]}))
    with pytest.raises(ValueError, match=r"log1p names column\(s\) \['z'\]"):
        pp.FeatureScaler("x", log1p="z").fit(good)
    with pytest.raises(ValueError, match="columns is empty"):
        pp.FeatureScaler([]).fit(good)


# ================================================================== TextVectorizer
def test_tfidf_rows_are_unit_length_and_dense_float32(world):
    vec = pp.TextVectorizer(kind="tfidf").fit(world.items[S.DESCRIPTION])
    x = vec.transform(world.items[S.DESCRIPTION])
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    assert x.shape == (world.n_items, vec.n_features_) == (world.n_items, len(vec.vocabulary_))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert {"outerwear", "shoes", "kitchen"} <= set(vec.vocabulary_)
    assert list(vec.vocabulary_) == sorted(vec.vocabulary_)
    assert vec.get_feature_names_out().tolist() == list(vec.vocabulary_)
    sparse = pp.TextVectorizer(sparse=True).fit_transform(world.items[S.DESCRIPTION])
    assert scipy.sparse.issparse(sparse) and sparse.format == "csr"
    np.testing.assert_allclose(sparse.toarray(), x)


def test_bag_of_words_counts_hand_computed():
    vec = pp.TextVectorizer(kind="bow").fit(["Red shoe", "blue shoe", "red red hat"])
    assert vec.vocabulary_ == {"blue": 0, "hat": 1, "red": 2, "shoe": 3}
    x = vec.transform(["red shoe red", "green boots"])
    assert x.tolist() == [[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]]  # unknown words are ignored
    # idf: 'red' is in 2 of 3 documents, 'hat' in 1; tf-idf weighs the rarer word more
    tfidf = pp.TextVectorizer().fit(["Red shoe", "blue shoe", "red red hat"]).transform(["red hat"])
    assert tfidf[0, 1] > tfidf[0, 2] > 0


def test_text_vectorizer_vocabulary_limits():
    docs = ["aa bb", "aa cc", "aa bb dd"]
    assert list(pp.TextVectorizer(min_df=2).fit(docs).vocabulary_) == ["aa", "bb"]
    assert list(pp.TextVectorizer(max_features=1).fit(docs).vocabulary_) == ["aa"]
    assert list(pp.TextVectorizer(min_df=1.0).fit(docs).vocabulary_) == ["aa"]


def test_text_vectorizer_bad_input():
    with pytest.raises(ValueError, match=r"texts holds 2 missing text\(s\) \(NaN/None\) at row\(s\) \[11,"):
        pp.TextVectorizer().fit(pd.Series(["a shoe", None, "a hat", np.nan], index=[10, 11, 12, 13]))
    with pytest.raises(ValueError, match="single string"):
        pp.TextVectorizer().fit("red shoe")
    with pytest.raises(ValueError, match=r"texts must hold strings; found \['int'\] at row\(s\) \[1\]"):
        pp.TextVectorizer().fit(["red shoe", 5])
    with pytest.raises(ValueError, match="texts is empty"):
        pp.TextVectorizer().fit([])
    with pytest.raises(ValueError, match="kind must be one of"):
        pp.TextVectorizer(kind="word2vec").fit(["red shoe"])
    with pytest.raises(ValueError, match="not fitted yet"):
        pp.TextVectorizer().transform(["red shoe"])
    with pytest.raises(ValueError, match="min_df=3 is more than the 2 text"):
        pp.TextVectorizer(min_df=3).fit(["red shoe", "blue hat"])
    with pytest.raises(ValueError, match="no usable terms"):
        pp.TextVectorizer().fit(["a", "b"])  # one-letter tokens are not terms
    with pytest.raises(ValueError, match="min_df must be"):
        pp.TextVectorizer(min_df="2").fit(["red shoe"])


# ================================================================ normalize_images
def test_normalize_images_on_world(world):
    before = world.images.copy()
    out, mean, std = pp.normalize_images(world.images)
    assert out.shape == (world.n_items, 1, 16, 16) and out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1.0) < 1e-5
    assert 0 < mean < 1 and 0 < std < 1
    np.testing.assert_array_equal(world.images, before)
    # test images reuse the training statistics
    test_out = pp.normalize_images(world.images[:10], mean=mean, std=std).images
    np.testing.assert_allclose(test_out, out[:10], rtol=1e-6, atol=1e-6)
    # an existing channel axis is accepted, and uint8 is rescaled from 0-255
    np.testing.assert_allclose(pp.normalize_images(world.images[:, None]).images, out)
    as_uint8 = pp.normalize_images(np.array([[[0, 255], [0, 255]]], dtype=np.uint8))
    assert (as_uint8.mean, as_uint8.std) == (0.5, 0.5)


def test_normalize_images_bad_input():
    good = np.random.default_rng(0).random((2, 4, 4))
    with pytest.raises(ValueError, match=r"\(n, H, W\) or \(n, 1, H, W\); got 2-D shape \(4, 4\)"):
        pp.normalize_images(good[0])
    with pytest.raises(ValueError, match="with 3 channels on axis 1"):
        pp.normalize_images(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"at least one image.*\(0, 4, 4\)"):
        pp.normalize_images(good[:0])
    bad = good.copy()
    bad[1, 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite pixel\(s\), first in image 1"):
        pp.normalize_images(bad)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]; found values in \[0, 255\]"):
        pp.normalize_images(np.array([[[0.0, 255.0]]]))
    with pytest.raises(ValueError, match="constant"):
        pp.normalize_images(np.full((2, 4, 4), 0.5))
    with pytest.raises(ValueError, match="std must be > 0"):
        pp.normalize_images(good, std=0.0)
    with pytest.raises(ValueError, match="mean must be a finite number"):
        pp.normalize_images(good, mean=np.nan)
    with pytest.raises(ValueError, match="numeric array"):
        pp.normalize_images(np.full((1, 2, 2), "x"))


# ========================================================================== splits
@SETTINGS
@given(interaction_frames(min_rows=2), st.integers(0, 2**16), st.floats(0.05, 0.95))
def test_random_split_partitions_and_is_reproducible(df, seed, test_size):
    train, test = pp.random_split(df, test_size=test_size, random_state=seed)
    assert_partition(df, train, test)
    assert len(test) == min(max(round(test_size * len(df)), 1), len(df) - 1)
    again = pp.random_split(df, test_size=test_size, random_state=seed)
    assert again[1].index.equals(test.index)


def test_random_split_seeds_differ():
    df = frame(np.arange(100) % 7, np.arange(100))
    a, b = pp.random_split(df, random_state=0)[1], pp.random_split(df, random_state=1)[1]
    assert len(a) == len(b) == 20 and not a.index.equals(b.index)


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


def test_temporal_split_on_world(world):
    train, test = pp.temporal_split(world.interactions)
    assert train[S.DAY].max() < test[S.DAY].min()
    assert abs(len(test) / len(world.interactions) - 0.2) < 0.03
    train, test = pp.temporal_split(world.interactions, cutoff=21)
    assert train[S.DAY].max() == 20 and test[S.DAY].min() == 21


def test_temporal_split_with_datetime_days():
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03"])
    df = frame([1, 2, 3, 4], [1, 2, 3, 4], day=days)
    train, test = pp.temporal_split(df, cutoff="2024-01-02")
    assert train.index.tolist() == [0] and test.index.tolist() == [1, 2, 3]
    assert pp.temporal_split(df, test_size=0.5)[1].index.tolist() == [2, 3]


def test_temporal_split_bad_input():
    df = frame([1, 2, 3], [1, 2, 3], day=[0, 1, 2])
    with pytest.raises(ValueError, match="either cutoff or test_size, not both"):
        pp.temporal_split(df, cutoff=1, test_size=0.2)
    with pytest.raises(ValueError, match="leaves the test set empty: days run from 0 to 2"):
        pp.temporal_split(df, cutoff=5)
    with pytest.raises(ValueError, match="leaves the train set empty"):
        pp.temporal_split(df, cutoff=0)
    with pytest.raises(ValueError, match="single day"):
        pp.temporal_split(frame([1, 2], [1, 2], day=[3, 3]))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['day'\]"):
        pp.temporal_split(frame([1, 2], [1, 2]))
    with pytest.raises(ValueError, match=r"column 'day' of df holds 1 missing value\(s\)"):
        pp.temporal_split(frame([1, 2], [1, 2], day=[0, np.nan]))
    with pytest.raises(ValueError, match="column 'day' of df must be numeric or datetime"):
        pp.temporal_split(frame([1, 2], [1, 2], day=["mon", "tue"]))
    with pytest.raises(ValueError, match="cannot be compared"):
        pp.temporal_split(df, cutoff=pd.Timestamp("2024-01-01"))
    with pytest.raises(ValueError, match=r"test_size must be in \(0.0, 1.0\)"):
        pp.temporal_split(df, test_size=1.0)


@SETTINGS
@given(interaction_frames(), st.integers(0, 2**16))
def test_leave_one_out_rule(df, seed):
    train, test = pp.leave_one_out(df, random_state=seed)
    assert_partition(df, train, test)
    counts = df[S.USER].value_counts()
    # exactly one test row per user with >= 2 rows, none for the others
    assert sorted(test[S.USER].tolist()) == sorted(counts.index[counts >= 2].tolist())
    # the held-out row is (one of) the user's latest
    latest = df.groupby(S.USER)[S.DAY].max()
    assert (test[S.DAY].to_numpy() == latest.loc[test[S.USER]].to_numpy()).all()
    assert set(test[S.USER]) <= set(train[S.USER])
    again = pp.leave_one_out(df, random_state=seed)[1]
    assert again.index.equals(test.index)


def test_leave_one_out_breaks_ties_by_seed_and_handles_by_none(world):
    df = frame(np.zeros(50, dtype=int), np.arange(50), day=np.zeros(50, dtype=int))
    picks = {pp.leave_one_out(df, random_state=seed)[1].index[0] for seed in range(10)}
    assert len(picks) > 1
    train, test = pp.leave_one_out(df.drop(columns=S.DAY), by=None, random_state=0)
    assert len(test) == 1 and len(train) == 49
    purchases = world.interactions[world.interactions[S.PURCHASED] == 1]
    train, test = pp.leave_one_out(purchases)
    per_user = purchases[S.USER].value_counts()
    assert len(test) == int((per_user >= 2).sum()) and test[S.USER].is_unique


def test_leave_one_out_bad_input():
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['day'\]"):
        pp.leave_one_out(frame([1, 1], [1, 2]))
    with pytest.raises(ValueError, match="by must be a column name or None"):
        pp.leave_one_out(frame([1, 1], [1, 2]), by=3)


@pytest.mark.parametrize("split", [pp.random_split, pp.temporal_split, pp.leave_one_out])
def test_splits_reject_nan_ids_empty_frames_and_missing_columns(split):
    with pytest.raises(ValueError, match=r"'user_id' of df holds 1 missing ID\(s\) \(NaN\) at row\(s\) \[1"):
        split(frame([1, np.nan, 2], [1, 2, 3], day=[0, 1, 2]))
    with pytest.raises(ValueError, match="df is empty"):
        split(frame([], [], day=[]))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['item_id'\]"):
        split(pd.DataFrame({S.USER: [1, 2], S.DAY: [0, 1]}))
    with pytest.raises(ValueError, match="must hold integer or string IDs"):
        split(frame([1, 2], [0.5, 1], day=[0, 1]))


def test_random_split_bad_arguments():
    with pytest.raises(ValueError, match="df has 1 row; a split needs at least 2"):
        pp.random_split(frame([1], [1]))
    with pytest.raises(ValueError, match=r"test_size must be in \(0.0, 1.0\), got 0"):
        pp.random_split(frame([1, 2], [1, 2]), test_size=0)


def test_logged_randomized_split(small_world):
    train, test = pp.logged_randomized_split(small_world)
    pd.testing.assert_frame_equal(train, small_world.interactions)
    pd.testing.assert_frame_equal(test, small_world.randomized)
    train.loc[train.index[0], S.CLICKED] = 99  # copies: the world is not touched
    assert (small_world.interactions[S.CLICKED] != 99).all()
    logged = set(zip(train[S.USER], train[S.ITEM]))
    assert not any(pair in logged for pair in zip(test[S.USER], test[S.ITEM]))
    with pytest.raises(TypeError, match="world must be a ShopWorld"):
        pp.logged_randomized_split(small_world.interactions)
    empty = cr.simulate_shop(n_users=5, n_items=20, randomized_per_user=0, random_state=0)
    with pytest.raises(ValueError, match="world.randomized is empty"):
        pp.logged_randomized_split(empty)


# ================================================================ negative sampling
@SETTINGS
@given(interaction_frames(max_rows=25, n_items=8), st.integers(1, 5), st.integers(0, 2**16),
       st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), max_size=10))
def test_sample_negatives_never_hits_positives_or_exclusions(positives, k, seed, extra):
    n_items = 8
    exclude = pd.DataFrame(extra, columns=[S.USER, S.ITEM], dtype=np.int64)
    forbidden = set(zip(positives[S.USER], positives[S.ITEM])) | set(extra)
    per_user = {u: {i for v, i in forbidden if v == u} for u in positives[S.USER]}
    if any(len(items) == n_items for items in per_user.values()):
        with pytest.raises(ValueError, match="no negative can be drawn"):
            pp.sample_negatives(positives, n_items, n_negatives=k, exclude=exclude, random_state=seed)
        return
    out = pp.sample_negatives(positives, n_items, n_negatives=k, exclude=exclude, random_state=seed)
    n_pos = len(positives)
    assert len(out) == n_pos * (1 + k) and out.index.equals(pd.RangeIndex(len(out)))
    assert out[pp.LABEL].tolist() == [1] * n_pos + [0] * (n_pos * k)
    assert out[S.USER].iloc[:n_pos].tolist() == positives[S.USER].tolist()
    assert out[S.ITEM].iloc[:n_pos].tolist() == positives[S.ITEM].tolist()
    neg = out.iloc[n_pos:]
    assert neg[S.USER].tolist() == np.repeat(positives[S.USER].to_numpy(), k).tolist()
    assert neg[S.ITEM].between(0, n_items - 1).all()
    assert not any(pair in forbidden for pair in zip(neg[S.USER], neg[S.ITEM]))
    again = pp.sample_negatives(positives, n_items, n_negatives=k, exclude=exclude, random_state=seed)
    pd.testing.assert_frame_equal(again, out)


def test_sample_negatives_is_uniform_over_allowed_items():
    # user 0 may only get items 1, 3, 5 and 6; user 1 only items 0 and 2
    positives = frame([0, 0, 0, 1, 1], [0, 2, 4, 1, 3])
    exclude = frame([1, 1, 1], [4, 5, 6])
    out = pp.sample_negatives(positives, 7, n_negatives=2000, exclude=exclude, random_state=0)
    neg = out[out[pp.LABEL] == 0]
    freq0 = neg.loc[neg[S.USER] == 0, S.ITEM].value_counts(normalize=True).sort_index()
    freq1 = neg.loc[neg[S.USER] == 1, S.ITEM].value_counts(normalize=True).sort_index()
    assert freq0.index.tolist() == [1, 3, 5, 6] and freq1.index.tolist() == [0, 2]
    np.testing.assert_allclose(freq0, 0.25, atol=0.02)
    np.testing.assert_allclose(freq1, 0.5, atol=0.02)


def test_sample_negatives_on_world(world):
    logged = world.interactions
    positives = logged[logged[S.PURCHASED] == 1]
    out = pp.sample_negatives(positives, world.n_items, n_negatives=4, exclude=logged, random_state=0)
    neg = out[out[pp.LABEL] == 0]
    assert len(neg) == 4 * len(positives)
    logged_keys = set((logged[S.USER] * world.n_items + logged[S.ITEM]).tolist())
    assert not set((neg[S.USER] * world.n_items + neg[S.ITEM]).tolist()) & logged_keys
    other = pp.sample_negatives(positives, world.n_items, exclude=logged, random_state=1)
    assert not other[S.ITEM].equals(out[S.ITEM])


def test_sample_negatives_with_string_users():
    out = pp.sample_negatives(frame(["ann", "bob"], [0, 1]), 2, n_negatives=3, random_state=0)
    neg = out[out[pp.LABEL] == 0]
    assert neg.loc[neg[S.USER] == "ann", S.ITEM].eq(1).all()
    assert neg.loc[neg[S.USER] == "bob", S.ITEM].eq(0).all()


def test_sample_negatives_bad_input():
    pos = frame([0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"1 user\(s\) have every one of the 2 items.*\[0\]"):
        pp.sample_negatives(frame([0, 0, 1], [0, 1, 1]), 2)
    with pytest.raises(ValueError, match=r"'item_id' of positives must lie in \[0, n_items=2\); found \[5\]"):
        pp.sample_negatives(frame([0], [5]), 2)
    with pytest.raises(ValueError, match="must hold integer item IDs.*encode them first with IdEncoder"):
        pp.sample_negatives(frame([0], ["shoe"]), 2)
    with pytest.raises(ValueError, match=r"column 'user_id' of positives holds 1 missing ID\(s\)"):
        pp.sample_negatives(frame([0, None], [0, 1]), 3)
    with pytest.raises(ValueError, match="positives is empty"):
        pp.sample_negatives(frame([], []), 3)
    with pytest.raises(ValueError, match="n_negatives must be >= 1"):
        pp.sample_negatives(pos, 3, n_negatives=0)
    with pytest.raises(TypeError, match="n_items must be an integer"):
        pp.sample_negatives(pos, 3.5)
    with pytest.raises(ValueError, match=r"exclude is missing required column\(s\) \['item_id'\]"):
        pp.sample_negatives(pos, 3, exclude=pd.DataFrame({S.USER: [0]}))
    with pytest.raises(ValueError, match=r"column 'item_id' of exclude must lie in \[0, n_items=3\)"):
        pp.sample_negatives(pos, 3, exclude=frame([0], [7]))
    with pytest.raises(ValueError, match="holds integers but column 'user_id' of exclude holds strings"):
        pp.sample_negatives(pos, 3, exclude=frame(["0"], [2]))
