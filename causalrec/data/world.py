"""One container for every data set in the book, simulated or real."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(repr=False)
class World:
    """Users, items and what was logged about them; the truth behind it when it is known. Every loader and
    simulator returns one, so code written for one data set runs on the others. ``users``/``items``: a row per
    ``user_id``/``item_id`` (0..n-1) plus features; ``interactions``: the logged rows (chosen by a policy or
    self-selected); ``randomized``: rows collected at random (the shop's randomized slice, Coat's test set) or
    None; ``images``: float32 (n_items, size, size) in [0, 1] or None; ``truth``: what only a simulator knows
    (None for real data); ``propensity``: one per logged row when the data ships them (Coat); ``source``: where
    it was read from or how simulated.
    >>> World(users=pd.DataFrame({"user_id": [0, 1]}), items=pd.DataFrame({"item_id": [0]}),
    ...       interactions=pd.DataFrame({"user_id": [1], "item_id": [0]}), name="tiny")
    World('tiny', n_users=2, n_items=1, logged=1, randomized=0)
    """
    users: pd.DataFrame
    items: pd.DataFrame
    interactions: pd.DataFrame
    randomized: pd.DataFrame | None = None
    images: np.ndarray | None = None
    truth: object = None
    propensity: np.ndarray | None = None
    name: str = "world"
    source: str = ""
    config: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        randomized = 0 if self.randomized is None else len(self.randomized)
        ate = getattr(self.truth, "ate", None)
        truth = "" if ate is None else f", true ATE={ate:.4f}"
        return (f"World({self.name!r}, n_users={self.n_users}, n_items={self.n_items}, "
                f"logged={len(self.interactions)}, randomized={randomized}{truth})")
