"""Off-policy evaluation: the value of a new recommendation policy estimated from logs alone."""

from __future__ import annotations
