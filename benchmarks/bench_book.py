"""Execution time and peak memory of every chapter, each in a fresh kernel.

Writes benchmarks/results/book.json. Targets: under 60 s per chapter, under 10 minutes
for the whole book, on a 2-core laptop-class CPU. Quote medians; the machine is shared.

    python benchmarks/bench_book.py [--repeats 1] [--json PATH] [CHAPTER ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine, write_json

BOOK = Path(__file__).resolve().parent.parent / "book"


def run_one(path: str) -> dict:
    """Execute one notebook here (the kernel is our child, so its peak RSS is ours to read)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": elapsed, "kernel_peak_rss_mb": peak_kb / 1024}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="notebook paths (default: every book/NN*_*.ipynb, 06b included)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "book.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    chapters = [Path(c) for c in args.chapters] or sorted(BOOK.glob("[0-9][0-9]*_*.ipynb"))
    rows = []
    for chapter in chapters:
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, __file__, "--one", str(chapter)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        row = {"chapter": chapter.stem,
               "seconds_median": statistics.median(r["seconds"] for r in runs),
               "seconds_all": [r["seconds"] for r in runs],
               "kernel_peak_rss_mb": max(r["kernel_peak_rss_mb"] for r in runs)}
        rows.append(row)
        flag = "" if row["seconds_median"] < 60 else "  <-- over the 60 s target"
        print(f"{row['chapter']:<32} {row['seconds_median']:6.1f} s  peak {row['kernel_peak_rss_mb']:6.0f} MB{flag}")
    total = sum(r["seconds_median"] for r in rows)
    result = {
        "benchmark": "chapter execution, each in a fresh kernel",
        "command": "python benchmarks/bench_book.py",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "total_seconds": total,
        "slowest": max(rows, key=lambda r: r["seconds_median"])["chapter"] if rows else None,
        "chapters": rows,
    }
    write_json(args.json, result)
    print(f"whole book: {total:.0f} s; wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
