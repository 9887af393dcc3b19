"""The example exercise used in :mod:`causalrec.exercises`' docstring."""

from .. import register


@register("demo-sum", hint="add one and two")
def _demo_sum(answer):
    if answer == 3:
        return True, ""
    return False, f"the value {answer!r} is off; expected something else"
