"""Recommending by effect against recommending by purchase probability, scored with the simulator's truth.

For the lesson's world (causalrec.uplift.UPLIFT_WORLD) and the default world, over seeds: simulate,
split the log 70/30, fit MF on clicks (shown rows) and on purchases, fit the DR- and T-learners of
causalrec.uplift on the training rows with the true exposure propensities, and rank the whole
catalogue for every user by estimated effect, purchase probability (MF on purchases), popularity,
at random and by the true effect (oracle). Reports means over seeds of the true incremental
purchases per user of each top 10 (shown in rank order), logged precision@10 (each user's held-out
logged rows ranked, a purchase counts as a hit) and uplift@5 from the randomized slice alone.
It also chooses between the two learners without the truth or the slice (``validate``): MFs and
learners refitted on 75% of the training rows, each user's 3 held-out training rows with the largest
estimated effect kept, their mean doubly robust score compared (the higher wins).

    python benchmarks/bench_uplift.py [--seeds 0 1 2] [--json PATH] [--econml-python PATH]

``--econml-python``: a Python with EconML installed (e.g. /tmp/uplift-venv/bin/python); its
DRLearner is fitted on the same features and rows of the lesson world, seed 0 (it estimates the
propensities itself). Without the flag, the "econml" block of an existing PATH is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _machine import load_average, machine, write_json

import causalrec as cr
from causalrec import schema
from causalrec.uplift import UPLIFT_WORLD, EffectModel, incremental_purchases, pair_features, true_effect, uplift_at_k

RANKERS = ("by_effect", "by_effect_t", "by_purchase_probability", "by_popularity", "random", "oracle")
ECONML = """
import sys, numpy as np, econml
from econml.dr import DRLearner
from sklearn.ensemble import HistGradientBoostingClassifier as C, HistGradientBoostingRegressor as R
d = np.load(sys.argv[1])
kw = dict(max_iter=100, max_depth=3, random_state=0)
model = DRLearner(model_propensity=C(**kw), model_regression=C(**kw), model_final=R(**kw),
                  discrete_outcome=True, cv=2, random_state=0)
model.fit(d["y"], d["z"], X=d["X"])
np.savez(sys.argv[2], effect=model.effect(d["X_all"]), version=econml.__version__)
"""


def fit_world(params: dict, seed: int, rows=None):
    """The world, its split, the features of every pair, and the models fitted on ``train`` (or on ``rows``)."""
    world = cr.simulate_shop(params=params, random_state=seed)
    log = world.interactions.assign(propensity=world.truth.propensity)
    train, test = cr.prep.random_split(log, test_size=0.3, random_state=seed)
    train = train if rows is None else rows
    items = world.items[[schema.ITEM]]
    mf = dict(dim=16, epochs=10, verbose=False, random_state=seed)
    click = cr.Recommender("mf", **mf).fit(train[train[schema.EXPOSED] == 1], target=schema.CLICKED, items=items)
    buy = cr.Recommender("mf", **mf).fit(train, target=schema.PURCHASED, items=items)

    def features(users, items_):
        return pair_features(world, users, items_, click.predict(users, items_), buy.predict(users, items_))
    X = features(train[schema.USER], train[schema.ITEM])
    learners = {name: EffectModel(name, random_state=seed).fit(X, train[schema.EXPOSED], train[schema.PURCHASED],
                                                               propensity=train["propensity"])
                for name in ("dr", "t")}
    return world, train, test, features, buy, learners, X


def top_k_mean(users, score, values, k):
    """Per user: the mean of ``values`` over the ``k`` rows with the highest ``score``."""
    order = np.lexsort((-score, users))
    kept = order[pd.Series(users[order]).groupby(users[order]).cumcount().to_numpy() < k]
    return pd.Series(values[kept]).groupby(users[kept]).mean()


def validate(params: dict, seed: int, k: int = 3) -> dict:
    """Truth-free choice of learner: refit on 75% of the training rows, score the other 25% by DR uplift@k."""
    world = cr.simulate_shop(params=params, random_state=seed)
    log = world.interactions.assign(propensity=world.truth.propensity)
    fit, val = cr.prep.random_split(cr.prep.random_split(log, test_size=0.3, random_state=seed)[0],
                                    test_size=0.25, random_state=seed)
    _, _, _, features, _, learners, _ = fit_world(params, seed, rows=fit)
    X = features(val[schema.USER], val[schema.ITEM])
    mu0, mu1 = (m.predict_proba(X)[:, 1] for m in learners["t"].outcome_models_)  # fitted on `fit` only
    z, y, e = val[schema.EXPOSED].to_numpy(), val[schema.PURCHASED].to_numpy(), np.clip(val["propensity"], .01, .99)
    psi = mu1 - mu0 + z * (y - mu1) / e - (1 - z) * (y - mu0) / (1 - e)
    per_user = {name: top_k_mean(val[schema.USER].to_numpy(), m.predict(X), psi.to_numpy(), k)
                for name, m in learners.items()}
    difference = per_user["t"] - per_user["dr"]
    return {"t": float(per_user["t"].mean()), "dr": float(per_user["dr"].mean()),
            "se_difference": float(difference.std() / np.sqrt(len(difference)))}


def scores_of(world, users, items, features, buy, learners, seed):
    X = features(users, items)
    return {"by_effect": learners["dr"].predict(X), "by_effect_t": learners["t"].predict(X),
            "by_purchase_probability": buy.predict(users, items), "by_popularity": X[:, 2],
            "random": np.random.default_rng(seed).random(len(users)), "oracle": true_effect(world, users, items)}


def evaluate(params: dict, seed: int) -> dict:
    world, _, test, features, buy, learners, _ = fit_world(params, seed)
    n_users, n_items = world.n_users, world.n_items
    users, items = np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users)
    every = scores_of(world, users, items, features, buy, learners, seed)
    rand = world.randomized
    on_slice = scores_of(world, rand[schema.USER].to_numpy(), rand[schema.ITEM].to_numpy(), features, buy,
                         learners, seed)
    relevant = test[test[schema.PURCHASED] == 1][[schema.USER, schema.ITEM]]
    out = {"incremental_purchases_at_10": {}, "logged_precision_at_10": {}, "uplift_at_5": {}, "uplift_at_5_true": {}}
    for name in RANKERS:
        matrix = every[name].reshape(n_users, n_items)
        recs = cr.topk_frame(cr.top_k(matrix, 10), np.arange(n_users))
        scored = test.assign(score=matrix[test[schema.USER], test[schema.ITEM]])
        out["incremental_purchases_at_10"][name] = incremental_purchases(world, recs)
        out["logged_precision_at_10"][name] = float(cr.evaluate_ranking(scored, relevant, k=10)["precision_at_k"])
        uplift = uplift_at_k(world, on_slice[name], 5)
        out["uplift_at_5"][name], out["uplift_at_5_true"][name] = uplift.estimate, uplift.true
    out["effect_correlation"] = {name: float(np.corrcoef(every[name], every["oracle"])[0, 1])
                                 for name in ("by_effect", "by_effect_t", "by_purchase_probability")}
    return out


def econml_comparison(python: str) -> dict:
    """EconML's DRLearner on the lesson world, seed 0, next to ours (same features, rows, learners)."""
    world, train, _, features, _, learners, X = fit_world(UPLIFT_WORLD, 0)
    n_users, n_items = world.n_users, world.n_items
    users, items = np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users)
    X_all = features(users, items)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", X=X, X_all=X_all, y=train[schema.PURCHASED].to_numpy(),
                 z=train[schema.EXPOSED].to_numpy())
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([python, "-c", ECONML, str(Path(tmp) / "in.npz"), str(Path(tmp) / "out.npz")],
                       check=True, env=env)
        result = np.load(Path(tmp) / "out.npz")
        theirs, version = result["effect"].ravel(), str(result["version"])
    ours, truth = learners["dr"].predict(X_all), true_effect(world, users, items)
    top = {name: incremental_purchases(world, cr.topk_frame(cr.top_k(s.reshape(n_users, n_items), 10),
                                                            np.arange(n_users)))
           for name, s in (("ours", ours), ("econml", theirs))}
    return {"econml": version, "note": "EconML estimates the propensity itself from X, which lacks policy_score: misspecified "
                                       "(ours uses the true one)",
            "correlation_ours_econml": float(np.corrcoef(ours, theirs)[0, 1]),
            "correlation_with_truth": {"ours": float(np.corrcoef(ours, truth)[0, 1]),
                                       "econml": float(np.corrcoef(theirs, truth)[0, 1])},
            "incremental_purchases_at_10": top}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "bench_uplift.json"))
    parser.add_argument("--econml-python", default=None)
    args = parser.parse_args(argv)
    if len(args.seeds) < 3:
        parser.error("use at least 3 seeds")
    load_before, start = load_average(), time.perf_counter()
    result = {"command": "python benchmarks/bench_uplift.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    for label, params in (("lesson", UPLIFT_WORLD), ("default", {})):
        runs = [evaluate(params, seed) for seed in args.seeds]
        block = {"world": {"params": params, "n_users": 1000, "n_items": 300}, "seeds": args.seeds}
        for metric in runs[0]:
            block[metric] = {name: float(np.mean([r[metric][name] for r in runs])) for name in runs[0][metric]}
        block["per_seed"] = {metric: {name: [r[metric][name] for r in runs] for name in runs[0][metric]}
                             for metric in ("incremental_purchases_at_10", "logged_precision_at_10")}
        checks = [validate(params, seed) for seed in args.seeds]
        block["validation_uplift_at_3"] = {key: [c[key] for c in checks] for key in checks[0]}
        block["validation_choice"] = ["t" if c["t"] > c["dr"] else "dr" for c in checks]
        incremental = block["incremental_purchases_at_10"]
        block["effect_over_probability"] = incremental["by_effect"] / incremental["by_purchase_probability"]
        result[label] = block
        print(label, block["validation_uplift_at_3"], pd.DataFrame({m: block[m] for m in ("incremental_purchases_at_10", "logged_precision_at_10",
                                                          "uplift_at_5", "uplift_at_5_true")}).round(4), sep="\n")
    if args.econml_python:
        result["econml"] = econml_comparison(args.econml_python)
        print(result["econml"])
    elif Path(args.json).exists() and "econml" in (previous := json.loads(Path(args.json).read_text())):
        result["econml"] = previous["econml"]  # kept from the last run that had EconML (see --econml-python)
    result["seconds"] = time.perf_counter() - start
    result["machine"] = machine(load_average_before=load_before)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
