"""Checks for chapter 08, "The effect of recommending": numpy (not DoWhy) on the default world, never shown."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.linear_model import LogisticRegression

from ... import causal, schema
from .. import default_world, expect

BAD_CONTROL = schema.CLICKED  # the extra "control" of the exercise


@functools.lru_cache(maxsize=1)
def _frame():
    return causal.analysis_frame(default_world())


def _ols(design, y):
    return np.linalg.lstsq(design, y, rcond=None)[0]


@expect("ch08-ipw-true-propensity", what="the weighted difference",
        hint="weight shown rows by one over their propensity and hidden rows by one over one minus it, then "
             "compare the two groups' weighted mean purchase rates")
def _hajek_ipw():
    frame, p = _frame(), default_world().truth.propensity
    t, y = frame[schema.EXPOSED].to_numpy(), frame[schema.PURCHASED].to_numpy(dtype=float)
    w1, w0 = t / p, (~t) / (1 - p)
    return float((w1 * y).sum() / w1.sum() - (w0 * y).sum() / w0.sum())


@expect("ch08-att", what="the effect on the shown pairs",
        hint="the simulator knows each row's own effect: average it over the rows that were shown")
def _att():
    return float(default_world().truth.effect[_frame()[schema.EXPOSED].to_numpy()].mean())


@expect("ch08-bad-control", what="the estimate", rtol=1e-2, atol=1e-5,  # the estimate is about -8e-5: 0 must fail
        hint="add the click column to the two common causes and estimate with linear regression as before")
def _bad_control():
    frame = _frame()
    design = np.column_stack([np.ones(len(frame)), frame[schema.EXPOSED].to_numpy(dtype=float),
                              frame[[schema.POLICY_SCORE, "log_popularity", BAD_CONTROL]].to_numpy(dtype=float)])
    return float(_ols(design, frame[schema.PURCHASED].to_numpy(dtype=float))[1])


@expect("ch08-forgotten-confounder", what="the estimate",
        hint="delete the arrow from popularity to exposure in the simulator's graph, rebuild the model and "
             "estimate with regression adjustment")
def _forgotten_confounder():
    # without log_popularity -> exposed, policy_score is the only back-door variable; regression
    # adjustment is OLS with a treatment x policy_score term, averaged over all rows
    frame = _frame()
    t, x = frame[schema.EXPOSED].to_numpy(dtype=float), frame[schema.POLICY_SCORE].to_numpy(dtype=float)

    def design(treatment):
        return np.column_stack([np.ones_like(x), treatment, x, treatment * x])

    coef = _ols(design(t), frame[schema.PURCHASED].to_numpy(dtype=float))
    return float(np.mean(design(np.ones_like(x)) @ coef - design(np.zeros_like(x)) @ coef))


@expect("ch08-aipw-wrong-outcome", what="the AIPW estimate", low=0, high=1,
        hint="keep the logistic propensity of the chapter; let each arm's outcome model predict that arm's mean "
             "purchase rate for every pair, then average the AIPW terms")
def _aipw_wrong_outcome():
    # rtol 1e-3: the truth (0.1009), IPW (0.1016) and Hajek (0.1027) all differ from the answer (0.1033) by more
    frame = _frame()
    x = frame[["log_popularity", schema.POLICY_SCORE]].to_numpy(dtype=float)
    t, y = frame[schema.EXPOSED].to_numpy(), frame[schema.PURCHASED].to_numpy(dtype=float)
    e = LogisticRegression().fit(x, t).predict_proba(x)[:, 1]
    m1, m0 = y[t].mean(), y[~t].mean()
    return float(np.mean(m1 - m0 + t * (y - m1) / e - (~t) * (y - m0) / (1 - e)))
