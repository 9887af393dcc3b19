"""Writing and reading worlds; the shipped data/ is exactly what the simulator makes."""

import filecmp

import numpy as np
import pandas as pd
import pytest

import causalrec as cr
from causalrec.data import load as datasets
from causalrec.data.simulate import simulate_shop


@pytest.fixture(scope="module")
def tiny_world():
    return simulate_shop(n_users=40, n_items=25, random_state=7)


def _assert_same_world(a, b):
    for name in ("users", "items", "interactions", "randomized"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.images, b.images)
    ta, tb = a.truth, b.truth
    for name in ("propensity", "effect", "relevance_logged", "relevance_randomized",
                 "rating_propensity", "effect_randomized"):
        np.testing.assert_allclose(getattr(ta, name), getattr(tb, name), rtol=1e-9)
    for name in ("user_taste", "item_attributes", "item_quality", "price_sensitivity", "log_price_centered"):
        np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))
    assert ta.ate == pytest.approx(tb.ate, rel=1e-9)
    assert ta.dag == tb.dag
    pd.testing.assert_series_equal(ta.cate_by_group, tb.cate_by_group, rtol=1e-9)
    assert ta.params == tb.params


def test_round_trip(tiny_world, tmp_path):
    sums = datasets.save_world(tiny_world, tmp_path)
    assert set(sums) == {p.name for p in tmp_path.iterdir()} - {"SHA256SUMS"}
    _assert_same_world(tiny_world, datasets.load_world(tmp_path))


def test_writing_is_byte_reproducible(tiny_world, tmp_path):
    datasets.save_world(tiny_world, tmp_path / "a")
    datasets.save_world(simulate_shop(n_users=40, n_items=25, random_state=7), tmp_path / "b")
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b",
                                               [p.name for p in (tmp_path / "a").iterdir()], shallow=False)
    assert not mismatch and not errors and len(match) == 10


def test_cli_regenerates_the_shipped_data_exactly(tmp_path):
    """`python -m causalrec simulate --out DIR` rewrites data/ byte for byte."""
    assert cr.cli.main(["simulate", "--out", str(tmp_path)]) == 0
    shipped = datasets.DEFAULT_DATA_DIR
    names = [p.name for p in tmp_path.iterdir()]
    match, mismatch, errors = filecmp.cmpfiles(shipped, tmp_path, names, shallow=False)
    assert not mismatch and not errors, f"differs from data/: {mismatch + errors}"
    assert len(match) == 10


def test_load_default_matches_the_simulator():
    world = cr.load_default()
    _assert_same_world(world, simulate_shop(**datasets.DEFAULT_WORLD))


def test_tampered_file_is_detected(tiny_world, tmp_path):
    datasets.save_world(tiny_world, tmp_path)
    path = tmp_path / "interactions.csv"
    path.write_text(path.read_text().replace("\n1,", "\n2,", 1))
    with pytest.raises(ValueError, match=r"interactions.csv \(checksum differs\)"):
        datasets.load_world(tmp_path)
    # and the caller can still read it deliberately
    assert len(datasets.load_world(tmp_path, verify=False).interactions) == len(tiny_world.interactions)


def test_missing_folder_and_files_are_explained(tiny_world, tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m causalrec simulate --out"):
        datasets.load_world(tmp_path / "nowhere")
    datasets.save_world(tiny_world, tmp_path)
    (tmp_path / "images.npz").unlink()
    with pytest.raises(FileNotFoundError, match="images.npz"):
        datasets.load_world(tmp_path)
    with pytest.raises(FileNotFoundError, match="regenerate it"):
        datasets.load_default(tmp_path / "empty")


def test_save_world_rejects_other_objects(tmp_path):
    with pytest.raises(TypeError, match="world"):
        datasets.save_world({"users": []}, tmp_path)


def test_cli_reports_bad_arguments(tmp_path, capsys):
    assert cr.cli.main(["simulate", "--out", str(tmp_path), "--users", "1"]) == 2
    assert "n_users must be >= 2" in capsys.readouterr().err


def test_data_card_quotes_the_shipped_numbers():
    card = (datasets.DEFAULT_DATA_DIR / "README.md").read_text(encoding="utf-8")
    world = cr.load_default()
    it = world.interactions
    naive = it.loc[it.exposed == 1, "purchased"].mean() - it.loc[it.exposed == 0, "purchased"].mean()
    quoted = {
        f"({len(it):,} rows)": "logged row count",
        f"({len(world.randomized):,} rows)": "randomized row count",
        f"over logged pairs: {world.truth.ate:.4f}": "ATE",
        f"`ate_randomized` ({world.truth.ate_randomized:.4f})": "randomized ATE",
        f"group 0: {world.truth.cate_by_group[0]:.4f}, group 1: {world.truth.cate_by_group[1]:.4f}": "CATE",
        f"not-shown pairs ({naive:.3f})": "naive difference",
        f"true average effect ({world.truth.ate:.3f})": "ATE (3 digits)",
    }
    for text, what in quoted.items():
        assert text in card, f"data/README.md does not quote the {what} as {text!r}"
