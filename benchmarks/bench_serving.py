"""Serving: size, ranking quality and latency of compressed models, and the cost of a streaming update.

For NeuMF (the chapter 13 model) and MF, trained on days 0-20 of the default
world with the chapter's settings, this builds four versions with
:mod:`causalrec.serve` (float32, int8, magnitude-pruned to 50% and 80%) and
measures, with :func:`causalrec.serve.compression_report`:

- the state dict's size in bytes (saved into memory);
- NDCG@10 on the randomized slice, and its change relative to float32;
- p50 and p95 milliseconds per request (score the whole catalogue for 1 or
  100 users, then take the top 10), with one torch thread, timed by
  torch.utils.benchmark in ``--rounds`` rounds of at least ``--min-run-time``
  seconds; p50/p95 are medians over rounds and p95_low/p95_high the lowest and
  highest round's p95 (an interval for the tail).

The machine may be shared, so the load average is recorded too. It also times one streaming
update (:func:`causalrec.serve.incremental_update`, days 21-23, one epoch)
against a full retrain on days 0-23 (medians of ``--repeats`` runs each).

Targets: the int8 model at least 2x smaller than float32 with NDCG@10 within
2% of it, and p95 latency for one user under 5 ms.

    python benchmarks/bench_serving.py [--repeats 5] [--rounds 10] [--min-run-time 1.0] [--json PATH]

Writes benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _machine import load_average, machine, write_json

TARGET_SIZE_RATIO = 2.0
TARGET_NDCG_CHANGE = 0.02
TARGET_P95_MS_ONE_USER = 5.0
# The chapter's settings (book/13_realtime.ipynb).
SETTINGS = dict(dim=32, epochs=20, random_state=0, verbose=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "serving.json"))
    args = parser.parse_args(argv)

    import pandas as pd
    import torch

    import causalrec as cr
    from causalrec import schema

    load_before = load_average()
    world = cr.load_default()
    log = world.interactions
    old = log[log[schema.DAY] <= 20]
    new = log[log[schema.DAY].between(21, 23)]
    models = {}
    for name in ("neumf", "mf"):
        rec = cr.Recommender(name, **SETTINGS).fit(old, items=world.items)
        versions = {"float32": rec, "int8": cr.serve.quantize(rec),
                    "pruned 50%": cr.serve.prune(rec, 0.5), "pruned 80%": cr.serve.prune(rec, 0.8)}
        median = cr.serve.compression_report(versions, world.randomized, repeats=args.rounds,
                                             min_run_time=args.min_run_time, random_state=0)

        update_s, retrain_s = [], []
        for r in range(args.repeats):
            update_s.append(cr.serve.incremental_update(rec, new, epochs=1, lr=3e-3, random_state=r).seconds)
            start = time.perf_counter()
            cr.Recommender(name, **SETTINGS).fit(log[log[schema.DAY] <= 23], items=world.items)
            retrain_s.append(time.perf_counter() - start)
        update = cr.serve.incremental_update(rec, new, epochs=1, lr=3e-3, random_state=0)
        models[name] = {
            "versions": {v: {k: float(x) for k, x in row.items()} for v, row in median.iterrows()},
            "streaming_update": {"events": update.n_events, "loss_before": update.loss_before,
                                 "loss_after": update.loss_after,
                                 "update_seconds_median": statistics.median(update_s),
                                 "full_retrain_seconds_median": statistics.median(retrain_s)},
        }

    neumf = models["neumf"]["versions"]
    checks = {
        "int8_size_ratio_at_least_2": neumf["int8"]["size_ratio"] >= TARGET_SIZE_RATIO,
        "int8_ndcg_within_2_percent": abs(neumf["int8"]["ndcg_change"]) <= TARGET_NDCG_CHANGE,
        "int8_p95_one_user_under_5_ms": neumf["int8"]["p95_ms_1"] < TARGET_P95_MS_ONE_USER,
    }
    result = {
        "benchmark": "serving: compression and streaming update",
        "data": "default world; trained on days 0-20, updated with days 21-23; NDCG@10 on the randomized slice",
        "settings": {"repeats": args.repeats, "latency_rounds": args.rounds,
                     "latency_min_run_time_s": args.min_run_time, "k": 10,
                     "torch_threads_while_serving": 1, **{k: v for k, v in SETTINGS.items() if k != "verbose"}},
        "statistic": "median over rounds of each round's p50/p95 (ms per request); p95_low/high: "
                     "lowest and highest round's p95; update and retrain: median over repeats",
        "targets": {"size_ratio": TARGET_SIZE_RATIO, "ndcg_change": TARGET_NDCG_CHANGE,
                    "p95_ms_one_user": TARGET_P95_MS_ONE_USER},
        "targets_met_neumf": checks,
        "models": models,
        "machine": machine(quantized_engine=torch.backends.quantized.engine,
                           load_average_1_5_15_before=load_before),
    }
    write_json(args.json, result)
    for name, entry in models.items():
        print(name)
        print(pd.DataFrame(entry["versions"]).T.round(4).to_string())
        print(entry["streaming_update"])
    print(f"targets (NeuMF): {checks}; wrote {args.json}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
