r"""Training rating models on ratings missing not at random: naive, IPS, SNIPS and doubly robust.

Users rate what they choose to rate. :class:`DebiasedRecommender` trains matrix factorization
(or NeuMF) so that its squared error is small over **all** pairs :math:`D`, not only over the
observed ones :math:`O`, by minimising one of the estimators of :mod:`causalrec.propensity`;
doubly robust training is joint learning (DR-JL, Wang et al., ICML 2019). The experiments of
chapters 09 and 11 live here too: :func:`logged_ratings` (the simulated shop's logged ratings
with their true propensities), :func:`split_by_user`, :func:`evaluation_estimator_study`,
:func:`evaluate_ratings`, :func:`validation_split` and :func:`select_by_validation`.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score, roc_auc_score
from sklearn.utils.validation import check_is_fitted

from . import schema
from ._checks import check_dataframe, check_fraction, check_ids, check_positive_int, check_random_state, seed_from
from .data.simulate import simulate_shop
from .models import MatrixFactorization, NeuMF
from .prep import check_ratings
from .propensity import (check_propensity, dr_estimate, inverse_propensity_weights, ips_estimate, naive_estimate,
                         snips_estimate)
from .train import fit_torch

__all__ = ["DebiasedRecommender", "METHODS", "logged_ratings", "split_by_user", "validation_split",
           "evaluation_estimator_study", "evaluate_ratings", "select_by_validation"]

#: Training objectives (see :class:`DebiasedRecommender`).
METHODS = ("naive", "ips", "snips", "dr")


def _check_ratings(ratings, name: str = "ratings") -> None:
    check_dataframe(ratings, name, [schema.RATING], ids=(schema.USER, schema.ITEM))
    check_ratings(ratings, allow_missing=False, name=name)


# =========================================================================== data helpers
def logged_ratings(world) -> pd.DataFrame:
    """The simulated shop's logged ratings with their true propensity over **all** pairs.

    ``truth.rating_propensity`` is the chance that a logged *candidate* got a rating; a pair is
    a candidate of user ``u`` with probability ``c_u / n_items``, so the chance that a pair of
    the whole ``n_users x n_items`` matrix carries a rating is their product. Returns a DataFrame
    ``user_id, item_id, rating, propensity``, one row per logged rating.

    >>> import causalrec as cr
    >>> ratings = logged_ratings(cr.simulate_shop(n_users=60, n_items=40, random_state=0))
    >>> ratings.columns.tolist(), bool(ratings["propensity"].between(0, 1).all())
    (['user_id', 'item_id', 'rating', 'propensity'], True)
    """
    log = world.interactions
    candidates = np.bincount(log[schema.USER].to_numpy(), minlength=world.n_users)
    rated = log[schema.RATING].notna().to_numpy()
    users = log[schema.USER].to_numpy()[rated]
    p = world.truth.rating_propensity[rated] * candidates[users] / world.n_items
    return pd.DataFrame({schema.USER: users, schema.ITEM: log[schema.ITEM].to_numpy()[rated],
                         schema.RATING: log[schema.RATING].to_numpy()[rated], "propensity": p})


def split_by_user(frame: pd.DataFrame, fraction: float, *, random_state=0):
    """The rows of a random ``fraction`` of the users, and the rest: ``(held_out, rest)``.

    >>> frame = pd.DataFrame({"user_id": [0, 0, 1, 2, 3], "rating": [1, 2, 3, 4, 5]})
    >>> held, rest = split_by_user(frame, 0.5, random_state=0)
    >>> len(set(held.user_id) & set(rest.user_id)), held.user_id.nunique()
    (0, 2)
    """
    check_dataframe(frame, "frame", [schema.USER])
    fraction = check_fraction(fraction, "fraction", inclusive=(False, False))
    users = np.unique(frame[schema.USER].to_numpy())
    n_held = int(round(fraction * len(users)))
    if not 1 <= n_held < len(users):
        raise ValueError(f"fraction={fraction} of {len(users)} users holds out {n_held}; both parts need a user")
    mask = frame[schema.USER].isin(check_random_state(random_state).choice(users, n_held, replace=False)).to_numpy()
    return frame[mask], frame[~mask]


def validation_split(ratings: pd.DataFrame, propensity, fraction: float = 0.2, *, random_state=0):
    """Hold out a random ``fraction`` of the logged ratings for validation.

    A logged pair stays in the fitting part with probability ``1 - fraction``, so its propensity
    there is ``p * (1 - fraction)``; a held-out rating keeps ``p`` (the SNIPS validation error
    does not depend on the scale). Returns ``(fit_ratings, fit_propensity, validation_ratings,
    validation_propensity)``.
    """
    p = check_propensity(propensity)
    fraction = check_fraction(fraction, "fraction", inclusive=(False, False))
    held = np.zeros(len(ratings), dtype=bool)
    held[check_random_state(random_state).choice(len(ratings), int(round(fraction * len(ratings))), replace=False)] = True
    return ratings[~held], p[~held] * (1 - fraction), ratings[held], p[held]


# =========================================================================== the estimator
def _param_groups(module, lr: float, weight_decay: float, constant: float | None):
    # the one-number parameter (MF's global bias, NeuMF's output bias) starts at the weighted mean
    # rating and is never shrunk toward 0; everything else gets the L2 penalty
    scalars = [p for p in module.parameters() if p.numel() == 1]
    if constant is not None:
        with torch.no_grad():
            for p in scalars:
                p.fill_(constant)
    return [{"params": [p for p in module.parameters() if p.numel() > 1], "lr": lr, "weight_decay": weight_decay},
            {"params": scalars, "lr": lr, "weight_decay": 0.0}]


def _loss(method: str, scale: float, robust: bool = True):
    """``loss_fn(module, batch)`` of each method; ``scale`` = |O| / |D| (IPS's sum over |D|)."""
    def naive(module, b):
        return ((module.model(b["user"], b["item"]) - b["rating"]) ** 2).mean()

    def ips(module, b):
        return scale * (b["weight"] * (module.model(b["user"], b["item"]) - b["rating"]) ** 2).mean()

    def snips(module, b):
        w = b["weight"]
        return (w * (module.model(b["user"], b["item"]) - b["rating"]) ** 2).sum() / w.sum()

    def dr(module, b):
        # a batch is a set of users with ALL their items, (B, n_items); weight 1/p where observed, else 0
        prediction = module.model.score_all(b["user"])
        error_hat = module.imputation.score_all(b["user"])             # imputed signed error r - r^
        pseudo = (prediction + error_hat).detach()                       # pseudo-rating, no gradient
        w, r = b["weight"], b["rating"]
        imputed_term = (prediction - pseudo) ** 2
        dr_loss = (imputed_term + w * ((prediction - r) ** 2 - imputed_term)).mean()
        v = w * (w - 1) if robust else w                                 # MRDR's (1 - p) / p^2, or 1/p
        return dr_loss + (v * (r - prediction.detach() - error_hat) ** 2).sum() / v.sum().clamp_min(1e-12)

    return {"naive": naive, "ips": ips, "snips": snips, "dr": dr}[method]


class DebiasedRecommender(BaseEstimator):
    r"""A rating model trained on self-selected ratings with a naive, IPS, SNIPS or DR loss.

    With :math:`e = (\hat r - r)^2`, :math:`w = 1/\max(p, \text{clip})` and a batch :math:`B`:

    * ``"naive"``: :math:`\frac{1}{B}\sum_B e`, the observed MSE (biased);
    * ``"ips"``: :math:`\frac{|O|}{|D|}\frac{1}{B}\sum_B w e`, unbiased for :math:`\frac{1}{|D|}\sum_O w e`;
    * ``"snips"``: :math:`\sum_B w e / \sum_B w`, self-normalised within the batch;
    * ``"dr"``: joint learning. An imputation model :math:`g` (matrix factorization with its own
      ``imputation_dim``, ``imputation_lr``, ``imputation_weight_decay``) fits the signed error
      :math:`r - \hat r` on observed pairs, weighted by :math:`w(w - 1) = (1-p)/p^2` (``robust``,
      the weights that minimise the DR estimate's variance, "more robust" DR) or by :math:`w`. With the pseudo-rating
      :math:`\tilde r = \text{stopgrad}(\hat r + g)` for every pair, the rating model minimises
      :math:`\frac{1}{|D|}\sum_D [(\hat r - \tilde r)^2 + o\,w\,(e - (\hat r - \tilde r)^2)]`,
      a batch being users with **all** their items (``batch_size`` counts users). Both models step
      together (one Adam, two groups).

    Every model has user, item and global biases; the global one starts at the (weighted)
    mean rating and is not shrunk. With ``validation`` in :meth:`fit`, training stops
    ``patience`` epochs after the best SNIPS-weighted validation MSE and keeps the best weights.
    Learned: ``model_``, ``imputation_model_`` (DR, else None), ``history_``, ``best_epoch_``,
    ``n_users_``, ``n_items_``.

    >>> import causalrec as cr
    >>> ratings = logged_ratings(cr.simulate_shop(n_users=100, n_items=50, random_state=0))
    >>> model = DebiasedRecommender(method="dr", epochs=3).fit(ratings, propensity=ratings["propensity"],
    ...                                                        n_users=100, n_items=50)
    >>> pred = model.predict([0, 1], [3, 4])
    >>> pred.shape, bool(((pred >= 1) & (pred <= 5)).all())
    ((2,), True)
    """

    def __init__(self, method: str = "naive", *, model: str = "mf", clip: float | None = 0.01, dim: int = 16,
                 epochs: int = 200, batch_size: int | None = None, lr: float = 0.01, weight_decay: float = 3e-3,
                 imputation_dim: int = 4, imputation_lr: float = 0.01, imputation_weight_decay: float = 0.1,
                 robust: bool = True, patience: int = 20, random_state=0, verbose: bool = False, n_threads: int | None = 1):
        self.method = method
        self.model = model
        self.clip = clip
        self.dim = dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.imputation_dim = imputation_dim
        self.imputation_lr = imputation_lr
        self.imputation_weight_decay = imputation_weight_decay
        self.robust = robust
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    def fit(self, ratings: pd.DataFrame, *, propensity=None, n_users: int | None = None,
            n_items: int | None = None, validation: pd.DataFrame | None = None, validation_propensity=None):
        """Train on observed ratings (``user_id, item_id, rating``, integer IDs from 0).

        ``propensity``: each rating's probability of being observed among all
        ``n_users * n_items`` pairs (every method but ``"naive"``). ``validation`` (held-out
        logged ratings) with ``validation_propensity``: stop at the best validation epoch.
        """
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.model not in ("mf", "neumf"):
            raise ValueError(f"model must be 'mf' or 'neumf', got {self.model!r}")
        _check_ratings(ratings)
        users, items = (ratings[c].to_numpy().astype(np.int64) for c in (schema.USER, schema.ITEM))
        n_users = int(users.max()) + 1 if n_users is None else check_positive_int(n_users, "n_users")
        n_items = int(items.max()) + 1 if n_items is None else check_positive_int(n_items, "n_items")
        for ids, n, name in ((users, n_users, "user_id"), (items, n_items, "item_id")):
            if ids.max() >= n:
                raise ValueError(f"column {name!r} holds IDs up to {int(ids.max())}, beyond n_{name[:-3]}s={n}")
        if len(np.unique(users * n_items + items)) < len(users):
            raise ValueError("ratings holds the same (user_id, item_id) pair more than once")
        if propensity is None and self.method != "naive":
            raise ValueError(f"method={self.method!r} needs propensity (one value per rating)")
        rating = ratings[schema.RATING].to_numpy(dtype=float)
        weight = (np.ones(len(rating)) if propensity is None
                  else inverse_propensity_weights(propensity, clip=self.clip, n=len(rating)))
        if self.method == "naive":
            weight = np.ones(len(rating))
        mean = float(np.sum(weight * rating) / np.sum(weight))
        validate = None if validation is None else self._validator(validation, validation_propensity)

        seed = seed_from(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            dim = check_positive_int(self.dim, "dim")
            network = (MatrixFactorization(n_users, n_items, dim=dim) if self.model == "mf"
                       else NeuMF(n_users, n_items, dim=dim, hidden=(2 * dim, dim)))
            imputation = (MatrixFactorization(n_users, n_items, dim=check_positive_int(self.imputation_dim, "imputation_dim"))
                          if self.method == "dr" else None)
        # the rating model and (DR) the imputation model of its errors: one module for fit_torch to save/restore
        module = torch.nn.ModuleDict({"model": network, "imputation": imputation})
        groups = _param_groups(network, self.lr, self.weight_decay, mean)
        if imputation is not None:
            groups += _param_groups(imputation, self.imputation_lr, self.imputation_weight_decay, 0.0)
        as_float = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
        if self.method == "dr":     # every pair of D as a users x items matrix; 0 where nothing was observed
            full_weight, full_rating = np.zeros((n_users, n_items)), np.zeros((n_users, n_items))
            full_weight[users, items], full_rating[users, items] = weight, rating
            data = {"user": torch.arange(n_users), "rating": as_float(full_rating), "weight": as_float(full_weight)}
        else:
            data = {"user": torch.from_numpy(users), "item": torch.from_numpy(items),
                    "rating": as_float(rating), "weight": as_float(weight)}
        self.history_ = fit_torch(module, _loss(self.method, len(rating) / (n_users * n_items), self.robust), data,
                                  epochs=self.epochs, batch_size=self.batch_size,
                                  optimizer=torch.optim.Adam(groups), random_state=seed, validate=validate,
                                  patience=None if validate is None else self.patience, verbose=self.verbose,
                                  n_threads=self.n_threads)
        self.best_epoch_ = (int(self.history_.loc[self.history_["validation"].idxmin(), "epoch"])
                            if validate is not None else len(self.history_))
        self.model_, self.imputation_model_ = network.eval(), imputation
        self.n_users_, self.n_items_ = n_users, n_items
        return self

    def _validator(self, validation, validation_propensity) -> Callable:
        _check_ratings(validation, "validation")
        u, i = (torch.as_tensor(validation[c].to_numpy().astype(np.int64)) for c in (schema.USER, schema.ITEM))
        r = torch.tensor(validation[schema.RATING].to_numpy(dtype=np.float64))
        if validation_propensity is None and self.method != "naive":
            raise ValueError(f"method={self.method!r} needs validation_propensity with validation")
        w = (torch.ones_like(r) if validation_propensity is None
             else torch.as_tensor(inverse_propensity_weights(validation_propensity, n=len(r))))

        def snips_mse(module):
            error = (module.model(u, i).clamp(schema.RATING_MIN, schema.RATING_MAX).double() - r) ** 2
            return float((w * error).sum() / w.sum())
        return snips_mse

    @torch.no_grad()
    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings of the pairs ``(users[k], items[k])``, clipped to the rating scale, shape (n,)."""
        check_is_fitted(self)
        u, i = check_ids(users, "users", self.n_users_, "user"), check_ids(items, "items", self.n_items_, "item")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length, got {len(u)} and {len(i)}")
        out = self.model_(torch.from_numpy(u), torch.from_numpy(i))
        return out.clamp(schema.RATING_MIN, schema.RATING_MAX).double().numpy()


# =========================================================================== experiments
def select_by_validation(estimator: DebiasedRecommender, grid: dict, ratings: pd.DataFrame, propensity, *,
                         n_users: int, n_items: int, fraction: float = 0.2, splits: int = 1, random_state=0):
    """Choose hyperparameters on a validation split of the **logged** ratings, never on test data.

    Every combination of ``grid`` (name -> values, e.g. ``{"weight_decay": [1e-3, 1e-2], "clip": [0.01, 0.05]}``)
    is fitted on ``1 - fraction`` of ``ratings`` and scored by its best SNIPS-weighted MSE on the
    rest (plain MSE for ``"naive"``), averaged over ``splits`` random splits. The winner is
    refitted on all ratings for its median best number of epochs. Returns ``(fitted estimator,
    DataFrame of every setting's score and best epoch)``.
    """
    rng = check_random_state(random_state)
    parts = [validation_split(ratings, propensity, fraction, random_state=rng) for _ in range(check_positive_int(splits, "splits"))]
    naive = estimator.method == "naive"
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    rows = []
    for params in combos:
        models = [clone(estimator).set_params(**params).fit(fit_r, propensity=None if naive else fit_p, n_users=n_users,
                  n_items=n_items, validation=val_r, validation_propensity=None if naive else val_p)
                  for fit_r, fit_p, val_r, val_p in parts]
        rows.append({**params, "validation": float(np.mean([m.history_["validation"].min() for m in models])),
                     "epochs": int(np.median([m.best_epoch_ for m in models]))})
    scores = pd.DataFrame(rows)
    best = int(scores["validation"].idxmin())
    final = clone(estimator).set_params(**combos[best], epochs=rows[best]["epochs"])
    return final.fit(ratings, propensity=None if naive else propensity, n_users=n_users, n_items=n_items), scores


def evaluate_ratings(model, test: pd.DataFrame, *, k: int = 5, relevant: float = 4) -> pd.Series:
    """MSE, MAE, NDCG@k and AUC of a fitted rating model on test ratings (e.g. a randomized set).

    NDCG@k ranks each user's test items by prediction, with ``rating >= relevant`` as relevant
    (binary gain; users without a relevant item are skipped); AUC pools all test pairs.
    """
    _check_ratings(test, "test")
    r = test[schema.RATING].to_numpy(dtype=float)
    prediction = model.predict(test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy())
    liked = (r >= relevant).astype(int)
    frame = pd.DataFrame({"user": test[schema.USER].to_numpy(), "liked": liked, "score": prediction})
    ndcg = [ndcg_score([g["liked"].to_numpy()], [g["score"].to_numpy()], k=check_positive_int(k, "k"))
            for _, g in frame.groupby("user") if g["liked"].any() and len(g) > 1]
    return pd.Series({"mse": mean_squared_error(r, prediction), "mae": mean_absolute_error(r, prediction),
                      f"ndcg@{k}": float(np.mean(ndcg)) if ndcg else float("nan"),
                      "auc": roc_auc_score(liked, prediction) if 0 < liked.sum() < len(liked) else float("nan")})


def evaluation_estimator_study(predictor: Callable, *, seeds=range(20), n_users: int = 300, n_items: int = 100,
                               clip: float | None = None) -> pd.DataFrame:
    """Estimate a fixed predictor's MSE from logged ratings in many re-simulated worlds.

    For each seed a fresh world is simulated; the predictor's squared error on its logged ratings
    is averaged by the naive, IPS, SNIPS and DR estimators (true propensities). DR imputes every
    pair's squared error as ``(prediction - m)**2 + v``, ``m`` and ``v`` the SNIPS mean and
    variance of a rating. The target is the MSE on that world's randomized slice. Returns a
    DataFrame, one row per seed (index ``seed``): ``naive, ips, snips, dr, randomized``.
    """
    if not callable(predictor):
        raise TypeError(f"predictor must be callable (world, users, items) -> ratings, got {type(predictor).__name__}")
    rows = []
    for seed in seeds:
        world = simulate_shop(n_users=n_users, n_items=n_items, random_state=int(seed))
        obs = logged_ratings(world)
        u, i, r, p = (obs[c].to_numpy() for c in (schema.USER, schema.ITEM, schema.RATING, "propensity"))
        error = (np.asarray(predictor(world, u, i), dtype=float) - r) ** 2
        mean = snips_estimate(r, p, clip=clip)
        var = snips_estimate((r - mean) ** 2, p, clip=clip)
        all_u, all_i = np.repeat(np.arange(world.n_users), world.n_items), np.tile(np.arange(world.n_items), world.n_users)
        imputed_all = ((np.asarray(predictor(world, all_u, all_i), dtype=float) - mean) ** 2 + var)
        imputed = imputed_all.reshape(world.n_users, world.n_items)[u, i]
        test = world.randomized
        target = np.mean((np.asarray(predictor(world, test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy()),
                                     dtype=float) - test[schema.RATING].to_numpy()) ** 2)
        n_total = world.n_users * world.n_items
        rows.append({"seed": int(seed), "naive": naive_estimate(error), "ips": ips_estimate(error, p, n_total, clip=clip),
                     "snips": snips_estimate(error, p, clip=clip),
                     "dr": dr_estimate(error, p, imputed, imputed_mean=float(imputed_all.mean()), n_total=n_total,
                                       clip=clip),
                     "randomized": float(target)})
    if not rows:
        raise ValueError("seeds is empty: give at least one seed")
    return pd.DataFrame(rows).set_index("seed")
