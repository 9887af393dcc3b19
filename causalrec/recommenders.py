"""Recommender estimators (scikit-learn's contract): :class:`Recommender` (MF, NeuMF, multimodal) and the
baselines. On all, ``predict(users, items)`` scores pairs (higher is better), ``score_items(users)`` is
(len(users), n_items_), ``recommend(users, k)`` is :func:`causalrec.ranking.recommend`'s table. **One default
target: clicks** (:data:`DEFAULT_TARGET`): a click needs the item shown *and* liked, while purchases also follow
organic, popularity-driven buying, which dilutes the taste signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from . import schema
from ._checks import (check_binary, check_dataframe, check_fraction, check_ids,
                      check_numeric_column, check_positive_int, seed_from)
from .models import MatrixFactorization, MultimodalRecommender, NeuMF
from .prep import TextVectorizer, normalize_images
from .ranking import recommend, top_k
from .train import LOSSES, TrainingData, check_loss, select_head, train_model, validation_metrics

__all__ = ["DEFAULT_TARGET", "MODELS", "Recommender", "PopularityRecommender", "RandomRecommender",
           "ContentBasedRecommender", "ItemKNNRecommender"]

#: The outcome every recommender learns unless told otherwise.
DEFAULT_TARGET = schema.CLICKED
_FORMAT = "causalrec.Recommender"


class _Base(BaseEstimator):
    """What every recommender shares: pair scores from ``score_items``, and ``recommend``."""

    def _users(self, users, name="users") -> np.ndarray:
        check_is_fitted(self)
        return check_ids(users, name, self.n_users_, "user")

    def _pair_ids(self, users, items):
        users, items = self._users(users), check_ids(items, "items", self.n_items_, "item")
        if len(users) != len(items):
            raise ValueError(f"users and items must have the same length, got {len(users)} and {len(items)}")
        return users, items

    def predict(self, users, items) -> np.ndarray:
        """Scores of the pairs ``(users[j], items[j])``, shape (n,)."""
        users, items = self._pair_ids(users, items)
        distinct, row = np.unique(users, return_inverse=True)
        out = np.empty(len(users))
        for start in range(0, len(distinct), 1024):                # 1024 users' score rows at a time
            here = (row >= start) & (row < start + 1024)
            out[here] = self.score_items(distinct[start:start + 1024])[row[here] - start, items[here]]
        return out

    def score_pairs(self, users, items) -> np.ndarray:
        """The same as :meth:`predict`."""
        return self.predict(users, items)

    def recommend(self, users, k=10, exclude_seen=True, *, batch_size=1024, verbose=False) -> pd.DataFrame:
        """Top-``k`` items per user (``user_id, item_id, score, rank``), if asked without the pairs ``seen_``: the
        log's (:class:`Recommender`) or the positive ones (baselines)."""
        users = self._users(users)
        return recommend(self.score_items, users, self.n_items_, k, seen=self.seen_ if exclude_seen else None,
                         batch_size=batch_size, verbose=verbose)


def _pairs(users, items, n_items) -> pd.DataFrame:
    keys = np.unique(users * n_items + items)
    return pd.DataFrame({schema.USER: keys // n_items, schema.ITEM: keys % n_items})


MODELS = {"mf": MatrixFactorization, "neumf": NeuMF, "multimodal": MultimodalRecommender}


class Recommender(_Base):
    """MF, NeuMF or the multimodal network, trained on a log by :func:`train_model`. ``model``: "mf", "neumf"
    (hidden ``2 dim, dim, dim // 2``) or "multimodal" (purchase head for ``bce``/``mse``, interest head for
    ``bpr``/``softmax``); ``loss``: all but ``mse`` need 0/1; ``patience`` and ``validation_fraction`` (random
    rows) stop early; ``use_item_ids=False``: items by content alone. Learned: ``model_``, ``target_``,
    ``loss_``, ``head_``, ``history_``, ``best_epoch_``, ``n_users_``, ``n_items_``, ``seen_``,
    ``image_normalization_``. Scores are probabilities (``bce``), the target's scale (``mse``) or logits.
    Unknown IDs are refused (see :func:`causalrec.ranking.fold_in_users`).
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1, 2, 2], "item_id": [0, 1, 1, 2, 0, 2],
    ...                     "clicked": [1, 0, 1, 0, 0, 1]})
    >>> rec = Recommender("mf", dim=4, epochs=5, validation_fraction=0, verbose=False).fit(log)
    >>> rec.predict([0, 2], [0, 2]).shape, rec.recommend([0], k=1).columns.tolist()
    ((2,), ['user_id', 'item_id', 'score', 'rank'])
    """

    def __init__(self, model="mf", dim=32, loss="bce", epochs=20, batch_size=1024, lr=0.01,
                 weight_decay=1e-4, n_negatives=4, patience=3, validation_fraction=0.1,
                 use_item_ids=True, random_state=0, verbose=True, n_threads=1):
        self.model, self.dim, self.loss, self.epochs, self.batch_size = model, dim, loss, epochs, batch_size
        self.lr, self.weight_decay, self.n_negatives, self.patience = lr, weight_decay, n_negatives, patience
        self.validation_fraction, self.use_item_ids = validation_fraction, use_item_ids
        self.random_state, self.verbose, self.n_threads = random_state, verbose, n_threads

    def _check_params(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        check_loss(self.loss)
        check_fraction(self.validation_fraction, "validation_fraction", inclusive=(True, False))
        if not self.use_item_ids and self.model != "multimodal":
            raise ValueError(f"use_item_ids=False needs model='multimodal', got model={self.model!r}")

    def _content(self, items, images, text, seen):
        """The catalogue size and, for the multimodal model, standardized images and text vectors
        (image mean and sd, TF-IDF vocabulary: from the ``seen`` items only, so no cold item leaks in)."""
        n_seen = int(seen.max()) + 1
        given = [name for name, value in (("images", images), ("text", text)) if value is not None]
        if given and self.model != "multimodal":
            raise ValueError(f"{' and '.join(given)} can only be used by model='multimodal', not model={self.model!r}")
        sizes = {}
        if items is not None:
            check_dataframe(items, "items", [schema.ITEM])
            if not np.array_equal(items[schema.ITEM].to_numpy(), np.arange(len(items))):
                raise ValueError(f"items[{schema.ITEM!r}] must be 0, 1, ..., n_items - 1 in order (row i describes item i)")
            sizes["items"] = len(items)
            if text is None and schema.DESCRIPTION in items.columns:
                text = items[schema.DESCRIPTION]
        text = text.toarray() if sp.issparse(text) else text
        sizes.update({name: len(value) for name, value in (("images", images), ("text", text)) if value is not None})
        n_items = max(sizes.values()) if sizes else n_seen
        if len(set(sizes.values())) > 1 or n_seen > n_items:
            raise ValueError(f"the catalogue sizes disagree: {sizes}, interactions hold item IDs up to {n_seen - 1}")
        if self.model != "multimodal":
            return n_items, None, None, None
        stats = None
        if images is not None:
            _, mean, std = normalize_images(np.asarray(images)[seen])
            images, mean, std = normalize_images(images, mean=mean, std=std)
            stats = (float(mean), float(std))
        if text is not None:                                       # words -> TF-IDF, vectors as they are
            is_words = np.asarray(text).dtype.kind in "OUS"
            text = np.asarray(TextVectorizer(kind="tfidf").fit(np.asarray(text)[seen]).transform(text)
                              if is_words else text, dtype=np.float32)
        return n_items, images, text, stats

    def _head(self):
        return None if self.model != "multimodal" else ("purchase" if LOSSES[self.loss] == "pointwise" else "interest")

    def _build(self, n_users, n_items, images=None, text=None):
        if self.model == "mf":
            return MatrixFactorization(n_users, n_items, self.dim)
        if self.model == "neumf":
            return NeuMF(n_users, n_items, self.dim, hidden=(2 * self.dim, self.dim, max(1, self.dim // 2)))
        return MultimodalRecommender(n_users, n_items, images=images, text=text, dim=self.dim,
                                     use_item_ids=self.use_item_ids)

    def fit(self, interactions, *, target=DEFAULT_TARGET, sample_weight=None, items=None, images=None, text=None):
        """Train on a log with columns ``user_id``, ``item_id`` and ``target`` (0/1 except for ``mse``);
        ``sample_weight``: non-negative weights per row (e.g. inverse propensities); ``items``: the
        catalogue (``item_id`` 0 .. n - 1 in order; its ``description`` is the multimodal text
        unless ``text`` is given); ``images`` (n_items, H, W) in [0, 1] and ``text``: multimodal only."""
        self._check_params()
        check_dataframe(interactions, "interactions", [target], ids=(schema.USER, schema.ITEM))
        check_numeric_column(interactions, target, "interactions")
        if self.loss != "mse":
            check_binary(interactions[target], f"interactions[{target!r}] (loss={self.loss!r} needs 0/1)")
        data = TrainingData.from_arrays(interactions[schema.USER].to_numpy(), interactions[schema.ITEM].to_numpy(),
                                        interactions[target].to_numpy(dtype=np.float64), sample_weight)
        n_items, images, text, stats = self._content(items, images, text, np.unique(data.items))
        n_users = int(data.users.max()) + 1
        seed = seed_from(self.random_state)
        n_val = int(round(self.validation_fraction * len(data)))
        if self.validation_fraction > 0 and not 1 <= n_val < len(data):
            raise ValueError(f"validation_fraction={self.validation_fraction} of {len(data)} rows leaves "
                             f"{n_val} validation rows and {len(data) - n_val} training rows; both need one")
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(data)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._build(n_users, n_items, images, text)
        result = train_model(model, data.subset(order[n_val:]), validation=data.subset(order[:n_val]) if n_val else None,
                             loss=self.loss, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             weight_decay=self.weight_decay, n_negatives=self.n_negatives, patience=self.patience,
                             random_state=seed, verbose=self.verbose, n_threads=self.n_threads)
        self.target_, self.head_ = target, self._head()
        self.model_, self.loss_, self.history_, self.best_epoch_ = model, self.loss, result.history, result.best_epoch
        self.n_users_, self.n_items_, self.image_normalization_ = n_users, n_items, stats
        self.seen_ = _pairs(data.users.numpy(), data.items.numpy(), n_items)
        return self

    def _rows(self, interactions, target) -> TrainingData:
        check_is_fitted(self)
        target = self.target_ if target is None else target
        check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM, target])
        check_numeric_column(interactions, target, "interactions")
        users = self._users(interactions[schema.USER], f"interactions[{schema.USER!r}]")
        items = check_ids(interactions[schema.ITEM], f"interactions[{schema.ITEM!r}]", self.n_items_, "item")
        return TrainingData.from_arrays(users, items, interactions[target].to_numpy(float))

    def partial_fit(self, interactions, *, target=None, epochs=1, lr=None, random_state=0):
        """Warm-start on new rows only: ``epochs`` passes of a fresh Adam (``lr`` default: the fit's)
        on the fit's loss and ``target_``; the rows' pairs join ``seen_``. Unknown IDs are refused."""
        data = self._rows(interactions, target)
        train_model(self.model_, data, loss=self.loss_, head=self.head_, epochs=epochs, batch_size=self.batch_size,
                    lr=self.lr if lr is None else lr, weight_decay=self.weight_decay, n_negatives=self.n_negatives,
                    patience=None, random_state=random_state, verbose=False, n_threads=self.n_threads)
        self.seen_ = _pairs(np.r_[self.seen_[schema.USER], data.users.numpy()],
                            np.r_[self.seen_[schema.ITEM], data.items.numpy()], self.n_items_)
        return self

    def loss_on(self, interactions, *, target=None, random_state=0) -> float:
        """The fit's loss on ``interactions`` (eval mode); ranking losses compare each positive
        with ``n_negatives`` uniform items drawn from ``random_state``, so calls are comparable."""
        data, negatives = self._rows(interactions, target), None
        if LOSSES[self.loss_] != "pointwise":
            data = data.subset(data.target == 1)
            negatives = torch.randint(self.n_items_, (len(data), self.n_negatives),
                                      generator=torch.Generator().manual_seed(seed_from(random_state)))
        return validation_metrics(self.model_.eval(), data, self.loss_, self.head_, negatives)["val_loss"]

    @torch.no_grad()
    def predict(self, users, items) -> np.ndarray:
        u, i = map(torch.from_numpy, self._pair_ids(users, items))
        out = [select_head(self.model_.eval()(u[s:s + 65536], i[s:s + 65536]), self.head_)
               for s in range(0, len(u), 65536)]
        return self._transform(torch.cat(out)) if out else np.empty(0)

    def _transform(self, scores: torch.Tensor) -> np.ndarray:
        return (torch.sigmoid(scores) if self.loss_ == "bce" else scores).double().numpy()

    predict.__doc__ = _Base.predict.__doc__

    @torch.no_grad()
    def score_items(self, users) -> np.ndarray:
        """Scores of every item for each user, shape (len(users), n_items_), as :meth:`predict` gives them."""
        users, model = torch.from_numpy(self._users(users)), self.model_.eval()
        return self._transform(model.score_all(users) if self.head_ is None else model.score_all(users, head=self.head_))

    def save(self, path) -> None:
        """Write the fitted estimator (hyperparameters, weights, content, history) for :meth:`load`."""
        check_is_fitted(self)
        params = self.get_params()
        params["random_state"] = params["random_state"] if isinstance(params["random_state"], (int, type(None))) else None
        torch.save({"format": _FORMAT, "version": 2, "params": params, "target": self.target_,
                    "sizes": [self.n_users_, self.n_items_], "state_dict": self.model_.state_dict(),
                    "history": {c: self.history_[c].tolist() for c in self.history_.columns},
                    "epochs_run": self.history_.index.tolist(), "best_epoch": self.best_epoch_,
                    "image_normalization": list(self.image_normalization_ or []),
                    "seen": torch.from_numpy(self.seen_.to_numpy().T.copy())}, path)

    @classmethod
    def load(cls, path) -> Recommender:
        """Read a file written by :meth:`save` (``weights_only=True``); a new, fitted estimator."""
        source = f"the file {str(path)!r}"
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as err:  # an unpickling error, a non-torch file, a pickled object
            raise ValueError(f"could not read {source} with torch.load(weights_only=True): {err}") from None
        if not isinstance(content, dict) or content.get("format") != _FORMAT:
            raise ValueError(f"{source} is not a saved Recommender (for a bare model use torch.load and load_state_dict)")
        out, state = cls(**content["params"]), content["state_dict"]
        out._check_params()
        model = out._build(*content["sizes"], state.get("item_images"), state.get("item_text"))
        try:
            model.load_state_dict(state)
        except RuntimeError as err:  # parameters missing, extra or of another shape
            raise ValueError(f"{source} does not fit this {type(model).__name__}: {err}") from None
        out.model_ = model.eval()
        out.loss_, out.target_, (out.n_users_, out.n_items_) = out.loss, content["target"], content["sizes"]
        out.head_, out.best_epoch_ = out._head(), int(content["best_epoch"])
        out.history_ = pd.DataFrame(content["history"], index=pd.Index(content["epochs_run"], name="epoch"))
        out.image_normalization_ = tuple(content["image_normalization"]) or None
        out.seen_ = pd.DataFrame(dict(zip((schema.USER, schema.ITEM), content["seen"].numpy())))
        return out


class _Baseline(_Base):
    """Fits the positive user-item matrix ``user_item_`` (a row is positive when ``positive >= positive_threshold``)."""

    def __init__(self, positive=DEFAULT_TARGET, positive_threshold=1.0):
        self.positive, self.positive_threshold = positive, positive_threshold

    def _fit_positives(self, interactions, n_users=None, n_items=None):
        check_dataframe(interactions, "interactions", [self.positive], ids=(schema.USER, schema.ITEM))
        check_numeric_column(interactions, self.positive, "interactions", allow_nan=True)
        check_fraction(self.positive_threshold, "positive_threshold", low=-np.inf, high=np.inf)
        users = check_ids(interactions[schema.USER].to_numpy(), f"interactions[{schema.USER!r}]")
        items = check_ids(interactions[schema.ITEM].to_numpy(), f"interactions[{schema.ITEM!r}]")
        sizes = []
        for given, ids, name in ((n_users, users, "n_users"), (n_items, items, "n_items")):
            sizes.append(int(ids.max()) + 1 if given is None else check_positive_int(given, name))
            if ids.max() >= sizes[-1]:
                raise ValueError(f"interactions hold ID {ids.max()}, outside [0, {name}={sizes[-1]})")
        if not (positive := interactions[self.positive].to_numpy(dtype=float) >= self.positive_threshold).any():
            raise ValueError(f"interactions have no positive rows: {self.positive!r} is never >= {self.positive_threshold}")
        matrix = sp.csr_array((np.ones(int(positive.sum())), (users[positive], items[positive])),
                              shape=tuple(sizes)).sign()          # a repeated pair counts once
        self.n_users_, self.n_items_, self.user_item_ = *sizes, matrix
        self.seen_ = _pairs(users[positive], items[positive], sizes[1])
        return matrix


class PopularityRecommender(_Baseline):
    """The same list for everybody: items by their number of distinct positive users (``popularity_``).
    >>> log = pd.DataFrame({"user_id": [0, 1, 1, 2], "item_id": [2, 2, 0, 1], "clicked": [1, 1, 1, 0]})
    >>> model = PopularityRecommender().fit(log, n_items=4)
    >>> model.popularity_, model.recommend([0], k=2)["item_id"].tolist()   # item 2: already clicked
    (array([1., 0., 2., 0.]), [0, 1])
    """

    def fit(self, interactions, *, n_users=None, n_items=None):
        """Count positive users per item (sizes default to the largest ID + 1)."""
        self.popularity_ = np.asarray(self._fit_positives(interactions, n_users, n_items).sum(axis=0), float).ravel()
        return self

    def score_items(self, users) -> np.ndarray:
        n = len(self._users(users))                               # checks first: NotFittedError
        return np.tile(self.popularity_, (n, 1))


class RandomRecommender(_Baseline):
    """Uniform random scores, the floor to beat; a user's scores depend only on ``random_state`` and the ID.
    >>> log = pd.DataFrame({"user_id": [0, 1], "item_id": [0, 1], "clicked": [1, 1]})
    >>> model = RandomRecommender(random_state=0).fit(log, n_items=5)
    >>> bool((model.score_items([1]) == model.score_items([0, 1])[1]).all())
    True
    """

    def __init__(self, random_state=None, positive=DEFAULT_TARGET, positive_threshold=1.0):
        self.random_state, self.positive, self.positive_threshold = random_state, positive, positive_threshold

    def fit(self, interactions, *, n_users=None, n_items=None):
        """Record the sizes, the seen pairs and one seed (``seed_``)."""
        self._fit_positives(interactions, n_users, n_items)
        self.seed_ = seed_from(self.random_state)
        return self

    def score_items(self, users) -> np.ndarray:
        return np.stack([np.random.default_rng([self.seed_, int(u)]).random(self.n_items_) for u in self._users(users)])


class ContentBasedRecommender(_Baseline):
    """Cosine similarity between each item's features and the mean features of the user's positive items.
    ``item_features_`` are the L2-normalised rows of ``item_features`` (TF-IDF, centred pixels, ...);
    ``user_profiles_`` the profiles. Users without positives score 0.
    >>> log = pd.DataFrame({"user_id": [0], "item_id": [0], "clicked": [1]})
    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])   # items 0 and 1 alike
    >>> ContentBasedRecommender().fit(log, item_features=features).score_items([0]).round(2)
    array([[1.  , 0.99, 0.  ]])
    """

    def fit(self, interactions, *, item_features, n_users=None):
        """Build the profiles; ``item_features`` (n_items, n_features), dense, sparse or a tensor."""
        features = item_features.detach().numpy() if isinstance(item_features, torch.Tensor) else item_features
        features = sp.csr_array(features, dtype=np.float64) if sp.issparse(features) else np.asarray(features, float)
        values = features.data if sp.issparse(features) else features
        if features.ndim != 2 or 0 in features.shape or not np.isfinite(values).all():
            raise ValueError(f"item_features must be a finite 2-D array (n_items, n_features), got shape {features.shape}")
        matrix = self._fit_positives(interactions, n_users, features.shape[0])
        self.item_features_ = normalize(features)
        profiles = normalize(matrix, norm="l1") @ self.item_features_    # the mean over each user's positives
        self.user_profiles_ = sp.csr_array(profiles) if sp.issparse(profiles) else np.asarray(profiles)
        return self

    def score_items(self, users) -> np.ndarray:
        users = self._users(users)
        scores = normalize(self.user_profiles_[users]) @ self.item_features_.T
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores, dtype=float)


class ItemKNNRecommender(_Baseline):
    """Item-based collaborative filtering: an item's score is the sum of its cosine similarities
    (columns of the user-item matrix) to the user's positive items; ``n_neighbors`` keeps only
    each item's most similar items (``similarity_``, zero diagonal).
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1, 2, 3], "item_id": [0, 1, 0, 1, 2, 0], "clicked": 1})
    >>> ItemKNNRecommender().fit(log).recommend([3], k=1)["item_id"].tolist()
    [1]
    """

    def __init__(self, n_neighbors=None, positive=DEFAULT_TARGET, positive_threshold=1.0):
        self.n_neighbors, self.positive, self.positive_threshold = n_neighbors, positive, positive_threshold

    def fit(self, interactions, *, n_users=None, n_items=None):
        """Compute the item-item cosine similarities."""
        if self.n_neighbors is not None:
            check_positive_int(self.n_neighbors, "n_neighbors")
        columns = normalize(self._fit_positives(interactions, n_users, n_items), axis=0)
        similarity = sp.csr_array(columns.T @ columns)
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        if self.n_neighbors is not None and self.n_neighbors < self.n_items_ - 1:
            best = [top_k(similarity[start:start + 1024].toarray(), self.n_neighbors)   # chunks bound the memory
                    for start in range(0, self.n_items_, 1024)]
            indices, scores = (np.vstack(part) for part in zip(*best))
            keep = scores > 0
            similarity = sp.csr_array((scores[keep], (np.nonzero(keep)[0], indices[keep])), shape=similarity.shape)
        self.similarity_ = similarity
        return self

    def score_items(self, users) -> np.ndarray:
        users = self._users(users)
        return (self.user_item_[users] @ self.similarity_).toarray()
