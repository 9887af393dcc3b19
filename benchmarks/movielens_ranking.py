"""MovieLens 100K top-10 ranking on a temporal split: popularity, MF and NeuMF.

Split (:func:`causalrec.prep.temporal_split` with ``test_size=0.2`` on the
``day`` column): every rating from the cutoff day on is test, the cutoff being
the day whose share of ratings at or after it is closest to 20 %. Days are never
split, so the models are trained on the past and judged on the future.

Training data: every rating before the cutoff is an implicit interaction (the
user chose to rate the film: target ``rated`` = 1; the models draw their own
negatives). Evaluation: the users with at least one training rating and at
least one test rating >= 4; their relevant items are the test films they rated
>= 4; every model ranks all films the user has not rated before the cutoff, and
NDCG@10 and recall@10 (:func:`causalrec.evaluate_ranking`) are averaged over
these users.

Hyperparameters: the same rule applied inside the training part (its last 20 %
of days is the validation period); each setting of ``GRID`` is scored by
validation NDCG@10, and the best is refitted on the whole training part. The
test ratings are never used to choose anything.

    python benchmarks/movielens_ranking.py --movielens DIR [--json PATH]

Writes benchmarks/results/movielens_real.json (numbers only; the data are not
ours to commit).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from _machine import load_average, machine, write_json

K = 10
RELEVANT_FROM = 4  # stars
TEST_SIZE = 0.2
# Small on purpose (2 shared cores). Fixed epochs (patience=None): the Recommender's own early stopping
# watches the training loss on a random 10 % of the training interactions, not the ranking.
GRID = {name: [dict(model=model, dim=dim, epochs=epochs, lr=lr, patience=None)
               for epochs in (10, 20) for lr in (0.01, 0.003)]
        for name, model, dim in (("MF", "mf", 32), ("NeuMF", "neumf", 16))}


def split_and_targets(interactions):
    """(train with target ``rated``, relevant test pairs, evaluated users, cutoff day)."""
    import causalrec as cr
    from causalrec import schema

    train, test = cr.prep.temporal_split(interactions, test_size=TEST_SIZE)
    train = train.assign(rated=1)
    known = test[test[schema.USER].isin(train[schema.USER]) & (test[schema.RATING] >= RELEVANT_FROM)]
    relevant = known[[schema.USER, schema.ITEM]].drop_duplicates().reset_index(drop=True)
    return train, relevant, np.sort(relevant[schema.USER].unique()), int(test[schema.DAY].min())


def fit_and_score(name, settings, train, relevant, users, n_users, n_items):
    """Fit one model on ``train`` and return (seconds, evaluate_ranking's dict on ``relevant``)."""
    import pandas as pd

    import causalrec as cr
    from causalrec import schema

    start = time.perf_counter()
    if name == "popularity":
        model = cr.PopularityRecommender(positive="rated").fit(train, n_users=n_users, n_items=n_items)
    else:
        model = cr.Recommender(**settings, random_state=0, verbose=False).fit(
            train, target="rated", items=pd.DataFrame({schema.ITEM: np.arange(n_items)}))
    seconds = time.perf_counter() - start
    recommendations = model.recommend(users, k=K, exclude_seen=True)
    metrics = cr.evaluate_ranking(recommendations, relevant, k=K, n_items=n_items)
    per_user = cr.metrics.ranking_metrics_by_user(recommendations, relevant, k=K)
    for name in ("ndcg_at_k", "recall_at_k"):  # few users are evaluated: say how uncertain the means are
        metrics[f"{name}_standard_error"] = float(per_user[name].std(ddof=1) / np.sqrt(len(per_user)))
    return seconds, metrics


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movielens", required=True, help="folder with MovieLens 100K's u.data, u.item, u.user")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "movielens_real.json"))
    args = parser.parse_args(argv)

    import causalrec as cr

    load_before = load_average()
    data = cr.load_movielens_100k(args.movielens, verbose=False)
    n_users, n_items = data.n_users, data.n_items
    train, relevant, users, cutoff = split_and_targets(data.interactions)
    fit_part, val_relevant, val_users, val_cutoff = split_and_targets(train.drop(columns="rated"))
    print(f"test from day {cutoff}: {len(users)} users with relevant test films; validation from day {val_cutoff}",
          flush=True)

    models = {}
    for name, grid in [("popularity", [{}]), *GRID.items()]:
        scored = []
        for settings in grid:
            seconds, metrics = fit_and_score(name, settings, fit_part, val_relevant, val_users, n_users, n_items)
            scored.append({"settings": settings, "validation_ndcg_at_10": metrics["ndcg_at_k"], "seconds": seconds})
            print(f"  {name} {settings}: validation NDCG@10 {metrics['ndcg_at_k']:.4f} ({seconds:.1f} s)", flush=True)
        best = max(scored, key=lambda row: row["validation_ndcg_at_10"])
        seconds, metrics = fit_and_score(name, best["settings"], train, relevant, users, n_users, n_items)
        models[name] = {"settings": best["settings"], "ndcg_at_10": metrics["ndcg_at_k"],
                        "ndcg_at_10_standard_error": metrics["ndcg_at_k_standard_error"],
                        "recall_at_10": metrics["recall_at_k"],
                        "recall_at_10_standard_error": metrics["recall_at_k_standard_error"],
                        "test_metrics": metrics, "fit_seconds": seconds, "validation": scored}
        print(f"{name:<10} test NDCG@10 {metrics['ndcg_at_k']:.4f} (+- {metrics['ndcg_at_k_standard_error']:.4f})  "
              f"recall@10 {metrics['recall_at_k']:.4f} (+- {metrics['recall_at_k_standard_error']:.4f})", flush=True)

    result = {
        "benchmark": "MovieLens 100K top-10 ranking on a temporal split",
        "command": "python benchmarks/movielens_ranking.py --movielens DIR",
        "data": "MovieLens 100K (GroupLens), computed on the real files",
        "u.data_sha256": sha256(Path(args.movielens) / "u.data"),
        "split": f"causalrec.prep.temporal_split(test_size={TEST_SIZE}) on day: every rating from day {cutoff} "
                 f"on is test (the day whose share of later ratings is closest to {TEST_SIZE:.0%})",
        "n_train": len(train), "n_test": int((data.interactions["day"] >= cutoff).sum()),
        "training_target": "every training rating is an implicit interaction (rated = 1)",
        "relevant": f"test films rated >= {RELEVANT_FROM} by users with training ratings; candidates: the films "
                    "the user did not rate before the cutoff",
        "n_users_evaluated": len(users), "n_relevant_pairs": len(relevant),
        "validation": f"the same rule inside the training part: validation from day {val_cutoff}; "
                      "hyperparameters by validation NDCG@10, then refitted on all of train",
        "k": K,
        "standard_error": "standard deviation over the evaluated users / sqrt(their number)",
        "seconds_note": "fit seconds on 2 shared cores; the first fit of the run also pays import costs",
        "models": models,
        "machine": machine(load_average_1_5_15_before=load_before, cornac="not used by this benchmark"),
    }
    write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
