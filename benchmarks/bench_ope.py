"""Off-policy evaluation against the simulator's truth: DM, IPS, SNIPS, DR and switch over many worlds.

In each small simulated shop the policies are built from the first two weeks of logs (an ALS
matrix factorization, a T-learner of the effect of showing, item popularity) and valued on the
last two weeks' logged candidates; each estimate is compared with the policy's true value
(causalrec.data.simulate.run_policy). Two scenarios: the default logging policy, and one with
small propensities (alpha0, alpha1, alpha2 = -1.5, 1.6, 1.2). The seeds start at 1000, held out from
chapter 09c's 20 worlds (seeds 0-19), so that the chapter's claims are confirmed on worlds it never saw.
Per world and estimator it keeps the error (estimate - truth), so that paired comparisons (e.g. the
difference of two estimators' squared errors, world by world) get a Monte Carlo standard error.
Writes benchmarks/results/bench_ope.json.

    python benchmarks/bench_ope.py [--worlds 200] [--first-seed 1000] [--json PATH]

scikit-learn's trees run on one thread: on the shared 2-core machine a run with two OpenMP threads had
not finished after 30 minutes; with one it takes about one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _machine import load_average, machine, write_json
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from causalrec import ope, schema
from causalrec.als import ALSMatrixFactorization
from causalrec.data.simulate import simulate_shop

WORLD = dict(n_users=300, n_items=100, candidates_per_user=24, randomized_per_user=0, image_size=8)
SCENARIOS = {"default": None, "small_propensities": {"alpha0": -1.5, "alpha1": 1.6, "alpha2": 1.2}}
SPLIT_DAY, K, THRESHOLD = 14, 4, 20.0  # policies learn from days < 14; each shows K candidates per user
OUTCOME_MODEL = HistGradientBoostingClassifier(max_iter=30, learning_rate=0.2, max_depth=3, random_state=0)
POLICIES = ("mf_top_k", "by_effect", "popularity", "softened")


def top_k(users, scores, k=K) -> np.ndarray:
    """1 for each user's k highest-scoring logged candidates, else 0."""
    return (pd.Series(scores).groupby(np.asarray(users)).rank(ascending=False, method="first") <= k).to_numpy(float)


def logged_data(seed: int, params) -> tuple:
    """One world; its last two weeks' log, logging propensities, outcome model and target policies."""
    world = simulate_shop(**WORLD, params=params, random_state=seed)
    full, features = world.interactions, ope.shop_features(world)
    early = full[schema.DAY].to_numpy() < SPLIT_DAY
    log, x, propensity = full[~early], features[~early], world.truth.propensity[~early]
    users, items = log[schema.USER].to_numpy(), log[schema.ITEM].to_numpy()
    a_early, y_early = full[schema.EXPOSED].to_numpy()[early], full[schema.PURCHASED].to_numpy()[early]
    models = [clone(OUTCOME_MODEL).fit(features[early][a_early == arm], y_early[a_early == arm]) for arm in (0, 1)]
    q_hidden, q_shown = (m.predict_proba(x)[:, 1] for m in models)
    mf = ALSMatrixFactorization(dim=8, n_sweeps=5, random_state=seed).fit(
        full[early], n_users=world.n_users, n_items=world.n_items, target=schema.PURCHASED)
    targets = {"mf_top_k": top_k(users, mf.predict(users, items)), "by_effect": top_k(users, q_shown - q_hidden),
               "popularity": top_k(users, world.items[schema.POPULARITY].to_numpy()[items])}
    targets["softened"] = 0.5 * targets["mf_top_k"] + 0.5 * propensity
    return world, log, propensity, q_hidden, q_shown, targets


def one_world(seed: int, params) -> dict:
    """The true value and every estimate of each policy in one world."""
    world, log, propensity, q_hidden, q_shown, targets = logged_data(seed, params)
    out = {}
    for name, target in targets.items():
        value, incremental = ope.true_value(world, target, log)
        table = ope.evaluate_policy(log, target, propensity, q_hidden, q_shown, n_users=world.n_users,
                                    threshold=THRESHOLD)
        out[name] = {"true": value, "true_incremental": incremental, "estimates": table,
                     "max_weight": float(ope.importance_weights(log[schema.EXPOSED], propensity, target).max())}
    return out


def summarize(runs: list[dict]) -> dict:
    """Bias, sd, RMSE and 95%-interval coverage (with its Monte Carlo standard error) per estimator, pooled
    over policies and per policy; per policy also every world's error (for paired comparisons)."""
    result = {"over_worlds": {}, "coverage": {}, "by_policy": {}}
    for policy in (*POLICIES, None):
        rows = [run[p] for run in runs for p in ((policy,) if policy else POLICIES)]
        block, errors = {}, {}
        for est in ope.ESTIMATORS:
            err = np.array([r["estimates"].loc[est, "value"] - r["true"] for r in rows])
            ci = np.array([r["estimates"].loc[est, ["ci_low", "ci_high"]].to_numpy(float) - r["true"]
                           for r in rows])  # DM's is NaN: no interval
            cover = float(np.mean((ci[:, 0] <= 0) & (ci[:, 1] >= 0))) if np.isfinite(ci).all() else None
            block[est] = {"bias": float(err.mean()), "sd": float(err.std(ddof=1)),
                          "rmse": float(np.sqrt(np.mean(err**2))), "coverage": cover,
                          "coverage_mc_se": None if cover is None else float(np.sqrt(cover * (1 - cover) / len(err)))}
            errors[est] = [round(float(e), 6) for e in err]
        if policy:
            block["true_mean"] = float(np.mean([r["true"] for r in rows]))
            block["median_max_weight"] = float(np.median([r["max_weight"] for r in rows]))
            block["errors"] = errors
            result["by_policy"][policy] = block
        else:
            result["over_worlds"] = {e: {k: block[e][k] for k in ("bias", "sd", "rmse")} for e in ope.ESTIMATORS}
            result["coverage"] = {e: block[e]["coverage"] for e in ope.ESTIMATORS}
    # one number per world and estimator: the error averaged over the four policies (a shift shared by policies)
    world_error = {e: np.mean([result["by_policy"][p]["errors"][e] for p in POLICIES], axis=0) for e in ope.ESTIMATORS}
    result["mean_error_over_policies"] = {e: {"mean": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(len(v)))}
                                          for e, v in world_error.items()}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "bench_ope.json"))
    args = parser.parse_args(argv)
    threadpool_limits(1)
    load_before, start = load_average(), time.perf_counter()
    result = {"benchmark": "off-policy evaluation against the simulator's truth",
              "command": f"python benchmarks/bench_ope.py --worlds {args.worlds} --first-seed {args.first_seed}",
              "date": time.strftime("%Y-%m-%d"), "world": WORLD, "split_day": SPLIT_DAY, "k": K,
              "switch_threshold": THRESHOLD, "outcome_model": repr(OUTCOME_MODEL),
              "sklearn_threads": 1,
              "seeds": list(range(args.first_seed, args.first_seed + args.worlds)), "scenarios": {}}
    for scenario, params in SCENARIOS.items():
        runs = [one_world(seed, params) for seed in result["seeds"]]
        block = {"params": params, "policies": {
            name: {"true": run["true"], "true_incremental": run["true_incremental"],
                   **run["estimates"]["value"].to_dict()} for name, run in runs[0].items()}}  # the first world
        block.update(summarize(runs))
        result["scenarios"][scenario] = block
        print(f"{scenario}: " + ", ".join(f"{e} rmse {block['over_worlds'][e]['rmse']:.3f} cover "
                                          f"{block['coverage'][e]}" for e in ope.ESTIMATORS))
    result.update({k: result["scenarios"]["default"][k] for k in ("policies", "over_worlds", "coverage")})
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["machine"] = machine(load_average_1_5_15_before=load_before)
    write_json(args.json, result)
    print(f"wrote {args.json} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
