"""Reproduce the Coat results of Schnabel et al. (ICML 2016), and doubly robust joint learning
(Wang et al., ICML 2019), with causalrec; run the same protocol on the Coat-shaped simulated world
and, optionally, a ranking comparison on MovieLens 100K.

Coat: matrix factorization with user, item and global biases, trained full-batch on the
self-selected train ratings with six objectives (naive; IPS with the shipped propensities;
IPS with propensities estimated from the user and item features; SNIPS; doubly robust joint
learning, ``dr``, whose imputation model is weighted by (1 - p)/p^2, and ``dr_ipw``, weighted by
1/p), each evaluated on the randomly sampled test ratings: MSE, MAE, and NDCG@5 and AUC with
ratings >= 4 as relevant (mean and standard deviation over seeds). Every setting of the grid
(dimension, weight decay, clipping bound or imputation weight decay) and the number of epochs
are chosen on validation splits of 20% of the **train** ratings (never the test file), the score
averaged over three random splits: the naive model by its plain validation MSE, the others by
the SNIPS-weighted validation MSE with the propensities they train with (the shipped ones, or the
estimated ones for ``ips_estimated``); the chosen setting is then
refitted on all train ratings for its median best number of epochs, once per seed.

MovieLens 100K: a temporal split (the last 20% of ratings in time are the test set); a rating
of 4 or 5 counts as relevant; popularity, MF and NeuMF trained with BPR on the train positives,
scored by NDCG@10 and recall@10.

Usage::

    python benchmarks/reproduce_coat.py --coat DIR --json benchmarks/results/reproduce_coat_real.json
    python benchmarks/reproduce_coat.py --simulated --json benchmarks/results/reproduce_coat.json
    python benchmarks/reproduce_coat.py --simulated --quick --json OUT   # seconds, for tests

The real files are never downloaded here: pass the folder that holds them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

import causalrec as cr
from causalrec import schema

from _machine import machine, write_json

#: Schnabel et al. (2016), Table 2, Coat: matrix factorization trained naively and with IPS.
PUBLISHED = {
    "source": "Schnabel, Swaminathan, Singh, Chandak and Joachims (2016), Recommendations as Treatments: "
              "Debiasing Learning and Evaluation, ICML, Table 2 (Coat)",
    "naive": {"mse": 1.202, "mae": 0.920},
    "ips": {"mse": 1.093, "mae": 0.860},
}
METHODS = ("naive", "ips", "ips_estimated", "snips", "dr", "dr_ipw")
#: Shared settings of every fit (full batch: one step per epoch; stop 50 epochs after the best validation).
BASE = dict(batch_size=None, epochs=2000, lr=0.03, patience=50, n_threads=1)
#: Searched on the validation splits, per method ("dr": imputation weighted by (1 - p)/p^2, "dr_ipw": by 1/p).
MODEL_GRID = {"dim": (4, 16), "weight_decay": (1e-3, 2e-3, 3e-3)}
GRID = {
    "naive": MODEL_GRID,
    "ips": {**MODEL_GRID, "clip": (0.005, 0.01, 0.02)},
    "ips_estimated": MODEL_GRID,
    "snips": {**MODEL_GRID, "clip": (0.005, 0.01, 0.02)},
    "dr": {**MODEL_GRID, "imputation_weight_decay": (0.001, 0.01, 0.1)},
    "dr_ipw": {**MODEL_GRID, "imputation_weight_decay": (0.001, 0.01, 0.1)},
}
QUICK_GRID = {"naive": {"weight_decay": (3e-3,)}, "ips": {"clip": (0.01,)}, "ips_estimated": {"clip": (0.01,)},
              "snips": {"clip": (0.01,)}, "dr": {"clip": (0.01,)}, "dr_ipw": {"clip": (0.01,)}}
SEEDS = (0, 1, 2, 3, 4)
VALIDATION_FRACTION = 0.2
#: Each setting's validation score is the mean over this many random validation splits of train.
SPLITS = 3


# ============================================================================ Coat
def estimated_propensities(data) -> tuple[np.ndarray, float]:
    """P(pair in train | user and item features) for every train rating, by logistic regression.

    The population is all n_users x n_items pairs, labelled 1 when the pair was self-selected
    (main effects of the one-hot features). Returns the train ratings' propensities and the
    correlation of the estimate with the truth over all pairs (NaN on real data).
    """
    pairs = cr.all_pairs(data)
    features = [c for c in pairs.columns if c not in (schema.USER, schema.ITEM, "rated")]
    model = cr.propensity.LogisticPropensity(features=features, treatment="rated", random_state=0).fit(pairs)
    p_all = model.predict(pairs).reshape(data.n_users, data.n_items)
    correlation = float("nan")
    if data.truth is not None:
        correlation = float(np.corrcoef(p_all.ravel(), data.truth.propensity.ravel())[0, 1])
    return p_all[data.interactions[schema.USER], data.interactions[schema.ITEM]], correlation


def run_method(data, method, propensity, grid, seeds, epochs=None, splits=SPLITS) -> dict:
    """Choose the setting on the validation split of train, refit per seed, score on the test set."""
    base = {**BASE, **({} if epochs is None else {"epochs": epochs})}
    estimator = cr.DebiasedRecommender({"ips_estimated": "ips", "dr_ipw": "dr"}.get(method, method),
                                       robust=method != "dr_ipw", **base)
    fitted, scores = cr.debias.select_by_validation(estimator, grid, data.interactions, propensity,
                                                    n_users=data.n_users, n_items=data.n_items,
                                                    fraction=VALIDATION_FRACTION, splits=splits, random_state=0)
    naive = method == "naive"
    runs = []
    for seed in seeds:
        model = fitted if seed == fitted.random_state else fitted.set_params(random_state=seed).fit(
            data.interactions, propensity=None if naive else propensity, n_users=data.n_users, n_items=data.n_items)
        runs.append(cr.debias.evaluate_ratings(model, data.randomized, k=5))
        runs[-1]["mean_prediction"] = float(model.predict(data.randomized[schema.USER].to_numpy(),
                                                          data.randomized[schema.ITEM].to_numpy()).mean())
    runs = pd.DataFrame(runs)
    chosen = {k: (v.item() if hasattr(v, "item") else v) for k, v in fitted.get_params().items()
              if k in grid or k == "epochs"}
    return {**{m: round(float(runs[m].mean()), 4) for m in runs},
            **{f"{m}_std": round(float(runs[m].std(ddof=0)), 4) for m in ("mse", "mae", "ndcg@5", "auc")},
            "per_seed_mse": [round(float(v), 4) for v in runs["mse"]], "hyperparameters": chosen,
            "validation": scores.round(5).to_dict(orient="records")}


def run_coat(data, *, seeds=SEEDS, grid=GRID, epochs=None, splits=SPLITS) -> dict:
    """Train and evaluate the six methods on a Coat-shaped data set; return the result dict."""
    start = time.perf_counter()
    p_est, correlation = estimated_propensities(data)
    results = {}
    for method in METHODS:
        propensity = p_est if method == "ips_estimated" else data.propensity
        results[method] = run_method(data, method, propensity, grid[method], seeds, epochs, splits)
        print(method, {k: results[method][k] for k in ("mse", "mae", "ndcg@5", "auc", "hyperparameters")},
              round(time.perf_counter() - start), "s", flush=True)
    r_test = data.randomized[schema.RATING].to_numpy()
    results["data"] = {"name": data.name, "source": data.source, "n_users": data.n_users, "n_items": data.n_items,
                       "train_ratings": len(data.interactions), "test_ratings": len(r_test),
                       "train_mean_rating": round(float(data.interactions[schema.RATING].mean()), 4),
                       "test_mean_rating": round(float(r_test.mean()), 4),
                       "estimated_propensity_correlation_with_truth": None if np.isnan(correlation)
                       else round(correlation, 4)}
    if data.truth is not None:
        # the best any model can do: predict each pair's expected rating
        u, i = data.randomized[schema.USER].to_numpy(), data.randomized[schema.ITEM].to_numpy()
        results["data"]["oracle_test_mse"] = round(float(np.mean((data.truth.expected_rating[u, i] - r_test) ** 2)), 4)
    results["targets"] = {
        "ips_mse_at_most_1.11": bool(results["ips"]["mse"] <= 1.11),
        "dr_at_least_0.02_below_ips": bool(results["dr"]["mse"] <= results["ips"]["mse"] - 0.02),
        "ips_relative_gap_to_published_mse": round(results["ips"]["mse"] / PUBLISHED["ips"]["mse"] - 1, 4),
        "ips_better_than_naive": bool(results["ips"]["mse"] < results["naive"]["mse"]),
    }
    results["seconds"] = round(time.perf_counter() - start, 1)
    return results


# ============================================================================ MovieLens 100K
def temporal_split(interactions: pd.DataFrame, test_fraction: float = 0.2):
    """Train = ratings before the time that leaves ``test_fraction`` of them after it; test = the rest.

    Test rows of users or items absent from train are dropped (a model cannot score them); the
    count dropped is returned, never hidden.
    """
    order = np.argsort(interactions["timestamp"].to_numpy(), kind="stable")
    n_train = int(round((1 - test_fraction) * len(order)))
    train, test = interactions.iloc[order[:n_train]], interactions.iloc[order[n_train:]]
    known = test[schema.USER].isin(train[schema.USER]) & test[schema.ITEM].isin(train[schema.ITEM])
    return train, test[known], int((~known).sum())


def run_movielens(data, *, seeds=SEEDS, epochs=20, k=10) -> dict:
    """Popularity, MF and NeuMF on a temporal split of MovieLens 100K: NDCG@k and recall@k."""
    start = time.perf_counter()
    log = data.interactions.assign(liked=(data.interactions[schema.RATING] >= 4).astype(np.int64))
    train, test, dropped = temporal_split(log)
    positives = train[train["liked"] == 1]
    relevant = test[test["liked"] == 1]
    relevant = relevant[relevant[schema.USER].isin(positives[schema.USER])]
    users = np.unique(relevant[schema.USER].to_numpy())
    seen = train[[schema.USER, schema.ITEM]]
    n_items = data.n_items

    def score(recommendations):
        return {f"ndcg@{k}": cr.metrics.ndcg_at_k(recommendations, relevant[[schema.USER, schema.ITEM]], k=k),
                f"recall@{k}": cr.metrics.recall_at_k(recommendations, relevant[[schema.USER, schema.ITEM]], k=k)}

    popularity = cr.PopularityRecommender(positive="liked").fit(positives, n_users=data.n_users,
                                                                           n_items=n_items)
    results = {"popularity": score(cr.recommend(popularity.score_items, users, n_items, k, seen=seen))}
    for name in ("mf", "neumf"):
        runs = []
        for seed in seeds:
            model = cr.Recommender(name, dim=32, loss="bpr", epochs=epochs, batch_size=1024,
                                            validation_fraction=0, patience=None, random_state=seed,
                                            verbose=False).fit(positives, target="liked", items=data.items)
            runs.append(score(cr.recommend(model.score_items, users, n_items, k, seen=seen)))
        results[name] = {m: round(float(np.mean([r[m] for r in runs])), 4) for m in runs[0]}
        results[name].update({f"{m}_std": round(float(np.std([r[m] for r in runs])), 4) for m in runs[0]})
    results["popularity"] = {m: round(float(v), 4) for m, v in results["popularity"].items()}
    results["data"] = {"source": data.source, "train_ratings": len(train), "test_ratings": len(test),
                       "test_rows_dropped_unknown_user_or_item": dropped, "evaluated_users": len(users),
                       "relevant": "rating >= 4", "split": "temporal, last 20% of ratings in time"}
    results["seconds"] = round(time.perf_counter() - start, 1)
    return results


# ============================================================================ command line
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coat", type=Path, help="folder with Coat's files (train.ascii, ...)")
    parser.add_argument("--movielens", type=Path, help="folder with MovieLens 100K's files (u.data, ...)")
    parser.add_argument("--simulated", action="store_true",
                        help="also run on the Coat-shaped simulated world (the default without --coat)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the sha256 check of the published files (for your own files in their layout)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="training seeds (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 2 seeds, at most 5 epochs, one setting per method")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    seeds = tuple(range(2 if args.quick else args.seeds))
    grid, epochs, splits = (QUICK_GRID, 5, 1) if args.quick else (GRID, None, SPLITS)
    output = {"published": PUBLISHED, "seeds": list(seeds), "settings": {**BASE, **({"epochs": epochs} if epochs else {})},
              "grid": grid, "validation_fraction": VALIDATION_FRACTION, "validation_splits": splits}
    if args.coat is not None:
        data = cr.load_coat(args.coat, verify=not args.no_verify)
        folder = Path(data.source)
        output["coat_files_sha256"] = {name: cr.data.load.sha256(folder / name)
                                       for name in ("train.ascii", "test.ascii", "propensities.ascii")}
        output["coat"] = run_coat(data, seeds=seeds, grid=grid, epochs=epochs, splits=splits)
    if args.simulated or args.coat is None:
        data = cr.coat_like(random_state=0)
        output["coat_simulated"] = run_coat(data, seeds=seeds, grid=grid, epochs=epochs, splits=splits)
        output["coat_simulated"]["note"] = (
            "A simulated world of Coat's exact shape (cr.coat_like(random_state=0)), not the real "
            "Coat data: the published numbers are for real Coat and are shown for scale only; the "
            "'ips' row uses the true propensities.")
    if args.movielens is not None:
        data = cr.load_movielens_100k(args.movielens, verify=not args.no_verify)
        output["movielens"] = run_movielens(data, seeds=seeds, epochs=3 if args.quick else 20)
    output["command"] = "python benchmarks/reproduce_coat.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    output["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    output["machine"] = machine()
    write_json(args.json, output)
    return output


if __name__ == "__main__":
    main()
