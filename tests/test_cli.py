"""Tests for the command line: `causalrec run` and `causalrec evaluate`, the example configs.

Every examples/*.toml is run with fast settings (``--set train.epochs=1`` and friends). Coat and
MovieLens are run on small fixtures in their public file formats, written here (the real files
are never on the test machine); ``--set data.path=... --set data.verify=false`` points the
examples at them.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalrec import cli, schema
from causalrec.cli import apply_overrides
from causalrec.pipeline import ConfigError, PipelineConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
FAST = ["--quiet", "--set", "train.epochs=1", "--set", "importance.rows=300", "--set", "importance.repeats=1"]


# ---------------------------------------------------------------- fixtures in the real formats
def _write_matrix(path, matrix, fmt="{:g}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(fmt.format(v) for v in row) for row in matrix]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))   # CRLF, as the real files


def make_coat(folder, n_users=40, n_items=30, per_user=10, seed=0):
    """Coat's layout: users x items matrices (0 = no rating), self-selected train, random test."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=(n_users, 3)) @ rng.normal(size=(n_items, 3)).T
    rating = np.clip(np.round(3 + score), 1, 5)
    train, test = np.zeros((n_users, n_items)), np.zeros((n_users, n_items))
    choice = np.exp(score) / np.exp(score).sum(axis=1, keepdims=True)
    for u in range(n_users):
        chosen = rng.choice(n_items, per_user, replace=False, p=choice[u])   # users pick what they like
        train[u, chosen] = rating[u, chosen]
        at_random = rng.choice(np.flatnonzero(train[u] == 0), 5, replace=False)
        test[u, at_random] = rating[u, at_random]
    _write_matrix(folder / "train.ascii", train)
    _write_matrix(folder / "test.ascii", test)
    _write_matrix(folder / "propensities.ascii", np.clip(per_user * choice, 0.01, 1), "{:.6f}")
    _write_matrix(folder / "user_item_features/user_features.ascii", np.eye(n_users, 14))
    _write_matrix(folder / "user_item_features/item_features.ascii", np.eye(n_items, 33))
    return train, test


def make_movielens(folder, n_users=40, n_items=30, per_user=12, seed=0):
    """MovieLens 100K's layout: u.data (tab-separated, 1-based IDs), u.item and u.user ('|', latin-1)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(u, i, int(rng.integers(1, 6)), 881250949 + int(rng.integers(0, 60)) * 86_400)
            for u in range(1, n_users + 1) for i in rng.choice(np.arange(1, n_items + 1), per_user, replace=False)]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    genres = "|".join(["0"] * 18 + ["1"])
    items = "".join(f"{i}|Film {i} (1995)|01-Jan-1995||http://example.invalid|{genres}\n" for i in range(1, n_items + 1))
    (folder / "u.item").write_bytes(items.replace("Film 2 ", "Caf\xe9 2 ").encode("latin-1"))
    (folder / "u.user").write_text("".join(f"{u}|{20 + u % 40}|{'MF'[u % 2]}|other|85711\n"
                                           for u in range(1, n_users + 1)))
    return rows


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("real")
    make_coat(base / "coat")
    make_movielens(base / "ml")
    return {"coat": base / "coat", "movielens": base / "ml"}


def _example_args(path: Path, real_files) -> list[str]:
    args = ["run", "--config", str(path), *FAST]
    raw = cli.read_config(path)
    source = raw.get("data", {}).get("source", "default")
    if source in real_files:
        args += ["--set", f"data.path={real_files[source]}", "--set", "data.verify=false"]
    if source == "simulate":
        args += ["--set", "data.users=150", "--set", "data.items=50"]
    return args


@pytest.fixture(scope="module")
def runs(tmp_path_factory, real_files):
    """Every example, run once with fast settings: {example name: output folder}."""
    out = {}
    for path in EXAMPLES:
        folder = tmp_path_factory.mktemp("run") / path.stem
        assert cli.main([*_example_args(path, real_files), "--out", str(folder)]) == 0, path.name
        out[path.stem] = folder
    return out


def _metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


# ------------------------------------------------------------------------------ the examples
def test_the_four_examples_exist_and_explain_every_key():
    assert {p.stem for p in EXAMPLES} >= {"default", "debiased", "coat", "movielens"}
    for path in EXAMPLES:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if re.match(r"^[a-z_]+ = ", line):
                above = lines[number - 1].strip()
                assert above.startswith("#") or re.match(r"^[a-z_]+ = ", above), \
                    f"{path.name} line {number + 1}: key without a comment above its group"
        cli.config_from_toml(cli.read_config(path))   # every example is a valid config as shipped


def test_every_example_writes_the_whole_report(runs):
    assert set(runs) == {p.stem for p in EXAMPLES}
    for name, folder in runs.items():
        for file in cli.OUTPUT_FILES:
            assert (folder / file).stat().st_size > 0, (name, file)
        figures = sorted(p.name for p in (folder / "figures").glob("*.png"))
        assert {"training.png", "importance.png", "popularity.png"} <= set(figures), name
        for png in (folder / "figures").glob("*.png"):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        payload = _metrics(folder)
        recs = pd.read_csv(folder / "recommendations.csv")
        assert list(recs.columns) == [schema.USER, schema.ITEM, schema.SCORE, schema.RANK]
        assert len(recs) == payload["n_recommendations"]
        k = payload["config"]["k"]
        assert recs.groupby(schema.USER).size().max() <= k
        assert payload["config"]["epochs"] == 1, "the --set override reached the run"
        for metric, value in payload["metrics"].items():
            assert np.isfinite(value), (name, metric)
            if not metric.startswith("mean_popularity"):
                assert 0.0 <= value <= 1.0, (name, metric, value)
        assert payload["metrics"][f"coverage@{k}"] > 0


def test_report_html_is_one_self_contained_page(runs):
    for name, folder in runs.items():
        page = (folder / "report.html").read_text()
        payload = _metrics(folder)
        images = re.findall(r"<img [^>]*>", page)
        assert len(images) == len(list((folder / "figures").glob("*.png"))), name
        for image in images:
            assert 'src="data:image/png;base64,' in image
            alt = re.search(r'alt="([^"]*)"', image)
            assert alt and len(alt.group(1)) > 30, f"{name}: an image without real alt text"
        assert "<script" not in page and "https://" not in page and "http://" not in page, "no CDN, no network"
        assert "<table>" in page and "<th>metric</th>" in page
        for metric in payload["metrics"]:
            assert f"<td>{metric}</td>" in page
        assert f"seed {payload['config']['random_state']}" in page
        assert f"torch {payload['versions']['torch']}" in page
        assert 'source = "' in html.unescape(page), "the config used is on the page"


def test_default_example_effect_step_recovers_the_truth(runs):
    payload = _metrics(runs["default"])
    effect = payload["effect"]
    assert effect["effect_method"] == "weighting"
    # the naive difference overstates the effect; the adjusted estimate is close to the truth
    assert effect["effect_naive"] > effect["effect_true"] + 0.05
    assert abs(effect["effect_estimate"] - effect["effect_true"]) < 0.03
    assert set(effect["effect_adjustment"]) == {"log_popularity", "policy_score"}
    assert payload["branch"]["path"] == "causal"
    assert payload["data"]["n_users"] == 1000 and payload["data"]["n_randomized"] > 0
    assert "randomized_auc" in payload["metrics"]
    assert (runs["default"] / "figures" / "effect.png").exists()


def test_debiased_example_trains_with_ips(runs):
    payload = _metrics(runs["debiased"])
    assert payload["config"]["debias"] == "ips"
    assert payload["config"]["n_users"] == 150, "the --set override of the world size reached the run"
    assert payload["data"] == {"n_users": 150, "n_items": 50, "n_logged": payload["data"]["n_logged"],
                               "n_randomized": payload["data"]["n_randomized"]}
    assert payload["effect"]["effect_method"] == "regression_adjustment"
    assert abs(payload["effect"]["effect_estimate"] - payload["effect"]["effect_true"]) < 0.06


def test_coat_example_on_fixture_files(runs, real_files):
    payload = _metrics(runs["coat"])
    train = np.loadtxt(real_files["coat"] / "train.ascii")
    assert payload["data"]["n_users"] == train.shape[0]
    assert payload["data"]["n_logged"] == np.count_nonzero(train)
    assert payload["branch"]["path"] == "causal"   # a randomized slice and shipped propensities
    assert "randomized_ndcg@10" in payload["metrics"]
    assert payload["effect"] is None and not (runs["coat"] / "figures" / "effect.png").exists()
    recs = pd.read_csv(runs["coat"] / "recommendations.csv")
    seen = set(zip(*np.nonzero(train)))
    assert not any((u, i) in seen for u, i in zip(recs[schema.USER], recs[schema.ITEM]))


def test_movielens_example_on_fixture_files(runs, real_files):
    payload = _metrics(runs["movielens"])
    assert payload["data"]["n_logged"] == len((real_files["movielens"] / "u.data").read_text().splitlines())
    assert payload["data"]["n_randomized"] == 0
    assert payload["branch"]["path"] == "features"
    assert not any(name.startswith("randomized_") for name in payload["metrics"])
    assert payload["config"]["split"] == "temporal"


def test_same_seed_same_metrics_json(tmp_path):
    args = ["run", "--quiet", "--set", "data.source=simulate", "--set", "data.users=80", "--set", "data.items=30",
            "--set", "train.epochs=2", "--set", "train.batch_size=256", "--set", "effect.method=none",
            "--set", "importance.rows=200"]
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    assert (tmp_path / "a" / "recommendations.csv").read_bytes() == (tmp_path / "b" / "recommendations.csv").read_bytes()
    assert cli.main([*args, "--set", "run.seed=1", "--out", str(tmp_path / "c")]) == 0
    assert _metrics(tmp_path / "c")["metrics"] != _metrics(tmp_path / "a")["metrics"]


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_a_run_against_randomized_slice_and_truth(runs, capsys):
    folder = runs["default"]
    capsys.readouterr()
    assert cli.main(["evaluate", "--run", str(folder), "--out", str(folder.parent / "eval.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((folder.parent / "eval.json").read_text())
    payload = _metrics(folder)
    # the same lists and catalogue as the run: the same coverage
    assert printed["coverage@10"] == pytest.approx(payload["metrics"]["coverage@10"])
    # even after one epoch the lists hold items that are truly more relevant than random ones
    assert printed["true_relevance_random"] < printed["true_relevance@10"] < printed["true_relevance_best@10"]
    assert 0 < printed["randomized_hit_rate@10"] <= 1 and 0 <= printed["randomized_precision@10"] <= 1
    assert cli.main(["evaluate", "--run", str(folder), "--k", "3"]) == 0
    shorter = json.loads(capsys.readouterr().out)
    assert shorter["randomized_hit_rate@3"] <= printed["randomized_hit_rate@10"]


def test_evaluate_hand_computed_heldout_metrics(tmp_path, real_files, capsys):
    recs = pd.DataFrame({schema.USER: [0, 0, 1, 1], schema.ITEM: [5, 6, 7, 8], schema.RANK: [1, 2, 1, 2]})
    recs.to_csv(tmp_path / "recs.csv", index=False)
    pd.DataFrame({schema.USER: [0, 1], schema.ITEM: [6, 9], "relevant": [1, 1]}).to_csv(tmp_path / "held.csv",
                                                                                        index=False)
    capsys.readouterr()
    assert cli.main(["evaluate", "--recommendations", str(tmp_path / "recs.csv"), "--data", "movielens",
                     "--path", str(real_files["movielens"]), "--set", "data.verify=false",
                     "--heldout", str(tmp_path / "held.csv"), "--k", "2"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    # user 0 finds its item at rank 2, user 1 misses: hit rate 1/2, precision (1/2 + 0)/2
    assert metrics["heldout_hit_rate@2"] == pytest.approx(0.5)
    assert metrics["heldout_precision@2"] == pytest.approx(0.25)
    assert metrics["coverage@2"] == pytest.approx(4 / 30)
    assert not any(name.startswith(("randomized_", "true_")) for name in metrics)


@pytest.mark.parametrize("content, message", [
    ("user_id,item\n0,1\n", r"lacks column\(s\) \['item_id'\]"),
    ("user_id,item_id\n0,1\n", "needs a 'rank' or a 'score' column"),
    ("user_id,item_id,rank\n0,999,1\n", "item_id values outside 0..299"),
])
def test_evaluate_rejects_bad_recommendation_files(tmp_path, capsys, content, message):
    (tmp_path / "recs.csv").write_text(content)
    assert cli.main(["evaluate", "--recommendations", str(tmp_path / "recs.csv"), "--data", "default"]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_evaluate_needs_a_run_folder_or_a_file(tmp_path, capsys):
    assert cli.main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "holds no config.toml" in capsys.readouterr().err
    assert cli.main(["evaluate"]) == 2
    assert "give --run DIR, or --recommendations CSV" in capsys.readouterr().err


# ------------------------------------------------------------------------------ bad configs (the schema's own tests: test_pipeline.py)
def test_set_overrides_parse_toml_values_and_refuse_bad_syntax():
    raw = apply_overrides({}, ["train.epochs=3", "train.lr=0.5", "data.verify=false", "data.path=/tmp/x y",
                               'train.model="neumf"'])
    assert raw == {"train": {"epochs": 3, "lr": 0.5, "model": "neumf"}, "data": {"verify": False, "path": "/tmp/x y"}}
    for bad in ("epochs=3", "train.epochs", ".epochs=1"):
        with pytest.raises(ConfigError, match="must look like SECTION.KEY=VALUE"):
            apply_overrides({}, [bad])


def test_bad_config_fails_before_any_file_is_written(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[train]\nmodel = "svd"\n[evaluate]\nk = 0\n')
    out = tmp_path / "out"
    assert cli.main(["run", "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "train.model = 'svd'" in err and "evaluate.k = 0" in err
    assert not out.exists()
    assert cli.main(["run", "--config", str(config), "--set", "train.model=mf", "--set", "evaluate.k=5",
                     "--out", str(out), "--dry-run"]) == 0
    assert not out.exists(), "--dry-run writes nothing"


def test_invalid_toml_and_missing_config_name_the_file(tmp_path, capsys):
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\nepochs = 1\n")
    assert cli.main(["run", "--config", str(broken), "--out", str(tmp_path / "o")]) == 2
    assert "broken.toml is not valid TOML" in capsys.readouterr().err
    assert cli.main(["run", "--config", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_missing_real_files_fail_with_where_to_put_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CAUSALREC_COAT", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["run", "--config", str(ROOT / "examples" / "coat.toml"), "--set", f"data.path={empty}",
                     "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no train.ascii in" in capsys.readouterr().err
    assert not (tmp_path / "o").exists(), "a run that fails while loading writes nothing"


# ------------------------------------------------------------------------------ the output folder
def test_refuses_a_non_empty_folder_and_force_keeps_other_files(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text("old")
    args = ["run", "--quiet", "--set", "data.source=simulate", "--set", "data.users=60", "--set", "data.items=25",
            "--set", "train.epochs=1", "--set", "effect.method=none", "--set", "importance.rows=100",
            "--out", str(out)]
    assert cli.main(args) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == "old", "nothing was overwritten"
    assert cli.main([*args, "--force"]) == 0
    assert (out / "notes.txt").read_text() == "mine", "--force keeps files a run does not write"
    assert json.loads((out / "metrics.json").read_text())["data"]["n_users"] == 60


# ------------------------------------------------------------------------------ help
def _options(parser_help: str) -> set[str]:
    return set(re.findall(r"(--[a-z][a-z-]*)", parser_help))


def test_help_documents_every_option_and_config_key():
    parser = cli.build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    assert set(subparsers) == {"run", "evaluate", "simulate", "exercises"}
    for name, sub in subparsers.items():
        text = sub.format_help()
        for action in sub._actions:
            for option in action.option_strings:
                assert option in text, (name, option)
            if action.option_strings and action.dest != "help":
                assert action.help and len(action.help) > 10, (name, action.dest)
    run_help = subparsers["run"].format_help()
    assert cli.describe_config() in run_help, "run --help lists every config key (from the one schema)"


def test_python_dash_m_causalrec_help():
    done = subprocess.run([sys.executable, "-m", "causalrec", "run", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {"--config", "--out", "--set", "--force", "--quiet", "--dry-run"} <= _options(done.stdout)
    assert "train.model: one of 'mf', 'neumf', 'multimodal'" in done.stdout and done.stderr == ""
