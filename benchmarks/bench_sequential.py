"""Next-item recommendation on MovieLens 100K: our SASRec at several sizes against tuned baselines.

Protocol (stated again in the JSON):

- Every rating is an interaction (its value is ignored). Each user's ratings are
  ordered by timestamp, **ties by item id** (``--ties random``: by a random permutation
  of the rows, seed 0). Half of the rows share a timestamp with another row of the
  same user, so the rule matters (below).
- Leave-last-out: each user's last item is the test item, the one before it the
  validation item, the rest the training history.
- Full ranking: every item is a candidate except the user's *training* items;
  **the validation item stays a candidate** at test time (``--withhold-validation``:
  it does not). HR@10 and NDCG@10
  (one relevant item; ties count against it).
- Every model is fitted on the training histories, and every choice (epochs,
  learning rate, regularisation, size) is made on the validation items' NDCG@10
  only. At test time the sequence models read the validation item as the newest
  context item; BPR and popularity score from the training data.
- Methods: popularity (training counts); MF: Cornac's BPR (k=64) with its learning
  rate, L2 and iterations picked from ``BPR_GRID``; Cornac's SASRec (its defaults:
  sampled-softmax loss, 2 blocks, dim 100, length 50) with the learning rate picked
  from ``--cornac-lrs`` and the epoch by early stopping on validation
  (``--cornac-epochs`` at most, ``--cornac-patience``), both in a separate interpreter
  (``--cornac-python``, default ``/tmp/cornac-venv/bin/python``); our
  :class:`causalrec.sequence.SequentialRecommender` (2 blocks, 1 head, length 50,
  dropout 0.2, full-softmax cross-entropy, Adam lr ``--lr``, batch 64, one torch
  thread) at each ``--sizes`` width and each ``--seeds`` seed, epoch by early stopping
  on validation (at most ``--epochs``, ``--patience``).

    python benchmarks/bench_sequential.py --movielens data/external/ml-100k \
        --json benchmarks/results/bench_sequential.json

``--parts`` runs only some methods and ``--update`` keeps the other methods' entries
of an existing JSON; ``--merge A.json B.json ...`` combines runs of different parts
(the seeds of one width, the learning rates of Cornac's SASRec); every entry records
the command that produced it. A size's numbers are medians over its seeds; the headline
``sasrec`` entry is the size with the best median *validation* NDCG@10.

Cost: Cornac's SASRec trains every prefix of every history as its own sequence, so one
epoch took 3 to 25 minutes on the shared 2-core machine, depending on its load. The committed
run allows it 12 epochs with patience 2: learning rate 0.003 stopped on its own after 9 (best 7),
0.001 (chosen) ran all 12 and peaked at the 11th. Our model's widths in
``bench_sequential.json`` (with left pads masked as keys) were capped at 15 epochs;
``bench_sequential_long.json`` reruns width 64 with ``--epochs 40`` (every run stopped on its
own, after 13 to 30 epochs).

The two rules, measured (``bench_sequential_ties.json``: ``--compare`` of three runs of popularity,
BPR and width 64, seeds 0-2, ``--epochs 15``): withholding the validation item moves our NDCG@10
lead over BPR from +80% to +86%; breaking ties at random moves it to +29% (HR@10: from +90% to
+34%), as popularity and BPR score far higher under that rule (NDCG@10 0.025 to 0.042 and 0.046 to
0.072) and ours less so (0.082 to 0.093).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

try:
    import pandas as pd
except ImportError:  # the Cornac interpreter (--cornac-worker) needs numpy only
    pd = None

N_USERS, N_ITEMS, K = 943, 1682, 10
BPR_GRID = [dict(learning_rate=lr, lambda_reg=reg, max_iter=it)
            for lr in (0.01, 0.05) for reg in (0.01, 0.001) for it in (100, 300)]
PROTOCOL = ("MovieLens 100K, every rating an interaction; ordered by timestamp, ties by item id; leave-last-out "
            "(last = test, second last = validation); full ranking over all items minus the user's training "
            "items, the validation item stays a candidate; sequence models read the validation item as "
            "context at test time; every choice (epochs, learning rate, regularisation, size) on validation "
            "NDCG@10 only; our model's numbers are medians over seeds")


def protocol(ties="item", withhold_validation=False):
    """The protocol sentence of a run (the default one is the committed runs' text)."""
    text = PROTOCOL if ties == "item" else PROTOCOL.replace("ties by item id", "ties by a random permutation (seed 0)")
    return text.replace("the validation item stays", "the validation item is withheld as") if withhold_validation else text


def load(folder, ties="item"):
    """Training, validation and test rows, each user's rows ordered by timestamp, ties by item id or
    by a random permutation of the rows (seed 0); ``position`` is the order within the user."""
    path = Path(folder) / "u.data"
    data = pd.read_csv(path, sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"])
    data[["user_id", "item_id"]] -= 1
    tie = data.item_id if ties == "item" else np.random.default_rng(0).permutation(len(data))
    data = data.assign(tie=tie).sort_values(["user_id", "timestamp", "tie"], kind="stable")
    data["position"] = data.groupby("user_id").cumcount()
    data["from_end"] = data.groupby("user_id").cumcount(ascending=False)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return data[data.from_end >= 2], data[data.from_end == 1], data[data.from_end == 0], sha


def ranking(scores, targets, exclude):
    """HR@10 and NDCG@10 of one target per user (numpy only: also used in the Cornac interpreter)."""
    scores = np.where(exclude, -np.inf, scores)
    rank = (scores >= scores[np.arange(len(scores)), targets][:, None]).sum(axis=1)
    return {"hr_at_10": round(float(np.mean(rank <= K)), 4),
            "ndcg_at_10": round(float(np.where(rank <= K, 1 / np.log2(rank + 1), 0).mean()), 4)}


def cornac_worker(folder):
    """Runs in the Cornac interpreter: tune on validation, write test scores (float32 .npy)."""
    from collections import OrderedDict

    import cornac
    import torch
    from cornac.data import Dataset, SequentialDataset
    from cornac.models.sasrec import recom_sasrec

    torch.set_num_threads(1)
    folder = Path(folder)
    spec = json.loads((folder / "spec.json").read_text())
    user_id, item_id, position = np.loadtxt(folder / "train.csv", delimiter=",", skiprows=1, dtype=int).T
    valid, test_context = np.load(folder / "valid.npy"), np.load(folder / "context.npz")
    exclude = np.zeros((N_USERS, N_ITEMS), dtype=bool)
    exclude[user_id, item_id] = True
    items = OrderedDict((i, i) for i in range(N_ITEMS))        # full catalogue, ids unchanged
    users = OrderedDict((u, u) for u in range(N_USERS))
    history = [item_id[user_id == u].tolist() for u in range(N_USERS)]   # training order kept
    grid = []
    if spec["model"] == "bpr":
        data = Dataset.build([(u, i, 1.0) for u, i in zip(user_id, item_id)], fmt="UIR",
                             global_uid_map=users, global_iid_map=items, seed=0)
        scores_of = lambda model, context: np.stack([model.score(u) for u in range(N_USERS)])
        configs = [dict(c) for c in spec["grid"]]
        make = lambda c: cornac.models.BPR(k=64, seed=0, verbose=False, **c)
    else:
        data = SequentialDataset.build(list(zip(user_id, user_id, item_id, position)), fmt="USIT",
                                       global_uid_map=users, global_sid_map=OrderedDict(),
                                       global_iid_map=items, seed=0)      # one session per user
        scores_of = lambda model, context: np.stack([model.score(u, context[u]) for u in range(N_USERS)])
        configs = [dict(learning_rate=lr) for lr in spec["lrs"]]
        make = lambda c: cornac.models.SASRec(n_epochs=spec["epochs"], seed=0, verbose=False, **c)
    best, context = None, {u: test_context[str(u)].tolist() for u in range(N_USERS)}
    for config in configs:
        model, start, state = make(config), time.perf_counter(), {"best": -1.0, "epoch": 0, "weights": None}
        if spec["model"] == "sasrec":     # the best epoch so far is written at once: a run cut short keeps it
            save = lambda m, row: _write(folder, {**config, **row}, scores_of(m, context), grid, cornac.__version__)
            recom_sasrec.trange = _early_stopping(model, lambda m: ranking(scores_of(m, history), valid, exclude),
                                                  spec["patience"], state, save, time.perf_counter())
        model.fit(data)
        seconds = time.perf_counter() - start
        if state["weights"] is not None:          # SASRec: back to the epoch with the best validation NDCG
            model.model.load_state_dict(state["weights"])
        val = ranking(scores_of(model, history), valid, exclude)["ndcg_at_10"]
        row = {**config, "validation_ndcg_at_10": val, "seconds": round(seconds, 1)}
        if spec["model"] == "sasrec":
            row.update(best_epoch=state["epoch"], epochs_run=state["ran"])
        grid.append(row)
        print(row, flush=True)
        if best is None or val > best[0]["validation_ndcg_at_10"]:
            best = (row, scores_of(model, context))
    _write(folder, best[0], best[1], grid, cornac.__version__)


def _write(folder, chosen, scores, grid, version):
    np.save(folder / "scores.npy", scores.astype(np.float32))
    (folder / "result.json").write_text(json.dumps({"chosen": chosen, "grid": grid or [chosen], "cornac": version}))


def _early_stopping(model, score, patience, state, save, start_time):
    """Stands in for Cornac's epoch loop range: scores validation after each epoch, keeps (and
    saves) the best weights, and ends the loop after ``patience`` epochs without improvement."""
    def finished(epoch):                  # True: stop training
        state["ran"] = epoch
        ndcg = score(model)["ndcg_at_10"]
        print(f"  epoch {epoch}: validation NDCG@10 {ndcg}", flush=True)
        if ndcg > state["best"]:
            state.update(best=ndcg, epoch=epoch, weights={k: v.detach().clone()
                                                          for k, v in model.model.state_dict().items()})
            save(model, {"validation_ndcg_at_10": ndcg, "best_epoch": epoch, "epochs_run": epoch,
                         "seconds": round(time.perf_counter() - start_time, 1)})
        return epoch - state["epoch"] >= patience

    def epochs(start, stop, **_):
        for epoch in range(start, stop):
            if epoch > start and finished(epoch - 1):
                return
            yield epoch
        finished(stop - 1)

    class Bar:
        def __init__(self, *args, **kwargs):
            self.it = epochs(*args)

        def __iter__(self):
            return self.it

        def set_postfix(self, **_):
            pass

    return Bar


def run_cornac(python, spec, train, valid, context):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        train.assign(position=train.groupby("user_id").cumcount())[["user_id", "item_id", "position"]].to_csv(
            folder / "train.csv", index=False)
        np.save(folder / "valid.npy", valid.sort_values("user_id")["item_id"].to_numpy())
        np.savez(folder / "context.npz", **{str(u): s for u, s in context.items()})
        (folder / "spec.json").write_text(json.dumps(spec))
        done = subprocess.run([python, __file__, "--cornac-worker", str(folder)]).returncode == 0
        if not (folder / "result.json").exists():
            raise RuntimeError("the Cornac worker stopped before it had a result")
        info = json.loads((folder / "result.json").read_text())
        info["chosen"]["completed"] = done     # False: stopped from outside, best epoch so far
        return np.load(folder / "scores.npy").astype(float), info


def merge(paths, out):
    """One JSON from runs of different ``--parts`` (each entry keeps the command that made it)."""
    from _machine import write_json

    runs = [json.loads(Path(p).read_text()) for p in paths]
    if len({run["protocol"] for run in runs}) > 1:
        raise ValueError("these runs follow different protocols (--ties, --withhold-validation)")
    result = {"movielens": {}, "sizes": [], "machine": []}     # a merged input's machine is already a list
    for run in runs:
        result["machine"] += run["machine"] if isinstance(run["machine"], list) else [run["machine"]]
    by_dim = {}
    for run in runs:
        for name, entry in run["movielens"].items():
            if name == "cornac_sasrec":    # each grid row says whether its run ended on its own (older runs: its chosen's flag)
                entry = {**entry, "grid": [{"completed": entry["chosen"].get("completed"), **row} for row in entry["grid"]]}
            if name == "cornac_sasrec" and name in result["movielens"]:   # two parts of its grid: keep the best
                other = result["movielens"][name]
                grid, commands = other["grid"] + entry["grid"], [other["command"], entry["command"]]
                entry = max([other, entry], key=lambda e: e["chosen"]["validation_ndcg_at_10"])
                entry = {**entry, "grid": grid, "command": commands}
            if name != "sasrec":
                result["movielens"][name] = entry
        for size in run["sizes"]:     # the seeds of one width may come from several runs
            seeds = by_dim.setdefault(size["dim"], {"dim": size["dim"], "parameters": size["parameters"], "runs": []})
            seeds["runs"] += [{**r, "command": r.get("command", size.get("command"))} for r in size["runs"]]
        result.update(protocol=run["protocol"], u_data_sha256=run["u_data_sha256"], ties=run.get("ties", "item"),
                      validation_candidate=run.get("validation_candidate", True))
    for dim, size in sorted(by_dim.items()):
        for key in ("validation_ndcg_at_10", "hr_at_10", "ndcg_at_10", "seconds", "best_epoch"):
            known = [r[key] for r in size["runs"] if r.get(key) is not None]   # older runs lack best_epoch
            size[key] = round(float(np.median(known)), 4) if known else None
        size["seeds"] = [r["seed"] for r in size["runs"]]
        result["sizes"].append(size)
    found = result["movielens"]
    found["sasrec"] = {k: v for k, v in max(result["sizes"], key=lambda r: r["validation_ndcg_at_10"]).items()
                       if k != "runs"}
    result["complete"] = all(key in found for key in ("popularity", "mf", "cornac_sasrec", "sasrec"))
    result["comparison"] = {f"sasrec_over_mf_{m}": round(found["sasrec"][m] / found["mf"][m] - 1, 3)
                            for m in ("hr_at_10", "ndcg_at_10") if "mf" in found}
    if "cornac_sasrec" in found:
        result["comparison"]["sasrec_ndcg_over_cornac"] = round(
            found["sasrec"]["ndcg_at_10"] / found["cornac_sasrec"]["ndcg_at_10"] - 1, 3)
    result["command"] = "python benchmarks/bench_sequential.py --merge " + " ".join(map(str, paths))
    write_json(out, result)


def compare(paths, out):
    """Runs made under different protocols, side by side: popularity, BPR and every width of ours with
    its gain over that run's BPR (each entry keeps the command that made it)."""
    from _machine import write_json

    result = {"runs": [], "command": "python benchmarks/bench_sequential.py --compare " + " ".join(map(str, paths))}
    for run in [json.loads(Path(p).read_text()) for p in paths]:
        mf = run["movielens"]["mf"]
        sizes = [{**size, "over_mf": {m: round(size[m] / mf[m] - 1, 3) for m in ("hr_at_10", "ndcg_at_10")}}
                 for size in run["sizes"]]
        result["runs"].append({"ties": run.get("ties", "item"), "validation_candidate": run.get("validation_candidate", True),
                               **{k: run[k] for k in ("protocol", "u_data_sha256", "machine")},
                               "popularity": run["movielens"]["popularity"], "mf": mf, "sizes": sizes})
    write_json(out, result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movielens", help="folder with MovieLens 100K's u.data")
    parser.add_argument("--json", default="benchmarks/results/bench_sequential.json")
    parser.add_argument("--parts", default="popularity,mf,cornac,ours")
    parser.add_argument("--update", action="store_true", help="keep the other parts of an existing --json")
    parser.add_argument("--sizes", default="8,32,64,128", help="widths (dim) of our SASRec")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--cornac-lrs", default="0.001,0.003")
    parser.add_argument("--cornac-epochs", type=int, default=12)
    parser.add_argument("--cornac-patience", type=int, default=2)
    parser.add_argument("--cornac-python", default="/tmp/cornac-venv/bin/python")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--ties", choices=["item", "random"], default="item",
                        help="same-timestamp rows of a user ordered by item id or by a seeded random permutation")
    parser.add_argument("--withhold-validation", action="store_true",
                        help="the validation item is not a candidate at test time")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--merge", nargs="+", help="combine the parts of these JSON files into --json")
    parser.add_argument("--compare", nargs="+", help="put runs under different protocols side by side in --json")
    parser.add_argument("--cornac-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cornac_worker:
        return cornac_worker(args.cornac_worker)
    if args.merge:
        return merge(args.merge, args.json)
    if args.compare:
        return compare(args.compare, args.json)
    if not args.movielens:
        parser.error("--movielens DIR is required")

    import causalrec as cr
    from _machine import machine, write_json

    parts = args.parts.split(",")
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])
    train, valid, test, sha = load(args.movielens, args.ties)
    targets = test.sort_values("user_id")["item_id"].to_numpy()
    exclude = np.zeros((N_USERS, N_ITEMS), dtype=bool)     # the test candidates: all items but these
    exclude[train.user_id, train.item_id] = True
    exclude[valid.user_id, valid.item_id] |= args.withhold_validation
    with_valid = cr.sequence.histories(pd.concat([train, valid]).assign(order=lambda d: -d.from_end),
                                       order_by="order")     # training history + validation item, in order
    old = json.loads(Path(args.json).read_text()) if args.update and Path(args.json).exists() else {}
    result = {"movielens": old.get("movielens", {}), "sizes": old.get("sizes", []), "complete": False}
    if "ours" in parts:
        result["sizes"] = []

    def save():
        """Write what is measured so far (a long run on a shared machine may be cut short)."""
        found = result["movielens"]
        ours, mf_ = found.get("sasrec"), found.get("mf")
        result["comparison"] = {f"sasrec_over_mf_{m}": round(ours[m] / mf_[m] - 1, 3)
                                for m in ("hr_at_10", "ndcg_at_10") if ours and mf_}
        if ours and "cornac_sasrec" in found:
            result["comparison"]["sasrec_ndcg_over_cornac"] = round(
                ours["ndcg_at_10"] / found["cornac_sasrec"]["ndcg_at_10"] - 1, 3)
        result.update(protocol=protocol(args.ties, args.withhold_validation), ties=args.ties,
                      validation_candidate=not args.withhold_validation)
        result["machine"] = machine(threads=args.threads)
        result["u_data_sha256"] = sha
        write_json(args.json, result)

    if "popularity" in parts:
        start = time.perf_counter()
        counts = np.bincount(train.item_id, minlength=N_ITEMS).astype(float)
        result["movielens"]["popularity"] = {**ranking(np.tile(counts, (N_USERS, 1)), targets, exclude),
                                             "seconds": round(time.perf_counter() - start, 2), "command": command}
        save()
    if "mf" in parts:
        scores, info = run_cornac(args.cornac_python, {"model": "bpr", "grid": BPR_GRID}, train, valid, with_valid)
        result["movielens"]["mf"] = {**ranking(scores, targets, exclude), "seconds": info["chosen"]["seconds"],
                                     "model": "Cornac BPR, k=64", "chosen": info["chosen"], "grid": info["grid"],
                                     "cornac": info["cornac"], "command": command}
        print("mf", result["movielens"]["mf"], flush=True)
        save()
    if "cornac" in parts:
        spec = {"model": "sasrec", "lrs": [float(x) for x in args.cornac_lrs.split(",")],
                "epochs": args.cornac_epochs, "patience": args.cornac_patience}
        with ThreadPoolExecutor(len(spec["lrs"])) as pool:     # one interpreter per learning rate, in parallel
            runs = list(pool.map(lambda lr: run_cornac(args.cornac_python, {**spec, "lrs": [lr]}, train, valid,
                                                       with_valid), spec["lrs"]))
        scores, info = max(runs, key=lambda run: run[1]["chosen"]["validation_ndcg_at_10"])
        result["movielens"]["cornac_sasrec"] = {**ranking(scores, targets, exclude),
                                                "seconds": info["chosen"]["seconds"], "chosen": info["chosen"],
                                                "grid": [{**row, "completed": run["chosen"]["completed"]}
                                                         for _, run in runs for row in run["grid"]],
                                                "cornac": info["cornac"], "command": command}
        print("cornac", result["movielens"]["cornac_sasrec"], flush=True)
        save()
    if "ours" in parts:
        for dim in [int(d) for d in args.sizes.split(",")]:
            runs = []
            for seed in [int(s) for s in args.seeds.split(",")]:
                start = time.perf_counter()
                model = cr.sequence.SequentialRecommender(
                    dim=dim, epochs=args.epochs, patience=args.patience, lr=args.lr, batch_size=64, max_len=50,
                    random_state=seed, n_threads=args.threads).fit(
                    train, order_by=["position"], n_users=N_USERS, n_items=N_ITEMS, validation=valid)
                seconds = time.perf_counter() - start
                runs.append({"seed": seed, "best_epoch": int(model.history_["validation"].idxmin()) + 1,
                             "epochs_run": len(model.history_),
                             "validation_ndcg_at_10": round(-float(model.history_["validation"].min()), 4),
                             **ranking(model.score_items(np.arange(N_USERS), histories=with_valid), targets, exclude),
                             "seconds": round(seconds, 1)})
                print(dim, runs[-1], flush=True)
            median = {key: round(float(np.median([r[key] for r in runs])), 4)
                      for key in ("validation_ndcg_at_10", "hr_at_10", "ndcg_at_10", "seconds", "best_epoch")}
            result["sizes"].append({"dim": dim, "parameters": model.n_params_, **median, "runs": runs,
                                    "command": command})
            result["movielens"]["sasrec"] = {k: v for k, v in max(
                result["sizes"], key=lambda r: r["validation_ndcg_at_10"]).items() if k != "runs"}
            save()
    result["complete"] = all(key in result["movielens"] for key in ("popularity", "mf", "cornac_sasrec", "sasrec"))
    save()
    print(json.dumps(result["movielens"], indent=1))


if __name__ == "__main__":
    main()
