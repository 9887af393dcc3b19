"""Collect benchmarks/results/*.json into one Markdown page, benchmarks/results/SUMMARY.md.

One table per benchmark, each with its target and whether it is met. A result
file that is missing is listed as not run; nothing is re-measured here.

    python benchmarks/summarize.py [--results DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BOOK_TOTAL_TARGET_S, CHAPTER_TARGET_S = 600, 60


def _met(flag) -> str:
    return "n/a" if flag is None else ("**met**" if flag else "**not met**")


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _machine(result) -> str:
    m = result.get("machine", {})
    if isinstance(m, list):  # a JSON merged from several runs keeps one record per run: show the last
        m = m[-1] if m else {}
    load = m.get("load_average_1_5_15") or m.get("load_average_at_end") or m.get("load_average_1_5_15_after")
    parts = [f"{m.get('cores', '?')} cores", f"torch {m['torch']}" if "torch" in m else None,
             f"torch threads {m['torch_default_threads']}" if "torch_default_threads" in m else None,
             f"load average {', '.join(f'{x:.1f}' for x in load)}" if load else None,
             m.get("date_utc") or result.get("date")]
    return "Machine: " + "; ".join(p for p in parts if p) + "."


def book(r) -> list[str]:
    rows = [[c["chapter"], f"{c['seconds_median']:.1f}", f"{c['kernel_peak_rss_mb']:.0f}",
             "yes" if c["seconds_median"] < CHAPTER_TARGET_S else "**no**"] for c in r["chapters"]]
    every = all(c["seconds_median"] < CHAPTER_TARGET_S for c in r["chapters"])
    out = [f"Whole book: **{r['total_seconds']:.0f} s** (target under {BOOK_TOTAL_TARGET_S} s: "
           f"{_met(r['total_seconds'] < BOOK_TOTAL_TARGET_S)}); every chapter under {CHAPTER_TARGET_S} s: "
           f"{_met(every)}; slowest: `{r['slowest']}`.", ""]
    out += _table(["chapter", "seconds", "kernel peak RSS (MB)", f"under {CHAPTER_TARGET_S} s"], rows)
    if r.get("note"):
        out += [f"Note: {r['note']}.", ""]
    return out


def training(r) -> list[str]:
    rows = [[c["model"], c["batch_size"], c["torch_threads"], f"{c['package_samples_per_second_median']:,.0f}",
             f"{c['plain_samples_per_second_median']:,.0f}", f"{c['ratio_package_to_plain']:.2f}"]
            for c in r["configs"]]
    out = [f"Target: every model trained by the package at no less than {r['min_ratio_required']}x a plain "
           f"hand-written torch loop of the same architecture, measured in the same run: "
           f"{_met(r['every_model_meets_it'])}.", ""]
    return out + _table(["model", "batch", "threads", "package samples/s", "plain loop samples/s", "ratio"], rows)


def mf_peer(r) -> list[str]:
    rows = [[name, m["epochs_to_threshold"], f"{m['seconds_median']:.3f}", f"{m['test_rmse_of_timed_fit']:.4f}",
             f"{m['best_test_rmse_in_budget']:.4f}",
             f"{m['ratio_to_cornac']:.2f}" if "ratio_to_cornac" in m else "n/a"] for name, m in r["methods"].items()]
    out = [f"Data: {r['data']}; {r['split']}. Threshold: test RMSE {r['threshold_rmse']} ({r['threshold_rule']}).",
           f"Target: {r['target']}: {_met(r.get('target_met'))}. Cornac: {r['cornac']}.", ""]
    out += _table(["method", "epochs (sweeps) to threshold", "seconds (median)", "test RMSE of timed fit",
                   "best test RMSE", "x Cornac"], rows)
    return out + [f"Timing: {r['timing']}.", ""]


def simulate(r) -> list[str]:
    rows = [[f"{s['n_users']:,}", f"{s['n_items']:,}", f"{s['logged_rows']:,}", f"{s['seconds_median']:.2f}",
             f"{s['peak_traced_mb']:.0f}"] for s in r["sizes"]]
    out = [f"Growth exponent of time: {r['growth_exponent_time_vs_users']:.2f} against users, "
           f"{r['growth_exponent_time_vs_logged_rows']:.2f} against logged rows (1 = linear; no target set).", ""]
    return out + _table(["users", "items", "logged rows", "seconds (median)", "peak traced MB"], rows)


def serving(r) -> list[str]:
    neumf = r["models"]["neumf"]["versions"]
    rows = [[name, f"{v['size_kb']:.0f}", f"{v['ndcg@10']:.3f}", f"{v['ndcg_change']:+.3f}",
             f"{v['p95_ms_1']:.2f}"] for name, v in neumf.items()]
    checks = ", ".join(f"{k}: {_met(v)}" for k, v in r["targets_met_neumf"].items())
    return [f"NeuMF targets: {checks}.", ""] + _table(["version", "size (kB)", "NDCG@10", "change",
                                                      "p95 ms, one user"], rows)


def dowhy(r) -> list[str]:
    rows = [[s["step"], f"{s['seconds_median']:.2f}",
             f"{s['estimate']:+.4f}" if "estimate" in s else "", f"{s['error']:+.4f}" if "error" in s else ""]
            for s in r["steps"]]
    out = [f"Data: {r['data']}. True ATE {r['true_ate']:+.4f}. Target: every estimator under "
           f"{r['target_seconds_per_estimator']:.0f} s: {_met(r['all_estimators_under_target'])}.", ""]
    return out + _table(["step", "seconds (median)", "estimate", "error"], rows)


def numbers(r, keys) -> list[str]:
    """The numeric leaves under ``keys`` of a result, one row per path (for the newer benchmarks)."""
    rows = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, path + [str(key)])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append([" / ".join(path), f"{value:.4g}"])

    for key in keys:
        if key in r:
            walk(r[key], [key])
    return _table(["quantity", "value"], rows) if rows else ["(no numbers)", ""]


SECTIONS = [
    ("book.json", "The book: execution time and memory per chapter", "bench_book.py", book),
    ("training.json", "Training throughput", "bench_training.py", training),
    ("mf_peer.json", "Matrix factorization against Cornac", "bench_mf_peer.py", mf_peer),
    ("mf_peer_movielens.json", "Matrix factorization against Cornac, real MovieLens 100K",
     "bench_mf_peer.py --movielens DIR", mf_peer),
    ("movielens_real.json", "Top-10 ranking on real MovieLens 100K (temporal split)",
     "movielens_ranking.py --movielens DIR", lambda r: numbers(r, ["models"])),
    ("reproduce_coat_real.json", "Debiasing on the real Coat data", "reproduce_coat.py --coat DIR",
     lambda r: _table(["method", "test MSE", "MAE", "NDCG@5", "AUC"],
                      [[name, f"{m['mse']:.3f}", f"{m['mae']:.3f}", f"{m['ndcg@5']:.3f}", f"{m['auc']:.3f}"]
                       for name, m in r["coat"].items() if isinstance(m, dict) and "mse" in m]) + [
         "Targets: " + ", ".join(f"{k}: {v}" for k, v in r["coat"]["targets"].items()) + ".", ""]),
    ("bench_sequential.json", "Sequence recommendation on real MovieLens 100K (leave last out)",
     "bench_sequential.py --movielens DIR", lambda r: numbers(r, ["movielens", "sizes"])),
    ("bench_sequential_ties.json", "Sequence recommendation: tie rule and validation-candidate rule (MovieLens 100K)",
     "bench_sequential.py --compare A.json B.json C.json", lambda r: numbers(ties := {
         f"ties {run['ties']}, validation {'candidate' if run['validation_candidate'] else 'withheld'}": {
             name: {m: part[m] for m in ("hr_at_10", "ndcg_at_10")}
             for name, part in [("popularity", run["popularity"]), ("BPR", run["mf"])]
             + [(f"ours width {size['dim']}", size) for size in run["sizes"]]} for run in r["runs"]}, list(ties))),
    ("bench_sequential_long.json", "Sequence recommender widths with a 40-epoch budget (MovieLens 100K)",
     "bench_sequential.py --movielens DIR --parts ours --epochs 40", lambda r: numbers(r, ["movielens", "sizes"])),
    ("simulate.json", "The simulator from 1,000 to 100,000 users", "bench_simulate.py", simulate),
    ("dowhy.json", "DoWhy estimators on the default world", "bench_dowhy.py", dowhy),
    ("serving.json", "Serving: compression and latency", "bench_serving.py", serving),
]


def summarize(results: Path) -> str:
    lines = ["# Benchmark summary", "",
             "Generated by `python benchmarks/summarize.py` from `benchmarks/results/*.json` (`make bench` "
             "runs the benchmarks, then this). Medians of several runs on a shared 2-core machine: the load "
             "average of each run is given; numbers from a loaded machine are slower than a quiet laptop's.", ""]
    for filename, title, script, render in SECTIONS:
        lines += [f"## {title}", ""]
        path = results / filename
        if not path.exists():
            lines += [f"Not run: `{filename}` is missing (`python benchmarks/{script}`).", ""]
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        lines += [f"`{result.get('command', 'python benchmarks/' + script)}` -> `results/{filename}`.", ""]
        lines += render(result)
        lines += [_machine(result), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--out", default=str(RESULTS / "SUMMARY.md"))
    args = parser.parse_args(argv)
    text = summarize(Path(args.results))
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
