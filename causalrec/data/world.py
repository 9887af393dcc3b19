"""One container for every data set in the book, simulated or real."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["World"]


@dataclass(repr=False)
class World:
    """Users, items and what was logged about them; the truth behind it when it is known.

    The simulated shop (:func:`~causalrec.data.simulate.simulate_shop`), Coat,
    MovieLens and the Coat-shaped simulation all come back as a ``World``, so code
    written for one runs on the others.

    Attributes
    ----------
    users, items : pandas.DataFrame
        One row per user (``user_id`` 0..n_users-1) and per item (``item_id``), plus features.
    interactions : pandas.DataFrame
        The logged rows (self-selected or chosen by a policy): ``user_id, item_id`` and outcomes.
    randomized : pandas.DataFrame or None
        Rows collected at random (the shop's randomized slice, Coat's test set), if any.
    images : numpy.ndarray of float32, shape (n_items, size, size), or None
        One grayscale image per item, row ``i`` for ``item_id == i``.
    truth : object or None
        What only a simulator knows (:class:`~causalrec.data.simulate.Truth`,
        :class:`~causalrec.data.load.CoatTruth`); None for real data.
    propensity : numpy.ndarray or None
        A propensity shipped with the data for each row of ``interactions`` (Coat).
    name, source : str
        What the data is, and where it was read from (or how it was simulated).
    config : dict
        The arguments it was generated or loaded with.

    Examples
    --------
    >>> import pandas as pd
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
