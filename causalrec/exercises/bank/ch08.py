"""Checks for chapter 08, "The effect of recommending" (book/08_effect_of_recommending.ipynb).

Every check recomputes its expected value from the default world (with numpy,
not DoWhy, so checking stays fast) and never reveals it. The definitions
below must match the exercise texts in the chapter.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import schema
from .. import close_to, default_world, register

# ex-08-bad-control: the extra "control" an analyst adds
BAD_CONTROL = schema.CLICKED


@functools.lru_cache(maxsize=1)
def _frame_and_truth():
    from ...causal import analysis_frame

    world = default_world()
    return analysis_frame(world), world.truth


def _hajek_ipw() -> float:
    frame, truth = _frame_and_truth()
    t = frame[schema.EXPOSED].to_numpy()
    y = frame[schema.PURCHASED].to_numpy(dtype=float)
    w1, w0 = t / truth.propensity, (~t) / (1 - truth.propensity)
    return float((w1 * y).sum() / w1.sum() - (w0 * y).sum() / w0.sum())


@register("ch08-ipw-true-propensity",
          hint="weight shown rows by 1/p and hidden rows by 1/(1-p), and take each arm's weighted mean")
def _hajek_ipw_check(answer):
    return close_to(float(answer), _hajek_ipw(), rtol=1e-3, what="the weighted difference")


def _att() -> float:
    frame, truth = _frame_and_truth()
    return float(truth.effect[frame[schema.EXPOSED].to_numpy()].mean())


@register("ch08-att", hint="average world.truth.effect over the rows that were exposed")
def _att_check(answer):
    return close_to(float(answer), _att(), rtol=1e-3, what="the effect on the shown pairs")


def _bad_control() -> float:
    frame, _ = _frame_and_truth()
    design = np.column_stack([np.ones(len(frame)), frame[schema.EXPOSED].to_numpy(dtype=float),
                              frame[[schema.POLICY_SCORE, "log_popularity", BAD_CONTROL]].to_numpy(dtype=float)])
    coef, *_ = np.linalg.lstsq(design, frame[schema.PURCHASED].to_numpy(dtype=float), rcond=None)
    return float(coef[1])


@register("ch08-bad-control",
          hint="build_model(frame, common_causes=[...three columns...]) and estimate with 'linear_regression'")
def _bad_control_check(answer):
    return close_to(float(answer), _bad_control(), rtol=1e-2, atol=2e-3, what="the estimate")


def _forgotten_confounder() -> float:
    # With the edge log_popularity -> exposed deleted, the only back-door variable
    # left is policy_score; regression adjustment is OLS with a treatment x
    # policy_score term, averaged over all rows.
    frame, _ = _frame_and_truth()
    t = frame[schema.EXPOSED].to_numpy(dtype=float)
    x = frame[schema.POLICY_SCORE].to_numpy(dtype=float)
    y = frame[schema.PURCHASED].to_numpy(dtype=float)

    def design(treatment):
        return np.column_stack([np.ones_like(x), treatment, x, treatment * x])

    coef, *_ = np.linalg.lstsq(design(t), y, rcond=None)
    return float(np.mean(design(np.ones_like(x)) @ coef - design(np.zeros_like(x)) @ coef))


@register("ch08-forgotten-confounder",
          hint="parse_graph the simulator's graph, remove_edge('log_popularity', 'exposed'), rebuild and estimate")
def _forgotten_confounder_check(answer):
    return close_to(float(answer), _forgotten_confounder(), rtol=1e-3, what="the estimate")
