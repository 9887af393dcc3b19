"""Checks for chapter 00, the preface: two readings to choose (one letter) and one number from the default world."""

from __future__ import annotations

from ... import schema
from .. import default_world, expect, register


def _choice(name: str, correct: str, hint: str) -> None:
    def check(answer):  # one letter, case and spaces ignored
        letter = str(answer).strip().lower()
        if len(letter) != 1 or letter not in "abcd":
            return False, f"answer with one letter from a to d, got {answer!r}"
        return letter == correct, f"({letter}) is not the right reading"
    register(name, hint)(check)


_choice("ch00-effect-reading", "b", hint="the true effect compares, for the same pairs, buying when shown with "
        "buying when not shown, averaged over every pair the shop considered; it is a difference, not a ratio")
_choice("ch00-what-logs-show", "a", hint="a log records what happened under the choice the shop made; ask which "
        "statement needs to know what would have happened under the other choice")


@expect("ch00-naive-gap", what="the difference", rtol=1e-3, low=-1, high=1,
        hint="average the purchase column over the logged pairs that were shown, do the same for those that "
             "were not, and subtract the second from the first")
def _naive_gap():
    rates = default_world().interactions.groupby(schema.EXPOSED)[schema.PURCHASED].mean()
    return float(rates.loc[1] - rates.loc[0])
