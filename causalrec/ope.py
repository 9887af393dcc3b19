r"""Off-policy evaluation: the value of a new recommendation policy estimated from the logs alone.

Each logged candidate pair :math:`j` (of user :math:`u_j`) was shown (:math:`a_j = 1`) or not with the
logging policy's probability :math:`\mu_j(a_j)`, and bought or not (:math:`y_j`). A new policy shows it
with probability :math:`\pi_j`; its value is the expected purchases per user, :math:`V = \frac{1}{U}
\sum_j E_{a \sim \pi_j}[y_j(a)]`. With the weight :math:`w_j = \pi_j(a_j) / \mu_j(a_j)` and an outcome
model :math:`\hat q_j(a)`, :math:`\hat q_j(\pi) = \pi_j \hat q_j(1) + (1 - \pi_j) \hat q_j(0)`:

- DM: :math:`\frac{1}{U}\sum_j \hat q_j(\pi)`;  IPS: :math:`\frac{1}{U}\sum_j w_j y_j`;
- SNIPS: :math:`\frac{\sum_j w_j y_j}{\sum_j w_j} \frac{n}{U}` (Swaminathan & Joachims, 2015);
- DR: :math:`\frac{1}{U}\sum_j [\hat q_j(\pi) + w_j (y_j - \hat q_j(a_j))]` (Dudik et al., 2011);
- switch (SWITCH-DR, Wang et al., 2017): DR's correction only where :math:`w_j \le \tau`, the model elsewhere.

Standard errors hold the world fixed (users, candidates, policy, model): only the log's coin flips vary, independently
per pair; each pair's term is centred on the model's guess of its mean (else on the terms' mean), conservative by the
model's squared error. DM has none given its model (se NaN): its error is the model's bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import schema
from ._checks import check_binary, check_finite_1d, check_ids
from .data.simulate import run_policy
from .propensity import check_propensity

__all__ = ["ESTIMATORS", "Estimate", "importance_weights", "estimate_value", "evaluate_policy", "shop_features",
           "fit_outcomes", "true_value"]

ESTIMATORS = ("dm", "ips", "snips", "dr", "switch")
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """An estimate of a policy's value (expected purchases per user) with its standard error."""

    estimator: str
    value: float
    se: float

    @property
    def ci(self) -> tuple[float, float]:
        """The normal 95% interval, ``value -/+ 1.96 se``."""
        return self.value - _Z95 * self.se, self.value + _Z95 * self.se


def importance_weights(shown, propensity, target) -> np.ndarray:
    """``w = target / p`` where shown, ``(1 - target) / (1 - p)`` where not (``p``: logged show probability).

    >>> importance_weights([1, 0], [0.5, 0.8], [1.0, 0.5])
    array([2. , 2.5])
    """
    a = check_binary(shown, "shown")
    p, pi = check_propensity(propensity), check_finite_1d(target, "target")
    if not len(a) == len(p) == len(pi):
        raise ValueError(f"shown, propensity and target must have one value per pair; got {len(a)}, {len(p)}, {len(pi)}")
    if ((pi < 0) | (pi > 1)).any():
        raise ValueError(f"target holds show probabilities outside [0, 1], e.g. {pi[(pi < 0) | (pi > 1)][0]}")
    if (hidden_sure := (a == 0) & (p == 1)).any():
        raise ValueError(f"propensity is 1 at {int(hidden_sure.sum())} pair(s) that were not shown")
    return np.where(a == 1, pi / p, (1.0 - pi) / np.where(a == 1, 1.0, 1.0 - p))


def estimate_value(estimator: str, users, shown, purchased, propensity, target, q_hidden=None, q_shown=None, *,
                   n_users: int | None = None, threshold: float = 20.0) -> Estimate:
    """One estimator (a name in :data:`ESTIMATORS`) of the value of ``target`` (show probabilities, one per
    logged pair) from the logged ``shown``, ``purchased`` and ``propensity``; ``q_hidden``, ``q_shown``: the
    outcome model's purchase probabilities without and with showing (for dm, dr, switch). ``n_users``:
    users in the world (default max ID + 1); ``threshold``: switch's :math:`\\tau`.

    >>> estimate_value("ips", [0, 0, 1], [1, 0, 1], [1, 0, 1], [0.5, 0.5, 0.5], [1, 1, 1]).value  # (2 + 0 + 2) / 2
    2.0
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    w = importance_weights(shown, propensity, target)
    a, y, pi = check_binary(shown, "shown"), check_binary(purchased, "purchased"), np.asarray(target, dtype=float)
    u = check_ids(users, "users", allow_empty=False)
    n_users = int(u.max()) + 1 if n_users is None else int(n_users)
    if len(u) != len(w) or len(y) != len(w) or n_users <= u.max():
        raise ValueError(f"users and purchased need one value per pair ({len(w)}) and IDs below n_users ({n_users})")
    if not (model := q_hidden is not None and q_shown is not None) and estimator in ("dm", "dr", "switch"):
        raise ValueError(f"{estimator} needs the outcome model's q_hidden and q_shown")
    if model:
        q0, q1 = check_finite_1d(q_hidden, "q_hidden"), check_finite_1d(q_shown, "q_shown")
        if len(q0) != len(w) or len(q1) != len(w):
            raise ValueError(f"q_hidden and q_shown need one value per pair ({len(w)})")
        q_pi, q_a = pi * q1 + (1 - pi) * q0, np.where(a == 1, q1, q0)
    per_pair = {"dm": lambda: q_pi, "ips": lambda: w * y, "dr": lambda: q_pi + w * (y - q_a),
                "snips": lambda: w * y - (w * y).sum() / w.sum() * (w - 1),  # linearised ratio: same sum
                "switch": lambda: q_pi + (w <= threshold) * w * (y - q_a)}
    terms = per_pair[estimator]()
    se = np.nan if estimator == "dm" else np.sqrt(((terms - (q_pi if model else terms.mean())) ** 2).sum()) / n_users
    return Estimate(estimator, float(terms.sum() / n_users), float(se))


def evaluate_policy(log: pd.DataFrame, target, propensity, q_hidden=None, q_shown=None, *, n_users: int,
                    estimators=ESTIMATORS, threshold: float = 20.0) -> pd.DataFrame:
    """Every estimator on a logged frame (``user_id``, ``exposed``, ``purchased``): value, se, 95% interval.

    >>> log = pd.DataFrame({"user_id": [0, 0, 1], "exposed": [1, 0, 1], "purchased": [1, 0, 1]})
    >>> evaluate_policy(log, [1, 1, 1], [0.5] * 3, n_users=2, estimators=("ips",))["value"].tolist()
    [2.0]
    """
    rows = []
    for name in estimators:
        e = estimate_value(name, log[schema.USER].to_numpy(), log[schema.EXPOSED].to_numpy(),
                           log[schema.PURCHASED].to_numpy(), propensity, target, q_hidden, q_shown,
                           n_users=n_users, threshold=threshold)
        rows.append({"estimator": name, "value": e.value, "se": e.se, "ci_low": e.ci[0], "ci_high": e.ci[1]})
    return pd.DataFrame(rows).set_index("estimator")


def shop_features(world) -> np.ndarray:
    """What the shop knows of each logged pair before showing it: policy score, log popularity and price,
    the user's group and price sensitivity (one row per row of ``world.interactions``)."""
    log, items, users = world.interactions, world.items, world.users
    i, u = log[schema.ITEM].to_numpy(), log[schema.USER].to_numpy()
    return np.column_stack([log[schema.POLICY_SCORE], np.log1p(items[schema.POPULARITY].to_numpy())[i],
                            np.log(items[schema.PRICE].to_numpy())[i], users[schema.GROUP].to_numpy()[u],
                            users[schema.PRICE_SENSITIVITY].to_numpy()[u]])


def fit_outcomes(features, shown, purchased, *, model=None) -> tuple[np.ndarray, np.ndarray]:
    """The direct method's outcome model: ``model`` (default a scaled logistic regression) fitted on the
    hidden and on the shown pairs apart; returns ``(q_hidden, q_shown)`` for every pair."""
    x, a, y = np.asarray(features, dtype=float), check_binary(shown, "shown"), check_binary(purchased, "purchased")
    if x.ndim != 2 or len(x) != len(a) or len(y) != len(a):
        raise ValueError(f"features must be 2-D with one row per pair ({len(a)}), got shape {x.shape}")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)) if model is None else model
    return tuple(clone(model).fit(x[a == arm], y[a == arm]).predict_proba(x)[:, 1] for arm in (0, 1))


def true_value(world, target, log=None) -> tuple[float, float]:
    """The simulator's truth (:func:`~causalrec.data.simulate.run_policy`) for showing each pair of ``log``
    (default ``world.interactions``) with probability ``target``: (expected purchases, expected purchases
    caused by showing), per user of the world."""
    log = world.interactions if log is None else log
    run = run_policy(world, log[[schema.USER, schema.ITEM]].assign(probability=np.asarray(target, dtype=float)))
    return (float(run["purchase_probability"].sum() / world.n_users),
            float((run["show_probability"] * run["effect"]).sum() / world.n_users))
