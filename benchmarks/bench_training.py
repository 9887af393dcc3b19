"""Training throughput of the three models, against a plain torch reference loop.

For MF, NeuMF and the multimodal model, at batch sizes 1024 and 4096, this
measures samples (training rows) per second of :func:`causalrec.recommenders.train_model`
(BCE on ``purchased``, no validation set, so it is the batch loop itself: a
fresh permutation per epoch, sliced batches, ID checks, Adam) and divides it by
the throughput of a *reference loop* run in the same process: a minimal MF
module with Adam over tensors shuffled once beforehand, nothing else. A ratio
near 1 means the package adds no overhead to plain torch; the ratio of the
bigger models shows what their extra layers cost. One end-to-end
``Recommender.fit`` (with its validation split and per-epoch evaluation) is
timed too.

The data are the default world's logged rows (1,000 users x 300 items),
repeated to ``--rows`` rows. Each configuration runs in a fresh Python process
so that its peak memory can be read from ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
(the resident-set high-water mark, which sees torch's allocations; tracemalloc
does not): the reported peak is its increase during training over the level
after loading data and warming up. Times are medians of ``--repeats`` runs;
the machine may be shared, so the load average is recorded as well.

    python benchmarks/bench_training.py [--repeats 5] [--rows 240000] [--json PATH]

Writes benchmarks/results/training.json.
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

from _machine import load_average, machine, write_json

TARGET_MF_SAMPLES_PER_SECOND = 1_000_000

# (label, model, batch size, torch threads during training)
CONFIGS = [
    ("mf", "mf", 1024, 1),
    ("mf", "mf", 4096, 1),
    ("mf, 2 threads", "mf", 4096, 2),
    ("neumf", "neumf", 1024, 1),
    ("neumf", "neumf", 4096, 1),
    ("multimodal", "multimodal", 1024, 1),
    ("multimodal", "multimodal", 4096, 1),
]
# Epochs per timed run, so that a run lasts about a second or more.
EPOCHS = {"mf": 5, "neumf": 2, "multimodal": 1}


def _maxrss_mb() -> float:
    # Linux reports kilobytes (macOS bytes; this benchmark is run on Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(n_rows: int):
    import numpy as np

    import causalrec as cr
    from causalrec import schema
    from causalrec.recommenders import TrainingData

    world = cr.load_default()
    log = world.interactions
    reps = -(-n_rows // len(log))
    users = np.tile(log[schema.USER].to_numpy(), reps)[:n_rows]
    items = np.tile(log[schema.ITEM].to_numpy(), reps)[:n_rows]
    target = np.tile(log[schema.PURCHASED].to_numpy(), reps)[:n_rows]
    return world, TrainingData.from_arrays(users, items, target)


def _build(model_name: str, world, seed: int = 0):
    import torch

    from causalrec.models import MatrixFactorization, MultimodalRecommender, NeuMF
    from causalrec.prep import TextVectorizer, normalize_images

    torch.manual_seed(seed)
    if model_name == "mf":
        return MatrixFactorization(world.n_users, world.n_items, 32)
    if model_name == "neumf":
        return NeuMF(world.n_users, world.n_items, 32, hidden=(64, 32, 16))
    images = torch.from_numpy(normalize_images(world.images).images)
    text = torch.from_numpy(TextVectorizer(kind="tfidf").fit_transform(world.items["description"]))
    return MultimodalRecommender(world.n_users, world.n_items, images=images, text=text, dim=32)


class _ReferenceMF:
    """The plainest MF training loop: tensors shuffled once, slices, BCE, Adam."""

    def __init__(self, n_users, n_items, dim=32):
        import torch

        class MF(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.p = torch.nn.Embedding(n_users, dim)
                self.q = torch.nn.Embedding(n_items, dim)
                self.bu = torch.nn.Parameter(torch.zeros(n_users))
                self.bi = torch.nn.Parameter(torch.zeros(n_items))
                torch.nn.init.normal_(self.p.weight, std=0.1)
                torch.nn.init.normal_(self.q.weight, std=0.1)

            def forward(self, u, i):
                return (self.p(u) * self.q(i)).sum(1) + self.bu[u] + self.bi[i]

        torch.manual_seed(0)
        self.model = MF()

    def train(self, users, items, target, epochs, batch_size):
        import torch

        optimizer = torch.optim.Adam(self.model.parameters(), lr=0.01)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            for start in range(0, len(users), batch_size):
                stop = start + batch_size
                loss = loss_fn(self.model(users[start:stop], items[start:stop]), target[start:stop])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()


def worker(model_name: str, batch_size: int, threads: int, n_rows: int, repeats: int) -> dict:
    """One configuration, in this (fresh) process: our loop, the reference loop, peak memory."""
    import torch

    from causalrec.recommenders import train_model

    torch.set_num_threads(threads)
    world, data = _data(n_rows)
    epochs = EPOCHS[model_name]
    model = _build(model_name, world)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    # warm-up: first-call costs (torch.optim imports torch._dynamo, kernels get initialised)
    train_model(model, data.subset(slice(0, 4 * batch_size)), epochs=1, batch_size=batch_size,
                verbose=False, n_threads=threads)
    reference = _ReferenceMF(world.n_users, world.n_items)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    ref_u, ref_i, ref_y = data.users[order], data.items[order], data.target[order]
    reference.train(ref_u[:4 * batch_size], ref_i[:4 * batch_size], ref_y[:4 * batch_size], 1, batch_size)
    baseline = _maxrss_mb()

    ours, ref = [], []
    for run in range(repeats):
        model.load_state_dict(init)
        start = time.perf_counter()
        train_model(model, data, epochs=epochs, batch_size=batch_size, lr=0.01, verbose=False,
                    random_state=run, n_threads=threads)
        ours.append(len(data) * epochs / (time.perf_counter() - start))
        peak_ours = _maxrss_mb()
        reference = _ReferenceMF(world.n_users, world.n_items)
        start = time.perf_counter()
        reference.train(ref_u, ref_i, ref_y, EPOCHS["mf"], batch_size)
        ref.append(len(data) * EPOCHS["mf"] / (time.perf_counter() - start))
    return {
        "model": model_name, "batch_size": batch_size, "torch_threads": threads, "rows": len(data),
        "epochs_per_run": epochs, "samples_per_second_median": statistics.median(ours),
        "samples_per_second_all": ours,
        "reference_mf_samples_per_second_median": statistics.median(ref),
        "ratio_to_reference": statistics.median(ours) / statistics.median(ref),
        "peak_rss_increase_mb": max(0.0, peak_ours - baseline),
        "rss_after_warmup_mb": baseline,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def end_to_end(n_repeats: int) -> dict:
    """Recommender.fit on the default world (validation split, evaluation each epoch)."""
    import causalrec as cr
    from causalrec.recommenders import Recommender

    world = cr.load_default()
    Recommender(epochs=1, verbose=False).fit(world.interactions.head(1000))  # warm-up
    times = []
    for run in range(n_repeats):
        rec = Recommender("mf", epochs=10, batch_size=4096, patience=None, random_state=run, verbose=False)
        start = time.perf_counter()
        rec.fit(world.interactions, target="purchased")
        times.append(time.perf_counter() - start)
    rows = len(world.interactions)
    return {"what": "Recommender('mf', epochs=10, batch_size=4096, patience=None).fit(world.interactions)",
            "rows": rows, "seconds_median": statistics.median(times), "seconds_all": times,
            "samples_per_second_incl_validation": rows * 10 / statistics.median(times)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=240_000)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "training.json"))
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "BATCH", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--end-to-end", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        model_name, batch, threads = args.worker
        print(json.dumps(worker(model_name, int(batch), int(threads), args.rows, args.repeats)))
        return 0
    if args.end_to_end:
        print(json.dumps(end_to_end(args.repeats)))
        return 0

    load_before = load_average()
    rows = []
    for label, model_name, batch, threads in CONFIGS:
        out = subprocess.run([sys.executable, __file__, "--worker", model_name, str(batch), str(threads),
                              "--rows", str(args.rows), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True)
        row = {"label": label, **json.loads(out.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(f"{label:<14} batch {batch:>5}: {row['samples_per_second_median']:>11,.0f} samples/s "
              f"(reference MF loop {row['reference_mf_samples_per_second_median']:>11,.0f}; "
              f"ratio {row['ratio_to_reference']:.2f}), peak RSS +{row['peak_rss_increase_mb']:.1f} MB",
              flush=True)
    out = subprocess.run([sys.executable, __file__, "--end-to-end", "--repeats", str(args.repeats)],
                         check=True, capture_output=True, text=True)
    fit = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"end to end: {fit['what']}: {fit['seconds_median']:.2f} s "
          f"({fit['samples_per_second_incl_validation']:,.0f} samples/s with validation)")
    mf_4096 = next(r for r in rows if r["model"] == "mf" and r["batch_size"] == 4096 and r["torch_threads"] == 1)
    result = {
        "benchmark": "training throughput",
        "command": "python benchmarks/bench_training.py",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(load_average_1_5_15_before=load_before),
        "memory_measure": "resource.getrusage(RUSAGE_SELF).ru_maxrss increase during the timed runs, "
                          "one fresh process per configuration",
        "loss": "bce on purchased (pointwise); samples = training rows",
        "target_mf_4096_samples_per_second": TARGET_MF_SAMPLES_PER_SECOND,
        "mf_4096_meets_target": mf_4096["samples_per_second_median"] >= TARGET_MF_SAMPLES_PER_SECOND,
        "configs": rows,
        "end_to_end": fit,
    }
    write_json(args.json, result)
    print(f"MF at batch 4096: {mf_4096['samples_per_second_median']:,.0f} samples/s "
          f"(target {TARGET_MF_SAMPLES_PER_SECOND:,}); wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
