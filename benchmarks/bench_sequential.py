"""Next-item recommendation on MovieLens 100K: our SASRec at several sizes against its baselines.

Protocol (stated again in the JSON):

- Every rating is an interaction (its value is ignored). Each user's ratings are
  ordered by timestamp, **ties by item id** (half of the rows share a timestamp
  with another row of the same user, so the rule matters).
- Leave-last-out: each user's last item is the test item, the one before it the
  validation item, the rest the training history.
- Full ranking: every item is a candidate except the user's *training* items;
  **the validation item stays a candidate** at test time. HR@10 and NDCG@10
  (one relevant item; ties count against it).
- Models are fitted on the training histories. Choices are made on the
  validation items only (the epoch of our SASRec by early stopping). At test
  time the sequence models read the validation item as the newest context item;
  MF and popularity score from the training data.
- Methods: popularity (training counts); MF: Cornac's BPR (k=64, its defaults otherwise,
  the issue's reference; ``causalrec.Recommender("mf", loss="bpr")`` with its defaults took
  486 s here and stayed at popularity's level, so it is not the reference); our :class:`causalrec.sequence.SequentialRecommender`
  (2 blocks, 1 head, length 50, dropout 0.2, full softmax, Adam lr ``--lr``, batch 64, one
  torch thread: two threads on this shared 2-core machine ran 5x slower) at each ``--sizes`` width;
  Cornac's SASRec (its defaults but ``--cornac-epochs``) in a separate interpreter
  (``--cornac-python``, default ``/tmp/cornac-venv/bin/python``) when it exists.

    python benchmarks/bench_sequential.py --movielens data/external/ml-100k \
        --json benchmarks/results/bench_sequential.json

The headline ``sasrec`` entry is the size with the best *validation* NDCG@10.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import pandas as pd
except ImportError:  # the Cornac interpreter (--cornac-worker) needs numpy only
    pd = None

N_USERS, N_ITEMS, K = 943, 1682, 10
PROTOCOL = ("MovieLens 100K, every rating an interaction; ordered by timestamp, ties by item id; leave-last-out "
            "(last = test, second last = validation); full ranking over all items minus the user's training "
            "items, the validation item stays a candidate; sequence models read the validation item as "
            "context at test time; choices on validation only")


def load(folder):
    path = Path(folder) / "u.data"
    data = pd.read_csv(path, sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"])
    data[["user_id", "item_id"]] -= 1
    data = data.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    data["from_end"] = data.groupby("user_id").cumcount(ascending=False)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return data[data.from_end >= 2], data[data.from_end == 1], data[data.from_end == 0], sha


def metrics(scores, test, exclude):
    from causalrec.sequence import next_item_metrics

    m = next_item_metrics(scores, test.sort_values("user_id")["item_id"].to_numpy(), exclude, k=K)
    return {"hr_at_10": round(m["hit_rate"], 4), "ndcg_at_10": round(m["ndcg"], 4)}


def cornac_worker(folder, out):
    """Runs in the Cornac interpreter: fit Cornac's SASRec, write test scores (float32 .npy)."""
    import cornac
    from collections import OrderedDict
    from cornac.data import SequentialDataset

    spec = json.loads((Path(folder) / "spec.json").read_text())
    user_id, item_id, position = np.loadtxt(Path(folder) / "train.csv", delimiter=",", skiprows=1, dtype=int).T
    items = OrderedDict((i, i) for i in range(N_ITEMS))        # full catalogue, ids unchanged
    users = OrderedDict((u, u) for u in range(N_USERS))
    rows = list(zip(user_id, user_id, item_id, position))  # one session per user
    data = SequentialDataset.build(rows, fmt="USIT", global_uid_map=users, global_sid_map=OrderedDict(),
                                   global_iid_map=items, seed=0)
    if spec["model"] == "bpr":
        from cornac.data import Dataset

        data = Dataset.build([(u, i, 1.0) for u, i in zip(user_id, item_id)], fmt="UIR",
                             global_uid_map=users, global_iid_map=items, seed=0)
        model = cornac.models.BPR(k=64, seed=0, verbose=False)
    else:
        model = cornac.models.SASRec(n_epochs=spec["epochs"], seed=0, verbose=False)
    start = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - start
    users_c, items_c = np.loadtxt(Path(folder) / "context.csv", delimiter=",", skiprows=1, dtype=int).T
    context = {u: items_c[users_c == u].tolist() for u in range(N_USERS)}
    score = (lambda u: model.score(u)) if spec["model"] == "bpr" else (lambda u: model.score(u, context[u]))
    scores = np.stack([score(u) for u in range(N_USERS)]).astype(np.float32)
    np.save(out, scores)
    (Path(folder) / "result.json").write_text(json.dumps({"seconds": seconds, "cornac": cornac.__version__}))


def run_cornac(python, model, train, context, epochs):
    with tempfile.TemporaryDirectory() as folder:
        train.assign(position=train.groupby("user_id").cumcount())[["user_id", "item_id", "position"]].to_csv(
            Path(folder) / "train.csv", index=False)
        context.to_csv(Path(folder) / "context.csv", index=False)
        (Path(folder) / "spec.json").write_text(json.dumps({"model": model, "epochs": epochs}))
        subprocess.run([python, __file__, "--cornac-worker", folder], check=True)
        info = json.loads((Path(folder) / "result.json").read_text())
        return np.load(Path(folder) / "scores.npy"), info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movielens", help="folder with MovieLens 100K's u.data")
    parser.add_argument("--json", default="benchmarks/results/bench_sequential.json")
    parser.add_argument("--sizes", default="8,32,64,128", help="widths (dim) of our SASRec")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--cornac-epochs", type=int, default=1)
    parser.add_argument("--cornac-python", default="/tmp/cornac-venv/bin/python")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cornac-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cornac_worker:
        return cornac_worker(args.cornac_worker, Path(args.cornac_worker) / "scores.npy")
    if not args.movielens:
        parser.error("--movielens DIR is required")

    import causalrec as cr
    from _machine import machine, write_json

    train, valid, test, sha = load(args.movielens)
    exclude = np.zeros((N_USERS, N_ITEMS), dtype=bool)
    exclude[train.user_id, train.item_id] = True
    context = pd.concat([train, valid])[["user_id", "item_id"]]      # training history + validation item
    with_valid = cr.sequence.histories(pd.concat([train, valid]).assign(order=lambda d: -d.from_end),
                                       order_by="order")
    result = {"movielens": {}, "sizes": [], "complete": False}

    def save():
        """Write what is measured so far (a long run on a shared machine may be cut short)."""
        ours, mf_ = result["movielens"].get("sasrec"), result["movielens"].get("mf")
        result["comparison"] = {f"sasrec_over_mf_{m}": round(ours[m] / mf_[m] - 1, 3)
                                for m in ("hr_at_10", "ndcg_at_10") if ours and mf_}
        if ours and "cornac_sasrec" in result["movielens"]:
            result["comparison"]["sasrec_ndcg_over_cornac"] = round(
                ours["ndcg_at_10"] / result["movielens"]["cornac_sasrec"]["ndcg_at_10"] - 1, 3)
        result["protocol"] = PROTOCOL
        result["command"] = "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])
        result["machine"] = machine(threads=args.threads)
        result["u_data_sha256"] = sha
        write_json(args.json, result)

    start = time.perf_counter()
    counts = np.bincount(train.item_id, minlength=N_ITEMS).astype(float)
    result["movielens"]["popularity"] = {**metrics(np.tile(counts, (N_USERS, 1)), test, exclude),
                                         "seconds": round(time.perf_counter() - start, 2)}

    if Path(args.cornac_python).exists():
        scores, info = run_cornac(args.cornac_python, "bpr", train, context, None)
        result["movielens"]["mf"] = {**metrics(scores.astype(float), test, exclude),
                                     "seconds": round(info["seconds"], 1), "model": "Cornac BPR, k=64, defaults"}
        print("mf", result["movielens"]["mf"], flush=True)

    if Path(args.cornac_python).exists():
        scores, info = run_cornac(args.cornac_python, "sasrec", train, context, args.cornac_epochs)
        result["movielens"]["cornac_sasrec"] = {**metrics(scores.astype(float), test, exclude),
                                                "seconds": round(info["seconds"], 1),
                                                "epochs": args.cornac_epochs, "cornac": info["cornac"]}
        print("cornac", result["movielens"]["cornac_sasrec"], flush=True)
        save()

    for dim in [int(d) for d in args.sizes.split(",")]:
        start = time.perf_counter()
        model = cr.sequence.SequentialRecommender(
            dim=dim, epochs=args.epochs, patience=args.patience, lr=args.lr, batch_size=64, max_len=50,
            random_state=0, n_threads=args.threads).fit(
            train, order_by=["timestamp"], n_users=N_USERS, n_items=N_ITEMS, validation=valid)
        seconds = time.perf_counter() - start
        row = {"dim": dim, "parameters": model.n_params_, "epochs_run": len(model.history_),
               "validation_ndcg_at_10": round(-float(model.history_["validation"].min()), 4),
               **metrics(model.score_items(np.arange(N_USERS), histories=with_valid), test, exclude),
               "seconds": round(seconds, 1)}
        result["sizes"].append(row)
        print(row, flush=True)
        result["movielens"]["sasrec"] = max(result["sizes"], key=lambda r: r["validation_ndcg_at_10"])
        save()

    result["complete"] = True
    save()
    print(json.dumps(result["movielens"], indent=1))


if __name__ == "__main__":
    main()
