"""Recommending by effect: estimate how much showing an item changes its purchase, rank by that."""

from __future__ import annotations
