"""The shared input checks: each error names what is wrong."""

import numpy as np
import pandas as pd
import pytest

from causalrec import _checks as v


def test_random_state_forms():
    assert v.check_random_state(3).integers(1000) == np.random.default_rng(3).integers(1000)
    rng = np.random.default_rng(1)
    assert v.check_random_state(rng) is rng
    assert isinstance(v.check_random_state(None), np.random.Generator)
    assert v.seed_from(11) == 11
    assert v.seed_from(np.random.default_rng(0)) == v.seed_from(np.random.default_rng(0))
    with pytest.raises(TypeError, match="random_state"):
        v.check_random_state(True)


def test_dataframe_checks():
    df = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['c'\]"):
        v.check_dataframe(df, "frame", ["a", "c"])
    with pytest.raises(ValueError, match="frame is empty"):
        v.check_dataframe(df.iloc[:0], "frame")
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        v.check_dataframe([1], "frame")
    with pytest.raises(ValueError, match="column 'b' of frame must be numeric"):
        v.check_numeric_column(df, "b", "frame")
    with pytest.raises(ValueError, match="holds 1 missing ID"):
        v.check_id_column(df, "b", "frame")
    for bad in ([1.5, 2.0], ["a", 3], [True, False]):
        with pytest.raises(ValueError, match="column 'x' of frame"):
            v.check_id_column(pd.DataFrame({"x": bad}), "x", "frame")
    for good in ([1.0, 2.0], ["a", "b"], [3, 4]):
        v.check_id_column(pd.DataFrame({"x": good}), "x", "frame")
    with pytest.raises(ValueError, match="holds 1 missing value"):
        v.check_numeric_column(pd.DataFrame({"a": [1.0, np.nan]}), "a", "frame")


def test_id_array_check_one_helper_for_models_and_ranking():
    import torch
    assert v.check_ids(torch.tensor([2, 0]), "ids").tolist() == [2, 0]
    assert v.check_ids([3.0, 1.0], "ids").dtype == np.int64
    assert len(v.check_ids([], "ids")) == 0
    for bad, words in (([1.5], "non-negative integer IDs; found \\[1.5\\]"), ([-1], "found \\[-1\\]"),
                       ([[0]], "1-D array"), ([True], "1-D array"), (["a"], "1-D array")):
        with pytest.raises(ValueError, match=words):
            v.check_ids(bad, "ids")
    with pytest.raises(ValueError, match="ids must be a non-empty 1-D"):
        v.check_ids([], "ids", allow_empty=False)
    with pytest.raises(ValueError, match=r"ids holds repeated IDs such as \[4\]"):
        v.check_ids([4, 1, 4], "ids", unique=True)
    with pytest.raises(ValueError, match=r"ids holds ID\(s\) \[5\] outside the catalogue \[0, 5\)"):
        v.check_ids([0, 5], "ids", 5)
    with pytest.raises(ValueError, match=r"unknown user ID\(s\) \[5\] in users: the model knows users 0..4"):
        v.check_ids([0, 5], "users", 5, "user")


def test_scalar_checks():
    assert v.check_positive_int(np.int64(3), "k") == 3
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        v.check_positive_int(0, "k")
    with pytest.raises(TypeError, match="k must be an integer"):
        v.check_positive_int(2.0, "k")
    assert v.check_fraction(0.5, "p") == 0.5
    with pytest.raises(ValueError, match=r"p must be in \(0.0, 1.0\]"):
        v.check_fraction(0.0, "p", inclusive=(False, True))
    with pytest.raises(ValueError, match="finite"):
        v.check_fraction(float("nan"), "p")


def test_binary():
    np.testing.assert_array_equal(v.check_binary([True, False], "t"), [1, 0])
    with pytest.raises(ValueError, match="t must be binary"):
        v.check_binary([0, 2], "t")
    with pytest.raises(ValueError, match="t must be binary"):
        v.check_binary(["a"], "t")


def test_memory_check_refuses_what_the_machine_cannot_hold():
    v.check_memory(1e6, "a megabyte")
    with pytest.raises(ValueError, match=r"a zettabyte would need about 1099511627776.0 GiB"):
        v.check_memory(2.0**70, "a zettabyte")
