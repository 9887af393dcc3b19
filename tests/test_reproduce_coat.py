"""benchmarks/reproduce_coat.py end to end: on small files in Coat's and MovieLens' public layouts
(written with CRLF line endings, like the real Coat files) and on the Coat-shaped simulated world.

``--quick`` (5 epochs, 2 seeds, one setting per method) keeps each run short.
"""

import copy
import importlib.util
import sys
import json
import math
from pathlib import Path

import numpy as np
import pytest

from causalrec import schema
from causalrec.data import load as datasets

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "reproduce_coat.py"
METHODS = ("naive", "ips", "ips_estimated", "snips", "dr", "dr_ipw")


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(SCRIPT.parent))          # the script imports its sibling _machine.py
    spec = importlib.util.spec_from_file_location("reproduce_coat", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def small_coat(tmp_path_factory):
    """A small world in Coat's file layout (CRLF), 40 users x 50 items, 8 train and 5 test ratings each."""
    data = datasets.coat_like(n_users=40, n_items=50, n_train=8, n_test=5, random_state=1)
    folder = datasets.write_coat(data, tmp_path_factory.mktemp("coat") / "coat")
    assert b"\r\n" in (folder / "test.ascii").read_bytes()
    return data, folder


def _write_movielens(folder, n_users=30, n_items=40, n_ratings=600, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    keys = rng.choice(n_users * n_items, n_ratings, replace=False)
    users, items = keys // n_items + 1, keys % n_items + 1
    # low item IDs are liked more often, so popularity has signal
    ratings = np.clip(np.round(5 - 3 * items / n_items + rng.normal(0, 0.8, n_ratings)), 1, 5).astype(int)
    times = 881_250_000 + np.sort(rng.integers(0, 200 * 86_400, n_ratings))
    order = rng.permutation(n_ratings)          # u.data is not in time order
    lines = [f"{users[k]}\t{items[k]}\t{ratings[k]}\t{times[k]}\n" for k in order]
    (folder / "u.data").write_text("".join(lines))
    genres = "|".join(["0"] * 18 + ["1"])
    (folder / "u.item").write_text("".join(f"{i}|Film {i} (1995)|01-Jan-1995||http://example.invalid|{genres}\n"
                                           for i in range(1, n_items + 1)), encoding="latin-1")
    (folder / "u.user").write_text("".join(f"{u}|30|F|other|00000\n" for u in range(1, n_users + 1)))
    return folder


def _check_coat_block(block):
    for method in METHODS:
        row = block[method]
        for key in ("mse", "mse_std", "mae", "mae_std", "ndcg@5", "auc"):
            assert math.isfinite(row[key]) and row[key] >= 0, (method, key)
        assert 0 < row["mse"] <= 16 and 0 < row["mae"] <= 4            # ratings and predictions lie in [1, 5]
        assert row["mse"] >= row["mae"] ** 2 - 1e-9                    # Jensen: E[e^2] >= E[|e|]^2
        assert 0 <= row["ndcg@5"] <= 1 and 0 <= row["auc"] <= 1
        assert len(row["per_seed_mse"]) == 2
        assert row["mse_std"] == pytest.approx(np.std(row["per_seed_mse"]), abs=1e-3)


def test_end_to_end_on_files_in_coats_layout(script, small_coat, tmp_path):
    data, folder = small_coat
    movielens = _write_movielens(tmp_path / "ml-100k")
    out = tmp_path / "result.json"
    script.main(["--coat", str(folder), "--movielens", str(movielens), "--no-verify", "--quick",
                 "--json", str(out)])
    result = json.loads(out.read_text())
    _check_coat_block(result["coat"])
    assert "coat_simulated" not in result                  # real files given: no simulated run unless asked
    assert result["coat"]["data"]["train_ratings"] == 40 * 8 and result["coat"]["data"]["test_ratings"] == 40 * 5
    assert result["coat"]["data"]["name"] == "coat"        # read back through load_coat, no truth
    assert "oracle_test_mse" not in result["coat"]["data"]
    assert result["published"]["naive"] == {"mse": 1.202, "mae": 0.920}
    assert result["published"]["ips"] == {"mse": 1.093, "mae": 0.860}
    assert result["seeds"] == [0, 1] and "torch" in result["machine"]
    assert set(result["coat_files_sha256"]) == {"train.ascii", "test.ascii", "propensities.ascii"}
    assert result["command"].startswith("python benchmarks/reproduce_coat.py --coat ")
    assert result["date"].endswith("Z")
    ml = result["movielens"]
    for model in ("popularity", "mf", "neumf"):
        assert 0 <= ml[model]["ndcg@10"] <= 1 and 0 <= ml[model]["recall@10"] <= 1
    assert ml["data"]["evaluated_users"] > 0
    assert ml["popularity"]["recall@10"] > 0.2             # the fixture's popular items are the liked ones


def test_quick_run_on_the_coat_shaped_world(script, tmp_path):
    out = tmp_path / "simulated.json"
    script.main(["--simulated", "--quick", "--json", str(out)])
    result = json.loads(out.read_text())
    block = result["coat_simulated"]
    _check_coat_block(block)
    assert block["data"]["train_ratings"] == 6960 and block["data"]["test_ratings"] == 4640
    assert "not the real Coat data" in block["note"]
    # even after 3 epochs, weighting by the true propensities beats ignoring them by far
    assert block["ips"]["mse"] < block["naive"]["mse"] - 0.3
    # and nothing beats predicting the expected rating
    assert all(block[m]["mse"] > block["data"]["oracle_test_mse"] for m in METHODS)


def test_hyperparameters_never_see_the_test_set(script, small_coat):
    data, _ = small_coat
    grid = {"weight_decay": (1e-3, 1e-1)}
    chosen = script.run_method(data, "ips", data.propensity, grid, seeds=(0,), epochs=3)
    scrambled = copy.copy(data)                     # the same train ratings, other test ratings
    scrambled.randomized = data.randomized.assign(**{schema.RATING: 6 - data.randomized[schema.RATING]})
    again = script.run_method(scrambled, "ips", data.propensity, grid, seeds=(0,), epochs=3)
    assert again["hyperparameters"] == chosen["hyperparameters"] and again["validation"] == chosen["validation"]
    assert again["mse"] != chosen["mse"]            # the test set did change, and only the scores moved
    assert [row["weight_decay"] for row in chosen["validation"]] == [1e-3, 1e-1]


def test_estimated_propensities_are_probabilities_on_the_all_pairs_scale(script, small_coat):
    data, _ = small_coat
    p, correlation = script.estimated_propensities(data)
    assert p.shape == (len(data.interactions),) and (p > 0).all() and (p < 1).all()
    # every user rated 8 of 50 items: the fitted probabilities average to about that share
    assert abs(p.mean() - 8 / 50) < 0.1
    assert -1 <= correlation <= 1


def test_temporal_split_puts_the_future_in_test(script, tmp_path):
    data = datasets.load_movielens_100k(_write_movielens(tmp_path / "ml"), verify=False)
    train, test, dropped = script.temporal_split(data.interactions)
    assert train["timestamp"].max() <= test["timestamp"].min()
    assert len(train) == 480 and len(test) + dropped == 120
    assert test[schema.USER].isin(train[schema.USER]).all() and test[schema.ITEM].isin(train[schema.ITEM]).all()


def test_bad_arguments_fail_clearly(script, tmp_path):
    with pytest.raises(SystemExit):
        script.main(["--simulated", "--seeds", "0", "--json", str(tmp_path / "x.json")])
    with pytest.raises(FileNotFoundError, match="no train.ascii in"):
        script.main(["--coat", str(tmp_path / "absent"), "--json", str(tmp_path / "x.json")])
    with pytest.raises(ValueError, match="train.ascii"):   # our files are not the real ones: the message names the file
        folder = datasets.write_coat(datasets.coat_like(n_users=5, n_items=6, n_train=2, n_test=2), tmp_path / "c")
        script.main(["--coat", str(folder), "--quick", "--json", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()
