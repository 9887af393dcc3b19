"""Checks for chapter 08, "The effect of recommending": numpy (not DoWhy) on the default world, never shown."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import PolynomialFeatures

from ... import causal, schema
from .. import as_scalar, close_to, default_world, expect, one_letter, register

BAD_CONTROL = schema.CLICKED  # the extra "control" of the exercise


@functools.lru_cache(maxsize=1)
def _data():  # the analysis frame, its treatment (bool), outcome (float) and the chapter's logistic propensity
    frame = causal.analysis_frame(default_world())
    t, x = frame[schema.EXPOSED].to_numpy(), frame[["log_popularity", schema.POLICY_SCORE]].to_numpy(dtype=float)
    e = LogisticRegression().fit(x, t).predict_proba(x)[:, 1]
    return frame, t, frame[schema.PURCHASED].to_numpy(dtype=float), e


register("ch08-clipping-sign", hint="compute the expected bias with only the lower bound clipped and with only the "
         "upper one, and compare the purchase probability if shown of the pairs below 0.05 with the average")(
    one_letter("a"))


@register("ch08-att", hint="the shown rows' mean purchase minus a weighted mean of the hidden rows' purchases, "
          "weighted so that the hidden rows' mix of back-door values matches the shown rows' (Bayes' rule)")
def _att(answer):
    _, t, y, e = _data()
    truth, odds = default_world().truth, lambda p: (p / (1 - p))[~t]
    if abs(as_scalar(answer, "the estimate") - truth.effect[t].mean()) < 1e-6:
        return False, "that is the simulator's truth: estimate the ATT from the log"
    if abs(float(answer) - (y[t].mean() - np.average(y[~t], weights=odds(truth.propensity)))) < 1e-6:
        return False, "that uses the simulator's propensities: use the chapter's estimated ones"
    return close_to(float(answer), y[t].mean() - np.average(y[~t], weights=odds(e)), rtol=1e-3, what="the estimate")


@expect("ch08-bad-control", what="the estimate", rtol=1e-2, atol=1e-5,  # the estimate is about -8e-5: 0 must fail
        hint="add the click column to the two common causes and estimate with linear regression as before")
def _bad_control():
    frame, t, y, _ = _data()
    controls = frame[[schema.POLICY_SCORE, "log_popularity", BAD_CONTROL]].to_numpy(dtype=float)
    return float(np.linalg.lstsq(np.column_stack([np.ones(len(t)), t, controls]), y, rcond=None)[0][1])


@expect("ch08-forgotten-confounder", what="the estimate", rtol=1e-5,  # tight: a rounded copy of the value fails
        hint="delete the arrow from popularity to exposure in the simulator's graph, rebuild the model and "
             "estimate with regression adjustment")
def _forgotten_confounder():
    # policy_score is the only back-door variable left: OLS with a T x policy_score term, averaged over all rows
    frame, t, y, _ = _data()
    x = frame[schema.POLICY_SCORE].to_numpy(dtype=float)
    coef = np.linalg.lstsq(np.column_stack([np.ones_like(x), t, x, t * x]), y, rcond=None)[0]
    return float(coef[1] + coef[3] * x.mean())


@expect("ch08-double-robustness", what="the two AIPW estimates", rtol=1e-3,  # RA alone (0.1002) must fail
        hint="for each case, one nuisance model comes from the chapter and the other is refitted on the policy "
             "score alone; then average the AIPW terms")
def _double_robustness():
    frame, t, y, e = _data()
    s, x = frame[[schema.POLICY_SCORE]].to_numpy(dtype=float), frame[["log_popularity", schema.POLICY_SCORE]].to_numpy()

    def aipw(z, p):  # outcome models cubic in the columns z, one per arm; propensity p
        b = PolynomialFeatures(degree=3, include_bias=False).fit_transform(z)
        m1, m0 = (LinearRegression().fit(b[a], y[a]).predict(b) for a in (t, ~t))
        return float(np.mean(m1 - m0 + t * (y - m1) / p - (~t) * (y - m0) / (1 - p)))
    return [aipw(s, e), aipw(x, LogisticRegression().fit(s, t).predict_proba(s)[:, 1])]
