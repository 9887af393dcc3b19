"""The grid behind chapter 09's NeuMF settings, so that a reader can rerun the choice.

For each training method (naive, IPS, SNIPS, DR with a fixed imputation), NeuMF is trained on
the default world's logged ratings with every combination of weight decay (0.02 or 1e-3),
epochs (10 or 30) and clipping bound (3e-4 or 3e-3), learning rate 0.005, one seed. Each fit
is scored by NDCG@10 on the **held-out 10% of randomized users** (the sample chapter 09 also
uses to estimate naive Bayes propensities), never on the test users. The best setting per
method is written to the JSON together with the whole grid.

    python benchmarks/tune_neumf_debias.py [--json benchmarks/results/tune_neumf_debias.json]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import causalrec as cr
from _machine import machine, write_json

GRID = {"weight_decay": [0.02, 1e-3], "epochs": [10, 30], "clip": [3e-4, 3e-3]}
FIXED = {"dim": 16, "batch_size": 512, "lr": 0.005}
METHODS = ["naive", "ips", "snips", "dr"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "tune_neumf_debias.json"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    world = cr.load_default()
    logged = cr.debias.logged_ratings(world)
    validation, _test = cr.debias.split_by_user(world.randomized, 0.1, random_state=0)
    rows = []
    start = time.perf_counter()
    for method in METHODS:
        for values in itertools.product(*GRID.values()):
            params = {**FIXED, **dict(zip(GRID, values))}
            model = cr.debias.DebiasedRecommender(method=method, model="neumf", imputation="fixed",
                                                  random_state=args.seed, **params)
            model.fit(logged, propensity=logged["propensity"], n_users=world.n_users, n_items=world.n_items)
            score = cr.debias.evaluate_ratings(model, validation)
            rows.append({"method": method, **params, "validation_ndcg@10": float(score["ndcg@10"]),
                         "validation_mse": float(score["mse"])})
            print(f"{method:6s} {params} ndcg@10 {score['ndcg@10']:.4f} mse {score['mse']:.3f}", flush=True)
    best = {m: max((r for r in rows if r["method"] == m), key=lambda r: r["validation_ndcg@10"]) for m in METHODS}
    result = {"benchmark": "NeuMF settings for chapter 09, chosen on held-out randomized users",
              "grid": GRID, "fixed": FIXED, "seed": args.seed, "best": best, "runs": rows,
              "seconds": time.perf_counter() - start, "machine": machine()}
    write_json(args.json, result)
    for method, row in best.items():
        print(f"best {method}: weight_decay {row['weight_decay']}, epochs {row['epochs']}, clip {row['clip']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
