"""Time of each DoWhy estimator in causalrec.causal on the default world.

On the default world's logged candidate pairs (:func:`causalrec.causal.analysis_frame`,
with the simulator's graph), this times:

- :func:`causalrec.causal.causal_model` (DoWhy's model plus back-door identification);
- :func:`causalrec.causal.estimate_effect` for every method in
  :data:`causalrec.causal.ESTIMATORS`, and the two baselines
  (:func:`~causalrec.causal.naive_difference`, :func:`~causalrec.causal.unadjusted_regression`);
- optionally (``--refute``) :func:`causalrec.causal.refute` with each refuter,
  ``--simulations`` simulations, on the regression-adjustment estimate.

Each is run ``--repeats`` times; medians are reported with each estimate's
error against the simulator's true average effect of exposure on purchase
(the estimators are deterministic, so the estimate itself does not vary).
The machine may be shared: its load average is recorded.

    python benchmarks/bench_dowhy.py [--repeats 3] [--refute] [--simulations 5] [--json PATH]

Writes benchmarks/results/dowhy.json. Target: every estimator under 5 s here
(a chapter runs all five and must stay under 60 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _machine import load_average, machine, write_json

TARGET_SECONDS = 5.0


def _median_time(action, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--refute", action="store_true", help="also time each refuter")
    parser.add_argument("--simulations", type=int, default=5, help="simulations per refuter")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "dowhy.json"))
    args = parser.parse_args(argv)

    import causalrec as cr

    load_before = load_average()
    world = cr.load_default()
    truth = float(world.truth.ate)
    frame = cr.causal.analysis_frame(world)
    graph = cr.causal.simulator_graph(world)
    cr.causal_model(frame, graph)  # warm-up: the DoWhy import

    seconds, times, setup = _median_time(lambda: cr.causal_model(frame, graph), args.repeats)
    rows = [{"step": "causal_model (model + identify)", "seconds_median": seconds, "seconds_all": times}]
    baselines = {"naive_difference": cr.causal.naive_difference,
                 "unadjusted_regression": cr.causal.unadjusted_regression}
    for name, function in baselines.items():
        seconds, times, estimate = _median_time(lambda: function(frame), args.repeats)
        rows.append({"step": f"estimate: {name} (baseline, no DoWhy)", "method": name, "seconds_median": seconds,
                     "seconds_all": times, "estimate": estimate.value, "error": estimate.value - truth})
    for method in cr.causal.ESTIMATORS:
        seconds, times, estimate = _median_time(lambda: cr.causal.estimate_effect(setup, method), args.repeats)
        rows.append({"step": f"estimate: {method}", "method": method, "seconds_median": seconds,
                     "seconds_all": times, "estimate": estimate.value, "error": estimate.value - truth,
                     "under_target": seconds < TARGET_SECONDS})
        print(f"{method:<24} {seconds:6.2f} s  estimate {estimate.value:+.4f} (truth {truth:+.4f})", flush=True)
    if args.refute:
        base = cr.causal.estimate_effect(setup, "regression_adjustment")
        for refuter in cr.causal.REFUTERS:
            seconds, times, _ = _median_time(
                lambda: cr.causal.refute(setup, base, [refuter], num_simulations=args.simulations, random_state=0),
                args.repeats)
            rows.append({"step": f"refute regression_adjustment: {refuter} ({args.simulations} simulations)",
                         "seconds_median": seconds, "seconds_all": times})
            print(f"refute {refuter:<17} {seconds:6.2f} s", flush=True)

    estimators = [r for r in rows if r.get("method") in cr.causal.ESTIMATORS]
    result = {
        "benchmark": "DoWhy estimators on the default world",
        "command": "python benchmarks/bench_dowhy.py" + (" --refute" if args.refute else ""),
        "data": f"default world, analysis_frame: {len(frame):,} logged candidate pairs; simulator graph; "
                f"back-door set {list(setup.backdoor_variables)}",
        "true_ate": truth,
        "statistic": f"median of {args.repeats} runs (after one warm-up causal_model)",
        "target_seconds_per_estimator": TARGET_SECONDS,
        "all_estimators_under_target": all(r["under_target"] for r in estimators),
        "slowest_estimator": max(estimators, key=lambda r: r["seconds_median"])["method"],
        "steps": rows,
        "machine": machine(load_average_1_5_15_before=load_before),
    }
    write_json(args.json, result)
    print(f"slowest estimator: {result['slowest_estimator']}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
