"""Read and write worlds: the shipped default world in ``data/``, and any saved one.

A world on disk is a folder of plain files (CSV, one ``.npz`` for images, one
for latent factors, JSON for the scalar truth) plus ``SHA256SUMS``. Writing is
deterministic: the same world always gives byte-identical files, so the
shipped ``data/`` can be regenerated and checked by anyone with
``python -m causalrec simulate --out DIR``.

No function here touches the network.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import _download
from .. import schema
from .._checks import check_positive_int, check_random_state
from .simulate import ShopWorld, Truth

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_WORLD", "save_world", "load_world", "load_default",
           "verify_checksums", "sha256", "RatingsData", "load_coat", "load_movielens_100k",
           "CoatTruth", "coat_like", "write_coat", "all_pairs", "COAT_USER_GROUPS", "COAT_ITEM_GROUPS"]

#: The shipped default world lives here in a source checkout.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"

#: The arguments that generate the shipped default world.
DEFAULT_WORLD = {"n_users": 1000, "n_items": 300, "random_state": 0}

_TABLES = {
    "users.csv": "users",
    "items.csv": "items",
    "interactions.csv": "interactions",
    "randomized.csv": "randomized",
}
_FILES = tuple(_TABLES) + ("images.npz", "truth_logged.csv", "truth_randomized.csv",
                          "latent.npz", "truth.json")
_CHECKSUMS = "SHA256SUMS"


def sha256(path) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    return _download.file_sha256(path)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` (zip of ``.npy``) with fixed timestamps, so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def _write_csv(df: pd.DataFrame, path: Path, float_format: str | None = None) -> None:
    df.to_csv(path, index=False, lineterminator="\n", float_format=float_format)


def save_world(world: ShopWorld, directory) -> dict[str, str]:
    """Write ``world`` to ``directory`` (created if missing); return {file: sha256}.

    Existing files of the same names are overwritten; nothing else in the
    folder is touched.
    """
    if not isinstance(world, ShopWorld):
        raise TypeError(f"world must be a ShopWorld, got {type(world).__name__}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for filename, attribute in _TABLES.items():
        _write_csv(getattr(world, attribute), out / filename)
    _write_npz(out / "images.npz", {"images": world.images})
    t = world.truth
    logged = world.interactions[[schema.USER, schema.ITEM]].copy()
    logged["propensity"] = t.propensity
    logged["effect"] = t.effect
    logged["relevance"] = t.relevance_logged
    logged["rating_propensity"] = t.rating_propensity
    _write_csv(logged, out / "truth_logged.csv", float_format="%.10g")
    randomized = world.randomized[[schema.USER, schema.ITEM]].copy()
    randomized["effect"] = t.effect_randomized
    randomized["relevance"] = t.relevance_randomized
    _write_csv(randomized, out / "truth_randomized.csv", float_format="%.10g")
    _write_npz(out / "latent.npz", {
        "user_taste": t.user_taste, "item_attributes": t.item_attributes,
        "item_quality": t.item_quality, "price_sensitivity": t.price_sensitivity,
        "log_price_centered": t.log_price_centered,
    })
    scalars = {
        "ate": round(t.ate, 10),
        "ate_randomized": round(t.ate_randomized, 10),
        "cate_by_group": {str(k): round(float(v), 10) for k, v in t.cate_by_group.items()},
        "dag": t.dag,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in t.params.items()},
        "config": {k: v for k, v in world.config.items() if k != "params"},
    }
    (out / "truth.json").write_text(json.dumps(scalars, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sums = {name: sha256(out / name) for name in _FILES}
    (out / _CHECKSUMS).write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())), encoding="utf-8")
    return sums


def verify_checksums(directory) -> None:
    """Raise ``ValueError`` naming every file whose sha256 differs from ``SHA256SUMS``."""
    folder = Path(directory)
    listing = folder / _CHECKSUMS
    if not listing.exists():
        raise FileNotFoundError(f"no {_CHECKSUMS} file in {folder}")
    bad = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        expected, name = line.split(maxsplit=1)
        path = folder / name
        if not path.exists():
            bad.append(f"{name} (missing)")
        elif sha256(path) != expected:
            bad.append(f"{name} (checksum differs)")
    if bad:
        raise ValueError(f"the world in {folder} does not match its {_CHECKSUMS}: {', '.join(bad)}")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_world(directory, *, verify: bool = True) -> ShopWorld:
    """Read a world written by :func:`save_world`.

    Parameters
    ----------
    directory : path-like
        The folder.
    verify : bool
        Check every file against ``SHA256SUMS`` first (a few milliseconds).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no world folder at {folder}; write one with `python -m causalrec simulate --out {folder}`"
        )
    missing = [name for name in _FILES if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"the world folder {folder} lacks {missing}")
    if verify:
        verify_checksums(folder)
    tables = {attr: pd.read_csv(folder / name) for name, attr in _TABLES.items()}
    tables["interactions"][schema.RATING] = tables["interactions"][schema.RATING].astype(float)
    tables["randomized"][schema.RATING] = tables["randomized"][schema.RATING].astype(float)
    logged = pd.read_csv(folder / "truth_logged.csv")
    randomized = pd.read_csv(folder / "truth_randomized.csv")
    latent = _read_npz(folder / "latent.npz")
    scalars = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in scalars["params"].items()}
    cate = pd.Series({int(k): v for k, v in scalars["cate_by_group"].items()}, name="true_effect")
    cate.index.name = schema.GROUP
    truth = Truth(
        dag=scalars["dag"],
        propensity=logged["propensity"].to_numpy(), effect=logged["effect"].to_numpy(),
        relevance_logged=logged["relevance"].to_numpy(),
        relevance_randomized=randomized["relevance"].to_numpy(),
        rating_propensity=logged["rating_propensity"].to_numpy(),
        effect_randomized=randomized["effect"].to_numpy(),
        ate=scalars["ate"], ate_randomized=scalars["ate_randomized"], cate_by_group=cate,
        user_taste=latent["user_taste"], item_attributes=latent["item_attributes"],
        item_quality=latent["item_quality"], price_sensitivity=latent["price_sensitivity"],
        log_price_centered=latent["log_price_centered"], params=params,
    )
    config = dict(scalars["config"], params=params)
    images = _read_npz(folder / "images.npz")["images"]
    return ShopWorld(truth=truth, images=images, config=config, **tables)


def load_default(path=None) -> ShopWorld:
    """The book's default world (1,000 users x 300 items), read from ``data/``.

    Fast (no simulation) and offline. ``path`` overrides the folder.

    Examples
    --------
    >>> world = load_default()
    >>> world.n_users, world.n_items
    (1000, 300)
    """
    folder = Path(path) if path is not None else DEFAULT_DATA_DIR
    if not (folder / _CHECKSUMS).exists():
        raise FileNotFoundError(
            f"the default world is not in {folder}. In a source checkout it ships in data/; "
            f"otherwise regenerate it with `python -m causalrec simulate --out {folder}` "
            "and pass that folder as `path`."
        )
    return load_world(folder)


# ---------------------------------------------------------------------------------------------
# Real data sets, read from a local folder (or downloaded on request, never by default)
# ---------------------------------------------------------------------------------------------


COAT_URL = "https://www.cs.cornell.edu/~schnabts/mnar/coat.zip"
COAT_SHA256 = {
    "train.ascii": "a87bd9e7eaf3b89f976df3f25d4aa5d5d871be8a00b58947df9e6e015559bd37",
    "test.ascii": "de6714ab105a5e0be8166be7fd313901b29f9a09c3bea307901457d1d71847e6",
}
COAT_FILES = ("train.ascii", "test.ascii", "propensities.ascii",
              "user_item_features/user_features.ascii", "user_item_features/item_features.ascii")
MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
MOVIELENS_SHA256 = {"u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"}
MOVIELENS_FILES = ("u.data", "u.item", "u.user")
MOVIELENS_GENRES = ("unknown", "action", "adventure", "animation", "children", "comedy", "crime",
                    "documentary", "drama", "fantasy", "film_noir", "horror", "musical", "mystery",
                    "romance", "sci_fi", "thriller", "war", "western")


@dataclass
class RatingsData:
    """A real rating data set in the shape of a :class:`~causalrec.data.simulate.ShopWorld`.

    ``interactions`` is the logged (self-selected) part, ``randomized`` the part
    collected at random when the data set has one (Coat's test set), so code written
    for the simulated world runs on it. Real data has no ``truth`` (it is None); the
    Coat-shaped simulated world of :func:`coat_like` has one (a :class:`CoatTruth`).
    There are no ``images``.

    Attributes
    ----------
    name : str
    users, items : pandas.DataFrame
        ``user_id`` / ``item_id`` (0-based) plus the data set's features.
    interactions : pandas.DataFrame
        ``user_id, item_id, rating`` (+ ``timestamp``, ``day`` where known).
    randomized : pandas.DataFrame or None
    propensity : numpy.ndarray or None
        Shipped propensity of each logged rating (Coat), aligned with ``interactions``.
    source : str
        The folder the files were read from (or how the world was simulated).
    truth : CoatTruth or None
    """

    name: str
    users: pd.DataFrame
    items: pd.DataFrame
    interactions: pd.DataFrame
    randomized: pd.DataFrame | None
    propensity: np.ndarray | None
    source: str
    images: None = None
    truth: "CoatTruth | None" = None
    config: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        randomized = 0 if self.randomized is None else len(self.randomized)
        return (f"RatingsData({self.name!r}, n_users={self.n_users}, n_items={self.n_items}, "
                f"logged={len(self.interactions)}, randomized={randomized})")


def _find_folder(name: str, path, env: str, marker: str) -> Path | None:
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    else:
        if os.environ.get(env):
            candidates.append(Path(os.environ[env]))
        candidates.append(DEFAULT_DATA_DIR / "external" / name)
        candidates.append(_download.cache_dir(name))
    for folder in candidates:
        if (folder / marker).exists():
            return folder
        nested = sorted(folder.glob(f"*/{marker}")) if folder.is_dir() else []
        if nested:
            return nested[0].parent
    return None


def _fetch(name: str, url: str, marker: str, verbose: bool) -> Path:
    target = _download.cache_dir(name)
    archive = _download.download(url, target / f"{name}.zip", verbose=verbose)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(target)
    folder = _find_folder(name, target, "", marker)
    if folder is None:
        raise FileNotFoundError(f"the archive from {url} holds no {marker}")
    return folder


def _missing_message(name: str, files, env: str, url: str) -> str:
    return (f"the {name} data set is not on this machine. Put its files ({', '.join(files)}) in "
            f"data/external/{name}/ or in a folder named by ${env}, or pass path=...; "
            f"with internet access, load_{name.replace('-', '_')}(download=True) fetches them from {url} "
            f"into {_download.cache_dir(name)}. Its licence does not allow us to ship it.")


def _read_matrix(path: Path, *, what: str) -> np.ndarray:
    """A whitespace-separated numeric matrix (any line endings), with errors naming file and cell."""
    rows = [line.split() for line in path.read_text(encoding="ascii", errors="replace").splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} ({what}) is empty")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise ValueError(f"{path} ({what}): line {bad + 1} has {len(rows[bad])} values, line 1 has {len(rows[0])}")
    try:
        return np.array(rows, dtype=float)
    except ValueError:
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise ValueError(f"{path} ({what}): non-numeric cell {cell!r} at line {i + 1}, column {j + 1}") from None
        raise


def _check_ratings_matrix(matrix: np.ndarray, path: Path) -> None:
    bad = ~np.isin(matrix, (0, 1, 2, 3, 4, 5))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{path}: rating {float(matrix[i, j])!r} at line {i + 1}, column {j + 1} is outside 1-5 "
                         "(0 marks a missing rating)")


def load_coat(path=None, download: bool = False, *, verify: bool = True, verbose: bool = True) -> RatingsData:
    """The Coat shopping data set (Schnabel et al., ICML 2016), from its public files.

    Looks in ``path``, else ``$CAUSALREC_COAT``, ``data/external/coat`` and the user
    cache folder. Downloads only when ``download=True`` (checksums verified; a
    mismatch deletes the download and raises). Never committed: its licence does
    not allow redistribution.

    The layout: ``train.ascii`` and ``test.ascii`` (users x items rating matrices,
    0 = missing, ratings 1-5), ``propensities.ascii`` (same shape),
    ``user_item_features/user_features.ascii`` (users x 14 one-hot) and
    ``user_item_features/item_features.ascii`` (items x 33 one-hot). In the real
    data set, train holds 24 self-selected ratings per user and test 16 ratings of
    items drawn at random.

    Parameters
    ----------
    path : path-like, optional
    download : bool
    verify : bool
        Check the sha256 of ``train.ascii`` and ``test.ascii`` against the published
        files (turn off for your own files in the same layout).
    verbose : bool
        Progress bar while downloading.

    Returns
    -------
    RatingsData
        ``interactions`` = train (``user_id, item_id, rating``), ``randomized`` = test,
        ``propensity`` = the shipped propensity of each train rating.

    Examples
    --------
    Files in Coat's layout (here written from the Coat-shaped simulated world; the real
    files go in ``data/external/coat``):

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     data = load_coat(write_coat(coat_like(random_state=0), folder), verify=False)
    >>> data
    RatingsData('coat', n_users=290, n_items=300, logged=6960, randomized=4640)
    >>> data.truth is None
    True
    """
    folder = _find_folder("coat", path, "CAUSALREC_COAT", "train.ascii")
    if folder is None and path is not None:
        raise FileNotFoundError(f"no train.ascii in {path} (or in a folder one level below)")
    if folder is None:
        if not download:
            raise FileNotFoundError(_missing_message("coat", COAT_FILES, "CAUSALREC_COAT", COAT_URL))
        folder = _fetch("coat", COAT_URL, "train.ascii", verbose)
        for name, expected in COAT_SHA256.items():
            _download.verify_sha256(folder / name, expected)
    missing = [name for name in COAT_FILES if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"the Coat folder {folder} lacks {missing}")
    if verify:
        for name, expected in COAT_SHA256.items():
            actual = sha256(folder / name)
            if actual != expected:
                raise ValueError(f"{folder / name} is not the published Coat file (sha256 {actual}); "
                                 "pass verify=False to read your own files in Coat's layout")
    train = _read_matrix(folder / "train.ascii", what="train ratings")
    test = _read_matrix(folder / "test.ascii", what="test ratings")
    propensities = _read_matrix(folder / "propensities.ascii", what="propensities")
    user_features = _read_matrix(folder / "user_item_features/user_features.ascii", what="user features")
    item_features = _read_matrix(folder / "user_item_features/item_features.ascii", what="item features")
    for name, matrix in (("train.ascii", train), ("test.ascii", test)):
        _check_ratings_matrix(matrix, folder / name)
    n_users, n_items = train.shape
    for name, matrix, shape in (("test.ascii", test, train.shape), ("propensities.ascii", propensities, train.shape)):
        if matrix.shape != shape:
            raise ValueError(f"{folder / name} has shape {matrix.shape}; train.ascii has {shape}")
    if user_features.shape[0] != n_users:
        raise ValueError(f"user_features.ascii has {user_features.shape[0]} rows for {n_users} users")
    if item_features.shape[0] != n_items:
        raise ValueError(f"item_features.ascii has {item_features.shape[0]} rows for {n_items} items")
    for name, matrix in (("user_features.ascii", user_features), ("item_features.ascii", item_features)):
        bad = ~np.isin(matrix, (0, 1))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"{name}: value {float(matrix[i, j])!r} at line {i + 1}, column {j + 1} is not 0 or 1 "
                             "(Coat's features are one-hot)")

    def table(matrix):
        u, i = np.nonzero(matrix)
        return pd.DataFrame({schema.USER: u, schema.ITEM: i, schema.RATING: matrix[u, i]})

    interactions, randomized = table(train), table(test)
    observed_p = propensities[interactions[schema.USER], interactions[schema.ITEM]]
    if np.any(observed_p <= 0) or np.any(observed_p > 1):
        raise ValueError(f"{folder / 'propensities.ascii'} gives observed ratings propensities outside (0, 1]")
    users = pd.DataFrame(user_features.astype(np.int64), columns=[f"user_feature_{k}" for k in range(user_features.shape[1])])
    users.insert(0, schema.USER, np.arange(n_users))
    items = pd.DataFrame(item_features.astype(np.int64), columns=[f"item_feature_{k}" for k in range(item_features.shape[1])])
    items.insert(0, schema.ITEM, np.arange(n_items))
    return RatingsData(name="coat", users=users, items=items, interactions=interactions,
                       randomized=randomized, propensity=observed_p, source=str(folder))


def load_movielens_100k(path=None, download: bool = False, *, verify: bool = True,
                        verbose: bool = True) -> RatingsData:
    """MovieLens 100K (GroupLens), from its public files ``u.data``, ``u.item``, ``u.user``.

    Looks in ``path``, else ``$CAUSALREC_MOVIELENS``, ``data/external/movielens-100k``
    and the user cache folder; downloads only when ``download=True``. IDs become
    0-based (``user_id = raw id - 1``); ``day`` counts days since the first rating.

    Returns
    -------
    RatingsData
        ``interactions``: ``user_id, item_id, rating, timestamp, day``; ``items``:
        ``item_id, title`` and 19 genre flags; ``users``: ``user_id, age, gender,
        occupation``; no randomized part.
    """
    folder = _find_folder("movielens-100k", path, "CAUSALREC_MOVIELENS", "u.data")
    if folder is None and path is not None:
        raise FileNotFoundError(f"no u.data in {path} (or in a folder one level below)")
    if folder is None:
        if not download:
            raise FileNotFoundError(_missing_message("movielens-100k", MOVIELENS_FILES,
                                                     "CAUSALREC_MOVIELENS", MOVIELENS_URL))
        folder = _fetch("movielens-100k", MOVIELENS_URL, "u.data", verbose)
        _download.verify_sha256(folder / "u.data", MOVIELENS_SHA256["u.data"])
    missing = [name for name in MOVIELENS_FILES if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"the MovieLens folder {folder} lacks {missing}")
    if verify and sha256(folder / "u.data") != MOVIELENS_SHA256["u.data"]:
        raise ValueError(f"{folder / 'u.data'} is not the published MovieLens 100K file; "
                         "pass verify=False to read your own files in its layout")
    data = _read_matrix(folder / "u.data", what="ratings (user, item, rating, timestamp)")
    if data.shape[1] != 4:
        raise ValueError(f"{folder / 'u.data'} must have 4 tab-separated columns, found {data.shape[1]}")
    bad = ~np.isin(data[:, 2], (1, 2, 3, 4, 5))
    if bad.any():
        line = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{folder / 'u.data'}: rating {float(data[line, 2])!r} at line {line + 1} is outside 1-5")
    raw_items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    if raw_items.shape[1] != 5 + len(MOVIELENS_GENRES):
        raise ValueError(f"{folder / 'u.item'} must have {5 + len(MOVIELENS_GENRES)} '|'-separated columns, "
                         f"found {raw_items.shape[1]}")
    raw_users = pd.read_csv(folder / "u.user", sep="|", header=None, encoding="latin-1",
                            names=["raw_id", "age", "gender", "occupation", "zip"])
    n_users, n_items = len(raw_users), len(raw_items)
    users_ids, item_ids = data[:, 0].astype(np.int64) - 1, data[:, 1].astype(np.int64) - 1
    if users_ids.min() < 0 or users_ids.max() >= n_users or item_ids.min() < 0 or item_ids.max() >= n_items:
        raise ValueError(f"{folder / 'u.data'} refers to users or items missing from u.user / u.item")
    timestamp = data[:, 3].astype(np.int64)
    interactions = pd.DataFrame({schema.USER: users_ids, schema.ITEM: item_ids,
                                 schema.RATING: data[:, 2], "timestamp": timestamp,
                                 schema.DAY: (timestamp - timestamp.min()) // 86_400})
    items = pd.DataFrame({schema.ITEM: np.arange(n_items), "title": raw_items[1].astype(str)})
    for k, genre in enumerate(MOVIELENS_GENRES):
        items[genre] = raw_items[5 + k].astype(np.int64)
    users = pd.DataFrame({schema.USER: np.arange(n_users), "age": raw_users["age"],
                          "gender": raw_users["gender"], "occupation": raw_users["occupation"]})
    return RatingsData(name="movielens-100k", users=users, items=items, interactions=interactions,
                       randomized=None, propensity=None, source=str(folder))



# ---------------------------------------------------------------------------------------------
# A simulated world of Coat's exact shape, whose truth is known
# ---------------------------------------------------------------------------------------------

#: Coat's user features: one-hot groups and their sizes (14 columns in this order).
COAT_USER_GROUPS = {"gender": 2, "age": 6, "location": 3, "fashion_interest": 3}
#: Coat's item features: one-hot groups and their sizes (33 columns in this order).
COAT_ITEM_GROUPS = {"gender": 2, "jacket_type": 16, "color": 13, "front_page": 2}

_COAT_CUTPOINTS = (0.0, 0.8, 1.6, 2.4)   # rating = 1 + number of cutpoints below the latent score


@dataclass
class CoatTruth:
    """What :func:`coat_like` knows about its world and real Coat never reveals.

    Attributes
    ----------
    ratings : numpy.ndarray of int, shape (n_users, n_items)
        The rating (1-5) every user would give every item; train and test reveal some.
    expected_rating : numpy.ndarray of float, shape (n_users, n_items)
        Mean of each pair's rating over the rating noise.
    propensity : numpy.ndarray of float, shape (n_users, n_items)
        True probability that each pair is among the user's self-selected (train) ratings;
        each row sums to the number of train ratings per user.
    params : dict
        The arguments that generated the world.
    """

    ratings: np.ndarray
    expected_rating: np.ndarray
    propensity: np.ndarray
    params: dict

    @property
    def mse_of_expected(self) -> float:
        """Irreducible error: MSE of the expected rating against the realised one, over all pairs."""
        return float(np.mean((self.expected_rating - self.ratings) ** 2))


def _one_hot_groups(codes: list[np.ndarray], sizes) -> np.ndarray:
    return np.concatenate([np.eye(size, dtype=np.int64)[c] for c, size in zip(codes, sizes)], axis=1)


def _fixed_size_probabilities(logits: np.ndarray, n_select: int) -> np.ndarray:
    """Row-wise probabilities proportional to ``exp(logits)``, capped at 1, each row summing to ``n_select``."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = np.zeros_like(weights)
    capped = np.zeros(weights.shape, dtype=bool)
    for _ in range(weights.shape[1]):
        free = np.where(capped, 0.0, weights)
        room = n_select - capped.sum(axis=1, keepdims=True)
        p = np.where(capped, 1.0, free * room / free.sum(axis=1, keepdims=True))
        over = (p > 1.0) & ~capped
        if not over.any():
            break
        capped |= over
    return p


def _systematic_sample(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(p.sum())`` distinct indices, index ``k`` included with probability ``p[k]``.

    Systematic sampling (Madow, 1949) on a random order: lay the probabilities end to end
    on a line of length ``n``, draw one uniform start in [0, 1) and take the items under
    the points ``start, start + 1, ...``. An item of length ``p <= 1`` covers a point with
    probability exactly ``p``, and never two.
    """
    n_select = int(round(p.sum()))
    order = rng.permutation(len(p))
    edges = np.cumsum(p[order])
    edges *= n_select / edges[-1]
    points = rng.random() + np.arange(n_select)
    return order[np.minimum(np.searchsorted(edges, points, side="right"), len(p) - 1)]


def coat_like(*, n_users: int = 290, n_items: int = 300, n_train: int = 24, n_test: int = 16,
              selection_strength: float = 0.6, rating_noise: float = 0.7, random_state=0) -> RatingsData:
    """A simulated world of the Coat data set's exact shape, with its truth.

    Real Coat (Schnabel et al., 2016) asked 290 shoppers to pick and rate 24 of 300 coats
    (self-selected: train) and then to rate 16 coats drawn at random (test). This function
    draws a world with the same shape and the same two mechanisms, so every estimate made
    on it can be compared with the truth:

    * users get Coat's four one-hot groups (gender, age, location, fashion interest: 14
      columns), items Coat's four (gender, jacket type, colour, front page: 33 columns);
    * every pair has a rating 1-5: a latent score (taste x attributes, a bonus when the
      coat's gender matches the user's, item quality, user leniency, Gaussian noise of sd
      ``rating_noise``) cut at fixed thresholds;
    * each user self-selects exactly ``n_train`` items with inclusion probabilities
      proportional to ``exp(selection_strength * (rating - 3) + 0.8 * gender match +
      0.6 * front page)`` (capped at 1): missing not at random, since the rating itself
      drives selection. Systematic sampling makes the inclusion probabilities exactly the
      stated ``truth.propensity``;
    * each user rates ``n_test`` items drawn uniformly among all items (they may overlap
      the train items, as separate questionnaires could).

    Parameters
    ----------
    n_users, n_items, n_train, n_test : int
        Coat's values by default. ``n_train`` and ``n_test`` must not exceed ``n_items``.
    selection_strength : float
        How strongly the rating drives self-selection (0: missing at random given the features).
    rating_noise : float
        Standard deviation of the noise on the latent score (> 0).
    random_state : int, numpy Generator or None

    Returns
    -------
    RatingsData
        The same object :func:`load_coat` returns (``interactions`` = train,
        ``randomized`` = test, ``propensity`` = the true propensity of each train rating,
        ``users``/``items`` with the one-hot features), plus ``truth``, a :class:`CoatTruth`.

    Examples
    --------
    >>> data = coat_like(random_state=0)
    >>> data
    RatingsData('coat-like', n_users=290, n_items=300, logged=6960, randomized=4640)
    >>> data.interactions.groupby("user_id").size().unique().tolist()
    [24]
    >>> data.users.shape, data.items.shape
    ((290, 15), (300, 34))
    >>> bool(data.interactions.rating.mean() > data.randomized.rating.mean())   # self-selection
    True
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    n_train = check_positive_int(n_train, "n_train")
    n_test = check_positive_int(n_test, "n_test")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value > n_items:
            raise ValueError(f"{name} ({value}) cannot exceed n_items ({n_items}): each user rates distinct items")
    if isinstance(selection_strength, bool) or not np.isfinite(float(selection_strength)):
        raise ValueError(f"selection_strength must be a finite number, got {selection_strength!r}")
    if isinstance(rating_noise, bool) or not float(rating_noise) > 0 or not np.isfinite(float(rating_noise)):
        raise ValueError(f"rating_noise must be a finite number > 0, got {rating_noise!r}")
    rng = check_random_state(random_state)
    dim = 4

    user_codes = [rng.integers(0, size, n_users) for size in COAT_USER_GROUPS.values()]
    item_codes = [rng.integers(0, size, n_items) for size in COAT_ITEM_GROUPS.values()]
    item_codes[3] = (rng.random(n_items) < 0.2).astype(np.int64)        # a fifth of the coats on the front page
    user_features = _one_hot_groups(user_codes, COAT_USER_GROUPS.values())
    item_features = _one_hot_groups(item_codes, COAT_ITEM_GROUPS.values())

    type_centre = rng.normal(size=(COAT_ITEM_GROUPS["jacket_type"], dim))
    colour_centre = rng.normal(size=(COAT_ITEM_GROUPS["color"], dim))
    attributes = type_centre[item_codes[1]] + 0.5 * colour_centre[item_codes[2]] + 0.5 * rng.normal(size=(n_items, dim))
    taste = rng.normal(size=(n_users, dim)) * (0.6 + 0.4 * user_codes[3])[:, None]   # fashion interest sharpens taste
    quality = rng.normal(0.0, 0.4, n_items)
    leniency = rng.normal(0.0, 0.4, n_users)
    gender_match = (user_codes[0][:, None] == item_codes[0][None, :]).astype(float)
    mean_score = (0.5 * taste @ attributes.T / np.sqrt(dim) + 1.0 * gender_match
                  + quality[None, :] + leniency[:, None])
    score = mean_score + rng.normal(0.0, rating_noise, (n_users, n_items))
    cut = np.asarray(_COAT_CUTPOINTS)
    ratings = 1 + (score[..., None] > cut).sum(axis=-1)
    from scipy.stats import norm
    expected = 1 + norm.cdf((mean_score[..., None] - cut) / rating_noise).sum(axis=-1)

    logits = (selection_strength * (ratings - 3) + 0.8 * gender_match
              + 0.6 * item_codes[3][None, :].astype(float))
    propensity = _fixed_size_probabilities(logits, n_train)
    train_items = np.stack([_systematic_sample(propensity[u], rng) for u in range(n_users)])
    test_items = np.stack([rng.choice(n_items, n_test, replace=False) for _ in range(n_users)])

    def table(item_matrix):
        u = np.repeat(np.arange(n_users), item_matrix.shape[1])
        i = np.sort(item_matrix, axis=1).ravel()
        return pd.DataFrame({schema.USER: u, schema.ITEM: i, schema.RATING: ratings[u, i].astype(float)})

    interactions, randomized = table(train_items), table(test_items)
    users = pd.DataFrame(user_features, columns=[f"user_feature_{k}" for k in range(user_features.shape[1])])
    users.insert(0, schema.USER, np.arange(n_users))
    items = pd.DataFrame(item_features, columns=[f"item_feature_{k}" for k in range(item_features.shape[1])])
    items.insert(0, schema.ITEM, np.arange(n_items))
    params = {"n_users": n_users, "n_items": n_items, "n_train": n_train, "n_test": n_test,
              "selection_strength": float(selection_strength), "rating_noise": float(rating_noise),
              "random_state": random_state if isinstance(random_state, (int, type(None))) else "generator"}
    truth = CoatTruth(ratings=ratings, expected_rating=expected, propensity=propensity, params=params)
    return RatingsData(name="coat-like", users=users, items=items, interactions=interactions, randomized=randomized,
                       propensity=propensity[interactions[schema.USER], interactions[schema.ITEM]],
                       source=f"simulated: causalrec.data.load.coat_like(random_state={params['random_state']})",
                       truth=truth, config=params)


def write_coat(data: RatingsData, directory) -> Path:
    """Write a Coat-shaped data set in Coat's public layout (CRLF line endings), readable by :func:`load_coat`.

    ``train.ascii`` and ``test.ascii`` hold the users x items rating matrices (0 = missing),
    ``propensities.ascii`` the propensity of every pair (from ``data.truth.propensity`` when
    present, else the train ratings' propensities and 0 elsewhere), and
    ``user_item_features/`` the one-hot feature matrices.

    Parameters
    ----------
    data : RatingsData
        With ``randomized`` and ``propensity`` (as from :func:`coat_like` or :func:`load_coat`).
    directory : path-like
        Created if missing; files of the same names are overwritten.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import tempfile
    >>> data = coat_like(n_users=20, n_items=30, n_train=4, n_test=3, random_state=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     back = load_coat(write_coat(data, folder), verify=False)
    >>> back.interactions.equals(data.interactions), back.randomized.equals(data.randomized)
    (True, True)
    """
    if not isinstance(data, RatingsData):
        raise TypeError(f"data must be a RatingsData, got {type(data).__name__}")
    if data.randomized is None or data.propensity is None:
        raise ValueError(f"data {data.name!r} needs a randomized test set and train propensities to be written "
                         "in Coat's layout")
    out = Path(directory)
    (out / "user_item_features").mkdir(parents=True, exist_ok=True)
    shape = (data.n_users, data.n_items)

    def matrix(frame):
        m = np.zeros(shape)
        m[frame[schema.USER].to_numpy(), frame[schema.ITEM].to_numpy()] = frame[schema.RATING].to_numpy()
        return m

    if isinstance(data.truth, CoatTruth):
        propensity = data.truth.propensity
    else:
        propensity = np.zeros(shape)
        propensity[data.interactions[schema.USER].to_numpy(), data.interactions[schema.ITEM].to_numpy()] = data.propensity

    def write(path, values, fmt):
        lines = (" ".join(fmt % v for v in row) for row in values)
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))

    write(out / "train.ascii", matrix(data.interactions), "%d")
    write(out / "test.ascii", matrix(data.randomized), "%d")
    write(out / "propensities.ascii", propensity, "%.10g")
    write(out / "user_item_features" / "user_features.ascii", data.users.drop(columns=schema.USER).to_numpy(), "%d")
    write(out / "user_item_features" / "item_features.ascii", data.items.drop(columns=schema.ITEM).to_numpy(), "%d")
    return out



def all_pairs(data: RatingsData) -> pd.DataFrame:
    """Every (user, item) pair with both sides' features and whether the pair has a logged rating.

    The population a propensity model is fitted on: each of the ``n_users * n_items`` pairs,
    labelled ``rated = 1`` when it is in ``data.interactions`` (Coat's self-selected train
    ratings). Fit ``causalrec.propensity.LogisticPropensity(features=..., treatment="rated")``
    on it to estimate propensities from features alone.

    Parameters
    ----------
    data : RatingsData
        With numeric feature columns in ``users`` and ``items`` (as from :func:`load_coat` or
        :func:`coat_like`).

    Returns
    -------
    pandas.DataFrame
        ``n_users * n_items`` rows ordered by user, then item: ``user_id, item_id``, the user
        feature columns, the item feature columns, ``rated`` (0/1).

    Examples
    --------
    >>> data = coat_like(n_users=4, n_items=5, n_train=2, n_test=1, random_state=0)
    >>> pairs = all_pairs(data)
    >>> len(pairs), int(pairs["rated"].sum()), pairs.shape[1]
    (20, 8, 50)
    """
    if not isinstance(data, RatingsData):
        raise TypeError(f"data must be a RatingsData, got {type(data).__name__}")
    users = data.users.drop(columns=schema.USER)
    items = data.items.drop(columns=schema.ITEM)
    for name, table in (("users", users), ("items", items)):
        text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if text:
            raise ValueError(f"data.{name} has non-numeric feature columns {text}; encode them first")
    clash = set(users.columns) & set(items.columns)
    if clash:
        raise ValueError(f"data.users and data.items share feature column names {sorted(clash)}")
    n_users, n_items = data.n_users, data.n_items
    user, item = np.divmod(np.arange(n_users * n_items), n_items)
    frame = pd.concat([pd.DataFrame({schema.USER: user, schema.ITEM: item}),
                       users.iloc[user].reset_index(drop=True), items.iloc[item].reset_index(drop=True)], axis=1)
    rated = np.zeros(n_users * n_items, dtype=np.int64)
    rated[data.interactions[schema.USER].to_numpy() * n_items + data.interactions[schema.ITEM].to_numpy()] = 1
    frame["rated"] = rated
    return frame
