"""The example exercise of :mod:`causalrec.exercises`' docstring."""

from .. import expect


@expect("demo-sum", hint="add one and two", what="the sum")
def _demo_sum():
    return 3
