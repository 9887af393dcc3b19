"""Checks for chapter 08, "The effect of recommending": numpy (not DoWhy) on the default world, never shown."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.linear_model import LogisticRegression

from ... import causal, schema
from .. import as_scalar, close_to, default_world, expect, register

BAD_CONTROL = schema.CLICKED  # the extra "control" of the exercise


@functools.lru_cache(maxsize=1)
def _data():  # the analysis frame, its treatment (bool), outcome (float) and the chapter's logistic propensity
    frame = causal.analysis_frame(default_world())
    t, x = frame[schema.EXPOSED].to_numpy(), frame[["log_popularity", schema.POLICY_SCORE]].to_numpy(dtype=float)
    e = LogisticRegression().fit(x, t).predict_proba(x)[:, 1]
    return frame, t, frame[schema.PURCHASED].to_numpy(dtype=float), e


def _hajek(p, t, y):
    return float(np.average(y, weights=t / p) - np.average(y, weights=(~t) / (1 - p)))


@register("ch08-ipw-true-propensity", hint="clip the true propensities to [0.05, 0.95] first, then compare the two "
          "groups' purchase rates weighted by one over the chance of the group each row is in")
def _clipped_true(answer):
    (_, t, y, _), p = _data(), default_world().truth.propensity
    if abs(as_scalar(answer, "the estimate") - _hajek(p, t, y)) < 1e-6:
        return False, "that is the unclipped estimate: clip the propensities to [0.05, 0.95] first"
    return close_to(float(answer), _hajek(np.clip(p, 0.05, 0.95), t, y), rtol=1e-3, what="the estimate")


@register("ch08-att", hint="the shown rows' mean purchase minus a weighted mean of the hidden rows' purchases, "
          "weighted so that the hidden rows' mix of back-door values matches the shown rows' (Bayes' rule)")
def _att(answer):
    _, t, y, e = _data()
    if abs(as_scalar(answer, "the estimate") - default_world().truth.effect[t].mean()) < 1e-6:
        return False, "that is the simulator's truth: estimate the ATT from the log"
    return close_to(float(answer), y[t].mean() - np.average(y[~t], weights=(e / (1 - e))[~t]), rtol=1e-3,
                    what="the estimate")


@expect("ch08-bad-control", what="the estimate", rtol=1e-2, atol=1e-5,  # the estimate is about -8e-5: 0 must fail
        hint="add the click column to the two common causes and estimate with linear regression as before")
def _bad_control():
    frame, t, y, _ = _data()
    controls = frame[[schema.POLICY_SCORE, "log_popularity", BAD_CONTROL]].to_numpy(dtype=float)
    return float(np.linalg.lstsq(np.column_stack([np.ones(len(t)), t, controls]), y, rcond=None)[0][1])


@expect("ch08-forgotten-confounder", what="the estimate",
        hint="delete the arrow from popularity to exposure in the simulator's graph, rebuild the model and "
             "estimate with regression adjustment")
def _forgotten_confounder():
    # policy_score is the only back-door variable left: OLS with a T x policy_score term, averaged over all rows
    frame, t, y, _ = _data()
    x = frame[schema.POLICY_SCORE].to_numpy(dtype=float)
    coef = np.linalg.lstsq(np.column_stack([np.ones_like(x), t, x, t * x]), y, rcond=None)[0]
    return float(coef[1] + coef[3] * x.mean())


@expect("ch08-aipw-wrong-outcome", what="the AIPW estimate", low=0, high=1,
        hint="keep the logistic propensity of the chapter; let each arm's outcome model predict that arm's mean "
             "purchase rate for every pair, then average the AIPW terms")
def _aipw_wrong_outcome():
    # rtol 1e-3: the truth (0.1009), IPW (0.1016) and Hajek (0.1027) all differ from the answer (0.1033) by more
    _, t, y, e = _data()
    m1, m0 = y[t].mean(), y[~t].mean()
    return float(np.mean(m1 - m0 + t * (y - m1) / e - (~t) * (y - m0) / (1 - e)))
