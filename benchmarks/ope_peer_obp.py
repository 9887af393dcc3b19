"""Our IPS, SNIPS, DR, DM and switch-DR against Open Bandit Pipeline's (obp) on the same logged data.

Each logged candidate pair is one obp round with two actions (0: not shown, 1: shown), pscore the
logging probability of the logged action, action_dist the target policy's (1 - pi, pi). obp averages
over rounds; ours sums over pairs per user, so ours = obp * n_pairs / n_users where the definitions match.
obp is not a project dependency: it is imported if it imports, else run with $OBP_PYTHON or
/tmp/obp-venv/bin/python; without either, the committed JSON is kept (`pip install obp` failed here building PyYAML 5.4.1 from source, so:
`pip install --no-deps obp`, then its dependencies, torch reused from the project venv).

    python benchmarks/ope_peer_obp.py [--seed 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

OBP = {"dm": "DirectMethod", "ips": "InverseProbabilityWeighting",
       "snips": "SelfNormalizedInverseProbabilityWeighting", "dr": "DoublyRobust", "switch": "SwitchDoublyRobust"}


def obp_estimates(path: str) -> dict:
    """obp's estimates for every policy in the arrays saved at ``path`` (runs where obp is installed)."""
    import obp
    from obp import ope as obp_ope

    data = np.load(path)
    action, reward, mu1 = data["action"].astype(int), data["reward"].astype(float), data["propensity"]
    pscore = np.where(action == 1, mu1, 1.0 - mu1)
    q = np.stack([data["q_hidden"], data["q_shown"]], axis=1)[:, :, None]
    out = {"obp_version": obp.__version__, "policies": {}}
    for name in data["names"]:
        pi = data[f"target_{name}"]
        dist = np.stack([1.0 - pi, pi], axis=1)[:, :, None]
        row = {}
        for est, cls in OBP.items():
            estimator = getattr(obp_ope, cls)(**({"tau": float(data["threshold"])} if est == "switch" else {}))
            row[est] = float(estimator.estimate_policy_value(
                reward=reward, action=action, pscore=pscore, action_dist=dist, position=None,
                estimated_rewards_by_reg_model=q))
        out["policies"][str(name)] = row
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "ope_peer_obp.json"))
    parser.add_argument("--obp-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.obp_worker:
        print(json.dumps(obp_estimates(args.obp_worker)))
        return 0
    from _machine import machine, write_json
    from bench_ope import SCENARIOS, THRESHOLD, logged_data

    from causalrec import ope, schema

    result = {"benchmark": "off-policy estimators against Open Bandit Pipeline",
              "command": f"python benchmarks/ope_peer_obp.py --seed {args.seed}", "scenarios": {},
              "install": "`pip install obp` (0.4.1 here) fails building its pinned PyYAML 5.4.1 from source (Cython 3: "
                         "'build_ext' object has no attribute 'cython_sources'); installed in /tmp/obp-venv with "
                         "`pip install --no-deps obp` plus its dependencies (current PyYAML, mypy_extensions), torch "
                         "from the project venv"}
    with tempfile.TemporaryDirectory() as tmp:
        for scenario, params in SCENARIOS.items():
            world, log, propensity, q_hidden, q_shown, targets = logged_data(args.seed, params)
            path = str(Path(tmp) / f"{scenario}.npz")
            np.savez(path, action=log[schema.EXPOSED].to_numpy(), reward=log[schema.PURCHASED].to_numpy(),
                     propensity=propensity, q_hidden=q_hidden, q_shown=q_shown, threshold=THRESHOLD,
                     names=np.array(list(targets)), **{f"target_{k}": v for k, v in targets.items()})
            try:
                peer = obp_estimates(path)
                how = "in-process"
            except ImportError:
                python = os.environ.get("OBP_PYTHON", "/tmp/obp-venv/bin/python")
                if not Path(python).exists():
                    result["obp"] = f"not installed: no obp in this Python and no {python}"
                    break
                done = subprocess.run([python, __file__, "--obp-worker", path], capture_output=True, text=True)
                if done.returncode:
                    result["obp"] = f"{python} failed: {done.stderr.strip().splitlines()[-1]}"
                    break
                peer, how = json.loads(done.stdout), python
            scale = len(log) / world.n_users  # obp's mean over rounds -> our per-user sum
            block = {"n_pairs": len(log), "n_users": world.n_users, "policies": {}}
            for name, target in targets.items():
                ours = ope.evaluate_policy(log, target, propensity, q_hidden, q_shown, n_users=world.n_users,
                                           threshold=THRESHOLD)["value"]
                block["policies"][name] = {est: {"ours": float(ours[est]), "obp_scaled": peer["policies"][name][est] * scale,
                                                 "abs_diff": abs(float(ours[est]) - peer["policies"][name][est] * scale)}
                                           for est in OBP}
            block["max_abs_diff"] = max(v["abs_diff"] for p in block["policies"].values() for v in p.values())
            result["scenarios"][scenario] = block
            result["obp"] = f"obp {peer['obp_version']} ({how})"
    if not result["scenarios"] and Path(args.json).exists():  # keep the committed comparison
        print(f"obp unavailable ({result['obp']}); kept {args.json}")
        return 0
    diffs = [b["max_abs_diff"] for b in result["scenarios"].values()]
    result["max_abs_diff"] = max(diffs) if diffs else None
    result["agree_to_1e-6"] = bool(diffs) and max(diffs) < 1e-6
    result["machine"] = machine()
    write_json(args.json, result)
    print(f"{result['obp']}: largest difference {result['max_abs_diff']}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
