"""How the simulator scales: time and peak memory from 1,000 to 100,000 users.

Writes benchmarks/results/simulate.json. Quote medians: the machine is shared.

    python benchmarks/bench_simulate.py [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _machine import load_average, machine, write_json

from causalrec.data.simulate import simulate_shop

SIZES = [(1_000, 300), (3_000, 1_000), (10_000, 2_000), (30_000, 5_000), (100_000, 5_000)]


def measure(n_users: int, n_items: int, repeats: int) -> dict:
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        world = simulate_shop(n_users=n_users, n_items=n_items, random_state=seed)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    simulate_shop(n_users=n_users, n_items=n_items, random_state=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n_users": n_users, "n_items": n_items, "logged_rows": len(world.interactions),
        "randomized_rows": len(world.randomized),
        "seconds_median": statistics.median(times), "seconds_all": times,
        "peak_traced_mb": peak / 1e6,
        "dense_users_x_items_mb": n_users * n_items * 8 / 1e6,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "simulate.json"))
    args = parser.parse_args(argv)
    load_before = load_average()
    rows = []
    for n_users, n_items in SIZES:
        row = measure(n_users, n_items, args.repeats if n_users <= 30_000 else max(1, args.repeats // 2))
        rows.append(row)
        print(f"{n_users:>7} users x {n_items:>5} items: {row['logged_rows']:>9,} rows, "
              f"median {row['seconds_median']:.2f} s, peak {row['peak_traced_mb']:.0f} MB "
              f"(a dense users x items float64 matrix: {row['dense_users_x_items_mb']:.0f} MB)")
    rows_logged = np.log([r["logged_rows"] for r in rows])
    exponent_rows = float(np.polyfit(rows_logged, np.log([r["seconds_median"] for r in rows]), 1)[0])
    exponent_users = float(np.polyfit(np.log([r["n_users"] for r in rows]),
                                      np.log([r["seconds_median"] for r in rows]), 1)[0])
    result = {
        "benchmark": "simulate_shop scaling",
        "command": "python benchmarks/bench_simulate.py",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(load_average_1_5_15_before=load_before),
        "default_world_seconds_median": rows[0]["seconds_median"],
        "growth_exponent_time_vs_logged_rows": exponent_rows,
        "growth_exponent_time_vs_users": exponent_users,
        "sizes": rows,
    }
    write_json(args.json, result)
    print(f"growth exponent (time vs logged rows): {exponent_rows:.2f}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
