"""Checks for chapter 00, the preface: two readings to choose (one letter) and one number from the default world."""

from __future__ import annotations

from ... import schema
from .. import default_world, expect, one_letter, register


register("ch00-effect-reading", hint="the true effect compares, for the same pairs, buying when shown with buying "
         "when not shown, averaged over every pair the shop considered: a difference, not a ratio")(one_letter("b"))
register("ch00-what-logs-show", hint="a log records what happened under the choice the shop made; ask which "
         "statement needs to know what would have happened under the other choice")(one_letter("a"))


@expect("ch00-naive-gap", what="the difference", rtol=1e-3, low=-1, high=1,
        hint="average the purchase column over the logged pairs that were shown, do the same for those that "
             "were not, and subtract the second from the first")
def _naive_gap():
    rates = default_world().interactions.groupby(schema.EXPOSED)[schema.PURCHASED].mean()
    return float(rates.loc[1] - rates.loc[0])
