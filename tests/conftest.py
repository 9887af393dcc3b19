"""Shared test configuration.

Hypothesis draws its examples from a fixed seed by default, so that the suite gives the same
result on every run (and CI cannot turn red by chance). To explore new examples, as a property
test is meant to, run ``HYPOTHESIS_PROFILE=explore python -m pytest tests/``; a failure found
that way is a real bug (the NUL-terminated string IDs in test_preprocessing.py were found so).
"""

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
