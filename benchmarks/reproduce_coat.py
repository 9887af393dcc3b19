"""Reproduce the Coat results of Schnabel et al. (ICML 2016) with causalrec, and run the same
protocol on MovieLens 100K and on a simulated world of Coat's exact shape.

Coat: matrix factorization trained on the self-selected train ratings with six objectives
(naive; IPS with the shipped propensities; IPS with propensities estimated from the user and
item features; SNIPS; doubly robust with joint learning, ``dr``, and with a fixed imputation,
``dr_fixed``), each evaluated on the randomly sampled test ratings
(MSE and MAE; mean and standard deviation over seeds). Hyperparameters are chosen on a
validation split carved from the train ratings (never on test): the naive model by its plain
validation MSE, the propensity-based ones by the self-normalised (SNIPS) inverse-propensity
weighted validation MSE with their own propensities.

MovieLens 100K: a temporal split (the last 20% of ratings in time are the test set); a rating
of 4 or 5 counts as relevant; popularity, MF and NeuMF (an MLP tower beside a GMF one), all
trained with BPR on the train positives, are scored by NDCG@10 and recall@10.

Usage::

    python benchmarks/reproduce_coat.py --coat DIR [--movielens DIR] --json OUT
    python benchmarks/reproduce_coat.py --simulated --json OUT      # Coat-shaped simulated world
    python benchmarks/reproduce_coat.py --simulated --quick --json OUT   # seconds, for tests

The real files are never downloaded here: pass the folders that hold them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

import causalrec as cr
from causalrec import schema

#: Schnabel et al. (2016), Table 2, Coat: matrix factorization trained naively and with IPS.
PUBLISHED = {
    "source": "Schnabel, Swaminathan, Singh, Chandak and Joachims (2016), Recommendations as Treatments: "
              "Debiasing Learning and Evaluation, ICML, Table 2 (Coat)",
    "naive": {"mse": 1.202, "mae": 0.920},
    "ips": {"mse": 1.093, "mae": 0.860},
}
METHODS = ("naive", "ips", "ips_estimated", "snips", "dr", "dr_fixed")
GRID = {"dim": (4, 16), "weight_decay": (3e-4, 1e-3, 3e-3, 1e-2)}
QUICK_GRID = {"dim": (4,), "weight_decay": (1e-3,)}
SEEDS = (0, 1, 2, 3, 4)
CLIP = 0.01          # propensities below are raised to it: weights at most 100
VALIDATION_FRACTION = 0.2


# ============================================================================ Coat
def estimated_propensities(data) -> tuple[np.ndarray, float]:
    """P(pair in train | user and item features) for every train rating, by logistic regression.

    The population is all n_users x n_items pairs, labelled 1 when the pair was self-selected
    (main effects of the one-hot features only). Returns the train ratings' propensities and the
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


def _fit(method, ratings, propensity, n_users, n_items, *, dim, weight_decay, epochs, seed):
    # ips_estimated: the same IPS objective, other propensities; dr: joint learning (Wang et al. 2019);
    # dr_fixed: DR with a fixed imputation (the SNIPS mean rating), the steadier variant of chapter 09
    base = {"ips_estimated": "ips", "dr_fixed": "dr"}.get(method, method)
    imputation = "fixed" if method == "dr_fixed" else "joint"
    model = cr.debias.DebiasedRecommender(method=base, model="mf", clip=CLIP, dim=dim, epochs=epochs,
                                          weight_decay=weight_decay, imputation=imputation, random_state=seed,
                                          verbose=False)
    return model.fit(ratings, propensity=None if base == "naive" else propensity, n_users=n_users, n_items=n_items)


def _validation_error(model, ratings, propensity, method) -> float:
    error = (model.predict(ratings[schema.USER].to_numpy(), ratings[schema.ITEM].to_numpy())
             - ratings[schema.RATING].to_numpy()) ** 2
    if method == "naive":
        return cr.debias.naive_estimate(error)
    return cr.debias.snips_estimate(error, propensity, clip=CLIP)


def tune(data, method, propensity, grid, epochs, *, seed=0):
    """Pick ``dim`` and ``weight_decay`` on a validation split of the train ratings (never the test set)."""
    rng = np.random.default_rng(seed)
    n = len(data.interactions)
    is_val = np.zeros(n, dtype=bool)
    is_val[rng.choice(n, int(round(VALIDATION_FRACTION * n)), replace=False)] = True
    train, val = data.interactions[~is_val], data.interactions[is_val]
    # a train pair lands in the fitting part with probability (1 - fraction): its propensity shrinks alike
    p_fit = propensity[~is_val] * (1 - VALIDATION_FRACTION)
    scores = {}
    for dim, weight_decay in itertools.product(grid["dim"], grid["weight_decay"]):
        model = _fit(method, train, p_fit, data.n_users, data.n_items, dim=dim, weight_decay=weight_decay,
                     epochs=epochs, seed=seed)
        scores[(dim, weight_decay)] = _validation_error(model, val, propensity[is_val], method)
    best = min(scores, key=scores.get)
    return {"dim": best[0], "weight_decay": best[1],
            "validation": {f"dim={d},weight_decay={w}": round(v, 5) for (d, w), v in scores.items()}}


def run_coat(data, *, seeds=SEEDS, grid=GRID, epochs=40) -> dict:
    """Train and evaluate the six methods on a Coat-shaped data set; return the result dict."""
    start = time.perf_counter()
    test = data.randomized
    u_test, i_test = test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy()
    r_test = test[schema.RATING].to_numpy()
    p_est, correlation = estimated_propensities(data)
    propensities = {"naive": data.propensity, "ips": data.propensity, "ips_estimated": p_est,
                    "snips": data.propensity, "dr": data.propensity, "dr_fixed": data.propensity}
    results = {}
    for method in METHODS:
        chosen = tune(data, method, propensities[method], grid, epochs)
        mse, mae = [], []
        for seed in seeds:
            model = _fit(method, data.interactions, propensities[method], data.n_users, data.n_items,
                         dim=chosen["dim"], weight_decay=chosen["weight_decay"], epochs=epochs, seed=seed)
            prediction = model.predict(u_test, i_test)
            mse.append(cr.metrics.mse(r_test, prediction))
            mae.append(cr.metrics.mae(r_test, prediction))
        results[method] = {"mse": round(float(np.mean(mse)), 4), "mse_std": round(float(np.std(mse)), 4),
                           "mae": round(float(np.mean(mae)), 4), "mae_std": round(float(np.std(mae)), 4),
                           "per_seed_mse": [round(float(v), 4) for v in mse], "hyperparameters": chosen}
    results["data"] = {"name": data.name, "source": data.source, "n_users": data.n_users, "n_items": data.n_items,
                       "train_ratings": len(data.interactions), "test_ratings": len(test),
                       "train_mean_rating": round(float(data.interactions[schema.RATING].mean()), 4),
                       "test_mean_rating": round(float(r_test.mean()), 4),
                       "estimated_propensity_correlation_with_truth": None if np.isnan(correlation)
                       else round(correlation, 4)}
    if data.truth is not None:
        # the best any model can do: predict each pair's expected rating
        results["data"]["oracle_test_mse"] = round(float(np.mean((data.truth.expected_rating[u_test, i_test]
                                                                  - r_test) ** 2)), 4)
    ips_gap = results["ips"]["mse"] / PUBLISHED["ips"]["mse"] - 1
    results["targets"] = {
        "ips_within_5pct_of_published_mse": bool(abs(ips_gap) <= 0.05),
        "ips_relative_gap_to_published_mse": round(float(ips_gap), 4),
        "dr_better_than_ips": bool(results["dr"]["mse"] < results["ips"]["mse"]),
        "dr_fixed_better_than_ips": bool(results["dr_fixed"]["mse"] < results["ips"]["mse"]),
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
    results = {"popularity": score(cr.ranking(popularity.score_items, users, n_items, k, seen=seen))}
    for name in ("mf", "neumf"):
        runs = []
        for seed in seeds:
            model = cr.Recommender(name, dim=32, loss="bpr", epochs=epochs, batch_size=1024,
                                            validation_fraction=0, patience=None, random_state=seed,
                                            verbose=False).fit(positives, target="liked", items=data.items)
            runs.append(score(cr.ranking(model.score_items, users, n_items, k, seen=seen)))
        results[name] = {m: round(float(np.mean([r[m] for r in runs])), 4) for m in runs[0]}
        results[name].update({f"{m}_std": round(float(np.std([r[m] for r in runs])), 4) for m in runs[0]})
    results["popularity"] = {m: round(float(v), 4) for m, v in results["popularity"].items()}
    results["data"] = {"source": data.source, "train_ratings": len(train), "test_ratings": len(test),
                       "test_rows_dropped_unknown_user_or_item": dropped, "evaluated_users": len(users),
                       "relevant": "rating >= 4", "split": "temporal, last 20% of ratings in time"}
    results["seconds"] = round(time.perf_counter() - start, 1)
    return results


# ============================================================================ command line
def _versions() -> dict:
    import sklearn
    import torch

    return {"causalrec": cr.__version__, "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__}


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
    parser.add_argument("--epochs", type=int, default=40, help="epochs per Coat model (default 40)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 2 seeds, 3 epochs, one hyperparameter setting")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        parser.error("--seeds and --epochs must be at least 1")
    seeds = tuple(range(2 if args.quick else args.seeds))
    epochs = 3 if args.quick else args.epochs
    grid = QUICK_GRID if args.quick else GRID

    output = {"published": PUBLISHED, "seeds": list(seeds), "epochs": epochs, "grid": grid,
              "clip": CLIP, "validation_fraction": VALIDATION_FRACTION}
    if args.coat is not None:
        data = cr.load_coat(args.coat, verify=not args.no_verify)
        output["coat"] = run_coat(data, seeds=seeds, grid=grid, epochs=epochs)
    if args.simulated or args.coat is None:
        data = cr.coat_like(random_state=0)
        output["coat_simulated"] = run_coat(data, seeds=seeds, grid=grid, epochs=epochs)
        output["coat_simulated"]["note"] = (
            "A simulated world of Coat's exact shape (cr.coat_like(random_state=0)), not the real "
            "Coat data: the published numbers are for real Coat and are shown for scale only; the "
            "'ips' row uses the true propensities.")
    if args.movielens is not None:
        data = cr.load_movielens_100k(args.movielens, verify=not args.no_verify)
        output["movielens"] = run_movielens(data, seeds=seeds, epochs=3 if args.quick else 20)
    output["command"] = "python benchmarks/reproduce_coat.py " + " ".join(shlex.quote(a) for a in
                                                                       (sys.argv[1:] if argv is None else argv))
    output["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    output["versions"] = _versions()
    output["machine"] = {"platform": platform.platform(), "processor": platform.machine(),
                         "cpus": __import__("os").cpu_count()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(output, indent=1) + "\n", encoding="utf-8")
    return output


if __name__ == "__main__":
    main()
