"""A simulated shop whose causal structure is known: a structural causal model (SCM).

Real logs never reveal the true effect of recommending an item; here :class:`Truth` keeps it.
The story, in order (symbols as in the data card, ``data/README.md``):

1. **Items**: category, attributes ``v_i``, latent quality ``q_i``, price, a popularity that
   rises with quality (its visible shadow: a *confounder*); a text and an image drawn from both.
2. **Users**: taste ``t_u``, activity, price sensitivity ``s_u``, group (0 or 1).
3. **Relevance** ``rho = sigmoid(a * t_u.v_i / sqrt(d) + b * q_i - s_u * log-price + c)``
   (click probability once examined; popularity does not enter it).
4. **Exposure**: random candidates per session with a logged ``policy_score`` (a noisy relevance
   logit), shown with probability ``sigmoid(alpha0 + alpha1 * score + alpha2 * popularity_z)``.
5. **Outcomes**: position ``k`` (rank by score among shown) is examined with probability
   ``k**-eta``; click ``rho``; purchase after a click ``kappa_group``; organic purchases
   (``omega * rho * (0.5 + popularity percentile)``) whether shown or not.
6. **Ratings** 1-5 follow relevance; the higher, the more often given (MNAR).
7. A **randomized slice**: uniform items shown with probability 1/2 at a random slot, all rated.

The effect of showing ``i`` to ``u``: ``tau = (1 - organic) * examine(position) * rho * kappa``;
:attr:`Truth.ate` averages it over logged pairs. Memory grows with pairs, not users x items.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .. import schema
from .._checks import check_dataframe, check_fraction, check_memory, check_positive_int, check_random_state
from .world import World

__all__ = ["World", "Truth", "simulate_shop", "run_policy", "DEFAULT_PARAMS", "CATEGORY_NAMES"]

CATEGORY_NAMES = ("outerwear", "shoes", "bags", "watches", "lamps", "kitchen")

_NOUNS = {"outerwear": ("rain jacket", "parka", "windbreaker"), "shoes": ("sneaker", "hiking boot", "loafer"),
          "bags": ("backpack", "tote", "messenger bag"), "watches": ("wristwatch", "sports watch", "pocket watch"),
          "lamps": ("desk lamp", "floor lamp", "reading light"), "kitchen": ("coffee mug", "teapot", "chef knife")}
# One pair of words per text-bearing attribute: (negative side, positive side).
_ADJECTIVES = (("classic", "modern"), ("light", "sturdy"), ("plain", "colorful"), ("casual", "formal"))

#: Structural parameters of the default world (documented in the data card).
DEFAULT_PARAMS = {
    "taste_weight": 0.8, "quality_weight": 0.5, "relevance_offset": -0.8,  # a, b, c in the relevance logit
    "policy_noise": 0.8,                          # sd of the production model's error on the relevance logit
    "alpha0": -0.4, "alpha1": 0.7, "alpha2": 0.7,  # exposure logit: intercept, policy_score, popularity_z
    "position_decay": 0.8,                        # eta in examine(k) = 1 / k**eta
    "kappa": (0.6, 0.3),                          # P(purchase | click) for groups 0 and 1
    "organic_rate": 0.25,                         # omega
    "rating_noise": 0.6,                          # sd of the noise on the 1-5 rating scale
    "rate_prob": (0.1, 0.15, 0.25, 0.4, 0.6),     # P(rate | clicked, rating = 1..5)
    "group1_share": 0.4, "session_size": 8,       # share of group 1; candidates per session
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Truth:
    """What the simulator knows and a real shop never could.

    ``dag``: the causal graph in DOT (DoWhy's ``graph``; ``relevance``, ``quality`` latent). Per row
    of ``world.interactions``: ``propensity`` (of exposure), ``effect`` (of exposure on purchase),
    ``relevance_logged``, ``rating_propensity``; per row of ``world.randomized``: ``relevance_randomized``,
    ``effect_randomized``. Their means ``ate``, ``ate_randomized``; ``cate_by_group``. The latent factors
    let :meth:`relevance_for` score any pair; ``params``: the structural parameters.
    """

    dag: str
    propensity: np.ndarray
    effect: np.ndarray
    relevance_logged: np.ndarray
    relevance_randomized: np.ndarray
    rating_propensity: np.ndarray
    effect_randomized: np.ndarray
    ate: float
    ate_randomized: float
    cate_by_group: pd.Series
    user_taste: np.ndarray
    item_attributes: np.ndarray
    item_quality: np.ndarray
    price_sensitivity: np.ndarray
    log_price_centered: np.ndarray
    params: dict = field(default_factory=dict)

    #: Largest users x items matrix :attr:`relevance` will build (float64, 40 MB).
    DENSE_LIMIT = 5_000_000

    def relevance_for(self, users, items) -> np.ndarray:
        """True relevance (in (0, 1)) of the pairs ``(users[k], items[k])``, integer IDs of shape (n,)."""
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        if users.shape != items.shape:
            raise ValueError(f"users and items must have the same shape, got {users.shape} and {items.shape}")
        for what, ids, n in (("user", users, len(self.user_taste)), ("item", items, len(self.item_attributes))):
            if ids.size and (ids.min() < 0 or ids.max() >= n):
                raise ValueError(f"{what} IDs must lie in [0, {n}), got range [{ids.min()}, {ids.max()}]")
        return _relevance(self.user_taste[users], self.item_attributes[items], self.item_quality[items],
                          self.price_sensitivity[users], self.log_price_centered[items], self.params)

    @property
    def relevance(self) -> np.ndarray:
        """Dense true relevance, shape (n_users, n_items); refused above :attr:`DENSE_LIMIT` pairs."""
        n_users, n_items = len(self.user_taste), len(self.item_attributes)
        if n_users * n_items > self.DENSE_LIMIT:
            raise ValueError(f"a dense relevance matrix of {n_users} x {n_items} exceeds {self.DENSE_LIMIT:,} "
                             "entries; use truth.relevance_for(users, items) for the pairs you need")
        users, items = np.divmod(np.arange(n_users * n_items), n_items)
        return self.relevance_for(users, items).reshape(n_users, n_items)


def _relevance(taste, attributes, quality, sensitivity, log_price_c, params):
    logit = (params["taste_weight"] * np.einsum("nd,nd->n", taste, attributes) / np.sqrt(taste.shape[1])
             + params["quality_weight"] * quality - sensitivity * log_price_c + params["relevance_offset"])
    return _sigmoid(logit)


def _causal_graph() -> str:
    edges = [("quality", "popularity"), ("quality", "relevance"), ("price", "relevance"),
             ("price_sensitivity", "relevance"), ("relevance", "policy_score"), ("policy_score", "exposed"),
             ("popularity", "exposed"), ("exposed", "position"), ("policy_score", "position"), ("exposed", "clicked"),
             ("position", "clicked"), ("relevance", "clicked"), ("clicked", "purchased"), ("group", "purchased"),
             ("relevance", "purchased"), ("popularity", "purchased"), ("relevance", "rating"), ("clicked", "rating")]
    return "digraph { " + "; ".join(f"{a} -> {b}" for a, b in edges) + "; }"


def _sample_pairs(rng, counts, n_items, exclude_keys=None):
    """For user u, up to counts[u] distinct random items: draws with replacement (with slack), drops
    repeats and excluded pairs, keeps the first ``counts[u]``; returns (users, items) sorted by user."""
    counts = np.minimum(counts, n_items)
    slack = np.ceil(counts * 1.5 + 5).astype(np.int64)
    users = np.repeat(np.arange(len(counts)), slack)
    items = rng.integers(0, n_items, size=len(users))
    keys = users * n_items + items
    _, first = np.unique(keys, return_index=True)
    keep = np.zeros(len(keys), dtype=bool)
    keep[first] = True
    if exclude_keys is not None:
        keep &= ~np.isin(keys, exclude_keys)
    users, items = users[keep], items[keep]  # still in draw order, grouped by user
    rank = np.arange(len(users)) - np.searchsorted(users, users, side="left")
    take = rank < counts[users]
    return users[take], items[take]


def _describe_items(rng, category, attributes, price_z, nouns_choice):
    texts = []
    n_text_attrs = len(_ADJECTIVES)
    # The text carries attributes 4..7 (the image carries 0..3) plus category and price.
    p_positive = _sigmoid(2.5 * attributes[:, 4:4 + n_text_attrs])
    positive = rng.random(p_positive.shape) < p_positive
    shown = rng.random(p_positive.shape) < 0.8
    for i in range(len(category)):
        cat = CATEGORY_NAMES[category[i]]
        words = [pair[int(pos)] for pair, pos, s in zip(_ADJECTIVES, positive[i], shown[i]) if s]
        noun = _NOUNS[cat][nouns_choice[i]]
        tier = "premium " if price_z[i] > 0.8 else ("budget " if price_z[i] < -0.8 else "")
        lead, tail = " ".join(words[:2]), " and ".join(words[2:])
        text = f"{tier}{lead} {noun}".strip().replace("  ", " ")
        if tail:
            text += f", {tail}"
        texts.append(f"{text} ({cat})")
    return texts


def _draw_images(rng, category, attributes, size):
    """Grayscale images: a category-specific pattern plus attribute-driven quadrant shading."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    patterns = np.stack([
        (np.sin(2 * np.pi * 3 * yy) > 0).astype(float),                # horizontal stripes
        (np.sin(2 * np.pi * 3 * xx) > 0).astype(float),                # vertical stripes
        (np.sin(2 * np.pi * 3 * (xx + yy) / 1.4) > 0).astype(float),   # diagonal stripes
        (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.12).astype(float),    # disc
        ((np.abs(xx - 0.5) < 0.12) | (np.abs(yy - 0.5) < 0.12)).astype(float),  # cross
        ((np.abs(xx - 0.5) > 0.3) | (np.abs(yy - 0.5) > 0.3)).astype(float),    # frame
    ])[:len(CATEGORY_NAMES)]
    top = np.arange(size) < size // 2  # quadrants: top-left, top-right, bottom-left, bottom-right
    quadrants = np.stack([np.outer(a, b) for a in (top, ~top) for b in (top, ~top)]).astype(float)
    shade = _sigmoid(1.5 * attributes[:, :4])                           # (n_items, 4)
    images = 0.55 * patterns[category] + 0.45 * np.einsum("nq,qhw->nhw", shade, quadrants)
    images += rng.normal(0.0, 0.08, size=images.shape)
    return np.clip(images, 0.0, 1.0).astype(np.float32)


def simulate_shop(n_users: int = 1000, n_items: int = 300, *, candidates_per_user: int = 60,
                  randomized_per_user: int = 10, n_days: int = 28, n_factors: int = 8, image_size: int = 16,
                  params: dict | None = None, random_state=0) -> World:
    """Simulate a shop's logs together with their causal truth.

    Parameters
    ----------
    n_users, n_items : int
        Size of the world (at least 2 users and 10 items). A size too big for this machine's
        memory is refused up front, with the memory it would need.
    candidates_per_user, randomized_per_user : int
        Mean logged candidates per user (scaled by activity); items per user in the randomized slice.
    n_days, n_factors, image_size : int
        Days of the log; latent dimension (>= 8: the image carries attributes 0-3, the text
        4-7); side of the square item images in pixels (>= 8).
    params : dict, optional
        Overrides for :data:`DEFAULT_PARAMS` (unknown keys are an error).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    World
        ``name="shop"``; ``truth`` a :class:`Truth`; ``config`` the arguments.

    Examples
    --------
    >>> world = simulate_shop(n_users=50, n_items=40, random_state=1)
    >>> world.interactions.columns.tolist()[:4]
    ['user_id', 'item_id', 'day', 'policy_score']
    >>> 0 < world.truth.ate < 1
    True
    """
    n_users = check_positive_int(n_users, "n_users", minimum=2)
    n_items = check_positive_int(n_items, "n_items", minimum=10)
    candidates_per_user = check_positive_int(candidates_per_user, "candidates_per_user")
    randomized_per_user = check_positive_int(randomized_per_user, "randomized_per_user", minimum=0)
    n_days, n_factors = check_positive_int(n_days, "n_days"), check_positive_int(n_factors, "n_factors", minimum=8)
    image_size = check_positive_int(image_size, "image_size", minimum=8)
    if unknown := sorted(set(params or {}) - set(DEFAULT_PARAMS)):
        raise ValueError(f"unknown simulation parameter(s) {unknown}; allowed: {sorted(DEFAULT_PARAMS)}")
    p = {**DEFAULT_PARAMS, **(params or {})}
    check_fraction(p["group1_share"], "params['group1_share']")
    # Peak memory, measured: ~200 bytes per candidate pair drawn, 24 per image pixel, the latent vectors
    draws = n_users * (1.5 * (candidates_per_user + randomized_per_user) + 10)
    check_memory(200 * draws + 24 * n_items * image_size**2 + 16 * n_factors * (n_users + n_items),
                 f"simulate_shop(n_users={n_users:,}, n_items={n_items:,})")
    config = dict(n_users=n_users, n_items=n_items, candidates_per_user=candidates_per_user,
                  randomized_per_user=randomized_per_user, n_days=n_days, n_factors=n_factors, image_size=image_size,
                  params=p, random_state=random_state if isinstance(random_state, (int, np.integer)) else None)
    rng, n_cat, d = check_random_state(random_state), len(CATEGORY_NAMES), n_factors

    # 1. Items -----------------------------------------------------------------
    centres = rng.normal(0.0, 1.0, size=(n_cat, d))
    category = rng.integers(0, n_cat, size=n_items)
    attributes = centres[category] + rng.normal(0.0, 0.6, size=(n_items, d))
    quality = rng.normal(0.0, 1.0, size=n_items)
    log_popularity = 3.0 + 0.8 * quality + rng.normal(0.0, 0.7, size=n_items)
    popularity = rng.poisson(np.exp(log_popularity)).astype(np.int64)
    base_log_price = np.linspace(np.log(15), np.log(120), n_cat)[rng.permutation(n_cat)]
    log_price = base_log_price[category] + 0.25 * quality + rng.normal(0.0, 0.3, size=n_items)
    price = np.round(np.exp(log_price), 2)
    log_price_c = np.log(price) - np.log(price).mean()
    price_z = (np.log(price) - np.log(price).mean()) / np.log(price).std()
    nouns_choice = rng.integers(0, 3, size=n_items)
    descriptions = _describe_items(rng, category, attributes, price_z, nouns_choice)
    images = _draw_images(rng, category, attributes, image_size)
    pop_log = np.log1p(popularity)
    pop_z = (pop_log - pop_log.mean()) / pop_log.std()
    pop_pct = (np.argsort(np.argsort(popularity, kind="stable"), kind="stable") + 0.5) / n_items

    # 2. Users -----------------------------------------------------------------
    favourite = rng.integers(0, n_cat, size=n_users)
    taste = centres[favourite] + rng.normal(0.0, 0.8, size=(n_users, d))
    activity = np.round(rng.lognormal(0.0, 0.5, size=n_users), 3)
    sensitivity = np.round(rng.uniform(0.0, 1.0, size=n_users), 3)
    group = (rng.random(n_users) < p["group1_share"]).astype(np.int64)

    # 3-4. Candidates, policy score, exposure ---------------------------------------
    counts = np.minimum(np.maximum(3, rng.poisson(candidates_per_user * activity / np.mean(activity))), n_items)
    u, i = _sample_pairs(rng, counts, n_items)
    rho = _relevance(taste[u], attributes[i], quality[i], sensitivity[u], log_price_c[i], p)
    logit = np.log(rho) - np.log1p(-rho)
    policy_score = np.round(logit + rng.normal(0.0, p["policy_noise"], size=len(u)), 4)
    propensity = _sigmoid(p["alpha0"] + p["alpha1"] * policy_score + p["alpha2"] * pop_z[i])
    exposed = (rng.random(len(u)) < propensity).astype(np.int64)

    # sessions of about session_size candidates; positions rank shown items by policy score
    session_of_user = (np.arange(len(u)) - np.searchsorted(u, u, side="left")) // p["session_size"]
    session_key = u * (int(session_of_user.max()) + 1) + session_of_user
    unique_sessions, session_index = np.unique(session_key, return_inverse=True)
    day = rng.integers(0, n_days, size=len(unique_sessions))[session_index]
    order = np.lexsort((-policy_score, session_key))
    shown_sorted = exposed[order]
    cum = np.cumsum(shown_sorted)
    start = np.searchsorted(session_key[order], session_key[order], side="left")
    before = cum - shown_sorted - np.where(start > 0, cum[start - 1], 0)
    position_if_shown = np.empty(len(u), dtype=np.int64)
    position_if_shown[order] = 1 + before
    examine_if_shown = position_if_shown.astype(float) ** -p["position_decay"]

    # 5. Outcomes ----------------------------------------------------------------------
    kappa = np.asarray(p["kappa"], dtype=float)[group[u]]
    organic = np.clip(p["organic_rate"] * rho * (0.5 + pop_pct[i]), 0.0, 1.0)
    effect = (1.0 - organic) * examine_if_shown * rho * kappa
    examined = exposed.astype(bool) & (rng.random(len(u)) < examine_if_shown)
    clicked = examined & (rng.random(len(u)) < rho)
    purchased = (clicked & (rng.random(len(u)) < kappa)) | (rng.random(len(u)) < organic)  # via a click, or organic

    # 6. Ratings (MNAR) ----------------------------------------------------------------
    rate_prob = np.asarray(p["rate_prob"], dtype=float)
    true_rating = _draw_ratings(rng, rho, p["rating_noise"])
    rated = clicked & (rng.random(len(u)) < rate_prob[true_rating - 1])
    rating_propensity = propensity * examine_if_shown * rho * rate_prob[true_rating - 1]

    interactions = pd.DataFrame({
        schema.USER: u, schema.ITEM: i, schema.DAY: day, schema.POLICY_SCORE: policy_score,
        schema.EXPOSED: exposed, schema.POSITION: np.where(exposed == 1, position_if_shown, 0),
        schema.CLICKED: clicked.astype(np.int64), schema.PURCHASED: purchased.astype(np.int64),
        schema.RATING: np.where(rated, true_rating, np.nan)})
    sort = np.lexsort((i, u, day))
    interactions = interactions.iloc[sort].reset_index(drop=True)

    # 7. Randomized slice ---------------------------------------------------------------
    r_counts = np.full(n_users, min(randomized_per_user, n_items), dtype=np.int64)
    ru, ri = _sample_pairs(rng, r_counts, n_items, exclude_keys=u * n_items + i)
    r_rho = _relevance(taste[ru], attributes[ri], quality[ri], sensitivity[ru], log_price_c[ri], p)
    r_exposed = (rng.random(len(ru)) < 0.5).astype(np.int64)
    r_position_if_shown = rng.integers(1, 6, size=len(ru))
    r_examine = r_position_if_shown.astype(float) ** -p["position_decay"]
    r_kappa = np.asarray(p["kappa"], dtype=float)[group[ru]]
    r_organic = np.clip(p["organic_rate"] * r_rho * (0.5 + pop_pct[ri]), 0.0, 1.0)
    r_effect = (1.0 - r_organic) * r_examine * r_rho * r_kappa
    r_clicked = r_exposed.astype(bool) & (rng.random(len(ru)) < r_examine) & (rng.random(len(ru)) < r_rho)
    r_purchased = (r_clicked & (rng.random(len(ru)) < r_kappa)) | (rng.random(len(ru)) < r_organic)
    r_rating = _draw_ratings(rng, r_rho, p["rating_noise"])
    r_day = rng.integers(0, n_days, size=len(ru))
    randomized = pd.DataFrame({
        schema.USER: ru, schema.ITEM: ri, schema.DAY: r_day, schema.EXPOSED: r_exposed,
        schema.POSITION: np.where(r_exposed == 1, r_position_if_shown, 0),
        schema.CLICKED: r_clicked.astype(np.int64), schema.PURCHASED: r_purchased.astype(np.int64),
        schema.RATING: r_rating.astype(float)})
    r_sort = np.lexsort((ri, ru, r_day))
    randomized = randomized.iloc[r_sort].reset_index(drop=True)

    users = pd.DataFrame({schema.USER: np.arange(n_users), schema.GROUP: group,
                          schema.ACTIVITY: activity, schema.PRICE_SENSITIVITY: sensitivity})
    items = pd.DataFrame({schema.ITEM: np.arange(n_items), schema.CATEGORY: np.asarray(CATEGORY_NAMES)[category],
                          schema.PRICE: price, schema.POPULARITY: popularity, schema.DESCRIPTION: descriptions})
    cate = pd.Series(effect[sort]).groupby(group[u][sort]).mean().rename("true_effect").rename_axis(schema.GROUP)
    truth = Truth(dag=_causal_graph(), propensity=propensity[sort], effect=effect[sort], relevance_logged=rho[sort],
                  relevance_randomized=r_rho[r_sort], rating_propensity=rating_propensity[sort],
                  effect_randomized=r_effect[r_sort], ate=float(effect.mean()),
                  ate_randomized=float(r_effect.mean()) if len(ru) else float("nan"), cate_by_group=cate,
                  user_taste=taste, item_attributes=attributes, item_quality=quality,
                  price_sensitivity=sensitivity, log_price_centered=log_price_c, params=p)
    return World(users=users, items=items, interactions=interactions, randomized=randomized, images=images,
                 truth=truth, name="shop", source="simulated: causalrec.simulate_shop", config=config)


def _draw_ratings(rng, rho, noise_sd):
    """Integer ratings 1-5 around 1 + 4 * rho."""
    raw = 1.0 + 4.0 * rho + rng.normal(0.0, noise_sd, size=len(rho))
    return np.clip(np.rint(raw), 1, 5).astype(np.int64)


def run_policy(world: World, policy=None, *, popularity=None, price=None, random_state=None) -> pd.DataFrame:
    """Run a ``policy`` through ``world``'s equations (steps 3-5; same users, items, latent factors): None
    (the logging policy on the logged candidates) or a DataFrame of ``user_id, item_id``, a show ``probability``
    (default 1) and/or ``position`` (default: the candidate's logged slot). ``popularity``, ``price``: do(...),
    one value per item. Per pair: ``relevance``, ``show_probability``, ``effect`` of showing,
    ``purchase_probability`` (organic + show_probability * effect); with ``random_state`` a fresh draw of
    ``shown`` and ``purchased``. A policy's value: its expected purchases summed per user.

    >>> world = simulate_shop(n_users=30, n_items=20, random_state=0)
    >>> bool(np.allclose(run_policy(world)["show_probability"], world.truth.propensity))
    True
    >>> top = pd.DataFrame({"user_id": [0, 0], "item_id": [3, 5], "position": [1, 2]})
    >>> run_policy(world, top, random_state=0).columns.tolist()[-3:]
    ['purchase_probability', 'shown', 'purchased']
    """
    truth, p, log, n_items = world.truth, world.truth.params, world.interactions, world.n_items
    pop, old_price = (world.items[c].to_numpy(dtype=np.float64) for c in (schema.POPULARITY, schema.PRICE))
    new_pop = pop if popularity is None else _item_values(popularity, n_items, "popularity", positive=False)
    new_price = old_price if price is None else _item_values(price, n_items, "price", positive=True)
    old_pct, ranked = (np.argsort(np.argsort(pop, kind="stable"), kind="stable") + 0.5) / n_items, np.sort(pop)
    pct = np.where(new_pop == pop, old_pct,  # a changed popularity: its percentile among the old ones (ties: middle)
                   (np.searchsorted(ranked, new_pop) + np.searchsorted(ranked, new_pop, "right")) / (2 * n_items))
    ids = (schema.USER, schema.ITEM)
    frame = log[list(ids)] if policy is None else check_dataframe(policy, "policy", ids)
    for column, low, high in ((schema.USER, 0, world.n_users - 1), (schema.ITEM, 0, n_items - 1),
                              ("probability", 0, 1), ("position", 1, np.inf)):
        values = frame[column].to_numpy(dtype=float) if column in frame else np.array([low])
        if (bad := ~((values >= low) & (values <= high)) | (values != np.round(values)) * (column != "probability")).any():
            raise ValueError(f"policy[{column!r}] must lie in [{low}, {high}]; {values[bad][:3].tolist()} do not")
    u, i = frame[schema.USER].to_numpy(), frame[schema.ITEM].to_numpy()
    kappa = np.asarray(p["kappa"], dtype=float)[world.users[schema.GROUP].to_numpy()[u]]
    rho_old = truth.relevance_for(u, i)
    rho = replace(truth, log_price_centered=truth.log_price_centered + np.log(new_price / old_price)).relevance_for(u, i)
    organic = np.clip(p["organic_rate"] * rho * (0.5 + pct[i]), 0.0, 1.0)
    if "position" in frame:
        examine = frame["position"].to_numpy(dtype=float) ** -p["position_decay"]
    else:  # the logged slot, recovered from the logged true effect
        keys = log[schema.USER].to_numpy() * n_items + log[schema.ITEM].to_numpy()
        row = np.argsort(keys)[np.minimum(np.searchsorted(keys, u * n_items + i, sorter=np.argsort(keys)), len(keys) - 1)]
        if (bad := keys[row] != u * n_items + i).any():
            raise ValueError(f"policy has {int(bad.sum())} pair(s) not among the logged candidates, e.g. "
                             f"{(int(u[bad][0]), int(i[bad][0]))}; give a 'position' to show them")
        organic_old = np.clip(p["organic_rate"] * rho_old * (0.5 + old_pct[i]), 0.0, 1.0)
        examine = truth.effect[row] / np.maximum((1.0 - organic_old) * rho_old * kappa, 1e-300)
    show = np.asarray(frame.get("probability", 1.0), dtype=float) * np.ones(len(u))
    if policy is None:  # the logging policy: sees the new popularity; its score moves with relevance
        score = log[schema.POLICY_SCORE].to_numpy() + np.log(rho / (1 - rho)) - np.log(rho_old / (1 - rho_old))
        z = ((np.log1p(new_pop) - np.log1p(pop).mean()) / np.log1p(pop).std())[i]
        show = _sigmoid(p["alpha0"] + p["alpha1"] * score + p["alpha2"] * z)
    effect = (1.0 - organic) * examine * rho * kappa
    out = pd.DataFrame({schema.USER: u, schema.ITEM: i, "relevance": rho, "show_probability": show,
                        "effect": effect, "purchase_probability": organic + show * effect})
    if random_state is not None:
        d = check_random_state(random_state).random((5, len(u)))  # show, examine, click, buy, organic
        out["shown"] = (d[0] < show).astype(np.int64)
        out["purchased"] = ((d[0] < show) & (d[1] < examine) & (d[2] < rho) & (d[3] < kappa) | (d[4] < organic)) * 1
    return out


def _item_values(values, n_items: int, name: str, *, positive: bool) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n_items,) or (~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))).any():
        raise ValueError(f"{name} must hold one finite {'positive' if positive else 'non-negative'} value per item "
                         f"(shape ({n_items},)); got shape {arr.shape}")
    return arr
