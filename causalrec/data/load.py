"""Read and write worlds: the shipped default world, Coat, MovieLens 100K, a Coat-shaped simulation. A saved world
is plain files plus ``SHA256SUMS``, written byte for byte reproducibly; real data is downloaded only with
``download=True``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from .. import schema
from .._checks import check_fraction, check_memory, check_positive_int, check_random_state, progress_bar
from .simulate import Truth
from .world import World

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_WORLD", "save_world", "load_world", "load_default", "verify_checksums",
           "sha256", "download", "load_coat", "load_movielens_100k", "CoatTruth", "coat_like", "write_coat",
           "all_pairs", "COAT_USER_GROUPS", "COAT_ITEM_GROUPS"]

#: The shipped default world: its folder in a source checkout, and the arguments that generate it.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEFAULT_WORLD = {"n_users": 1000, "n_items": 300, "random_state": 0}

_TABLES = {"users.csv": "users", "items.csv": "items", "interactions.csv": "interactions", "randomized.csv": "randomized"}
_FILES = tuple(_TABLES) + ("images.npz", "truth_logged.csv", "truth_randomized.csv", "latent.npz", "truth.json")
_CHECKSUMS = "SHA256SUMS"
_LATENT = ("user_taste", "item_attributes", "item_quality", "price_sensitivity", "log_price_centered")


def sha256(path) -> str:
    """Hex sha256 digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_npz(path: Path, arrays: dict) -> None:
    """An ``.npz`` with fixed timestamps, so that the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def _read_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_world(world: World, directory) -> dict:
    """Write a simulated ``world`` to ``directory`` (created if missing); return {file: sha256}."""
    if not isinstance(world, World) or not isinstance(world.truth, Truth):
        raise TypeError(f"world must be a simulated World (with a Truth), got {type(world).__name__}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for filename, attribute in _TABLES.items():
        getattr(world, attribute).to_csv(out / filename, index=False, lineterminator="\n")
    _write_npz(out / "images.npz", {"images": world.images})
    t = world.truth
    logged = world.interactions[[schema.USER, schema.ITEM]].assign(
        propensity=t.propensity, effect=t.effect, relevance=t.relevance_logged, rating_propensity=t.rating_propensity)
    logged.to_csv(out / "truth_logged.csv", index=False, lineterminator="\n", float_format="%.10g")
    randomized = world.randomized[[schema.USER, schema.ITEM]].assign(
        effect=t.effect_randomized, relevance=t.relevance_randomized)
    randomized.to_csv(out / "truth_randomized.csv", index=False, lineterminator="\n", float_format="%.10g")
    _write_npz(out / "latent.npz", {name: getattr(t, name) for name in _LATENT})
    scalars = {
        "ate": round(t.ate, 10), "ate_randomized": round(t.ate_randomized, 10),
        "cate_by_group": {str(k): round(float(v), 10) for k, v in t.cate_by_group.items()},
        "dag": t.dag, "params": {k: list(v) if isinstance(v, tuple) else v for k, v in t.params.items()},
        "config": {k: v for k, v in world.config.items() if k != "params"},
    }
    (out / "truth.json").write_text(json.dumps(scalars, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sums = {name: sha256(out / name) for name in _FILES}
    (out / _CHECKSUMS).write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())), encoding="utf-8")
    return sums


def verify_checksums(directory) -> None:
    """Raise ``ValueError`` naming every file whose sha256 differs from ``SHA256SUMS``."""
    folder = Path(directory)
    if not (folder / _CHECKSUMS).exists():
        raise FileNotFoundError(f"no {_CHECKSUMS} file in {folder}")
    listed = [line.split(maxsplit=1) for line in (folder / _CHECKSUMS).read_text(encoding="utf-8").splitlines()]
    if bad := [f"{name} (missing)" if not (folder / name).exists() else f"{name} (checksum differs)"
               for expected, name in listed if not (folder / name).exists() or sha256(folder / name) != expected]:
        raise ValueError(f"the world in {folder} does not match its {_CHECKSUMS}: {', '.join(bad)}")


def load_world(directory, *, verify: bool = True) -> World:
    """Read a world written by :func:`save_world` (``verify``: check ``SHA256SUMS`` first)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"no world folder at {folder}; write one with "
                                f"`python -m causalrec simulate --out {folder}`")
    if missing := [name for name in _FILES if not (folder / name).exists()]:
        raise FileNotFoundError(f"the world folder {folder} lacks {missing}")
    if verify:
        verify_checksums(folder)
    tables = {attr: pd.read_csv(folder / name) for name, attr in _TABLES.items()}
    for attr in ("interactions", "randomized"):
        tables[attr][schema.RATING] = tables[attr][schema.RATING].astype(float)
    logged, randomized = pd.read_csv(folder / "truth_logged.csv"), pd.read_csv(folder / "truth_randomized.csv")
    scalars = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in scalars["params"].items()}
    cate = pd.Series({int(k): v for k, v in scalars["cate_by_group"].items()}, name="true_effect")
    cate.index.name = schema.GROUP
    truth = Truth(dag=scalars["dag"], propensity=logged["propensity"].to_numpy(), effect=logged["effect"].to_numpy(),
                  relevance_logged=logged["relevance"].to_numpy(), rating_propensity=logged["rating_propensity"].to_numpy(),
                  relevance_randomized=randomized["relevance"].to_numpy(), effect_randomized=randomized["effect"].to_numpy(),
                  ate=scalars["ate"], ate_randomized=scalars["ate_randomized"], cate_by_group=cate, params=params,
                  **_read_npz(folder / "latent.npz"))
    return World(truth=truth, images=_read_npz(folder / "images.npz")["images"], name="shop", source=str(folder),
                 config=dict(scalars["config"], params=params), **tables)


def load_default(path=None) -> World:
    """The book's default world (1,000 users x 300 items), read from ``data/`` (or ``path``); offline.
    >>> world = load_default()
    >>> world.n_users, world.n_items
    (1000, 300)
    """
    folder = Path(path) if path is not None else DEFAULT_DATA_DIR
    if not (folder / _CHECKSUMS).exists():
        raise FileNotFoundError(f"the default world is not in {folder}. In a source checkout it ships in data/; "
                                f"otherwise regenerate it with `python -m causalrec simulate --out {folder}` "
                                "and pass that folder as `path`.")
    return load_world(folder)


COAT_URL = "https://www.cs.cornell.edu/~schnabts/mnar/coat.zip"
COAT_SHA256 = {"train.ascii": "a87bd9e7eaf3b89f976df3f25d4aa5d5d871be8a00b58947df9e6e015559bd37",
               "test.ascii": "de6714ab105a5e0be8166be7fd313901b29f9a09c3bea307901457d1d71847e6"}
COAT_FILES = ("train.ascii", "test.ascii", "propensities.ascii",
              "user_item_features/user_features.ascii", "user_item_features/item_features.ascii")
MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
MOVIELENS_SHA256 = {"u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"}
MOVIELENS_FILES = ("u.data", "u.item", "u.user")
MOVIELENS_GENRES = ("unknown", "action", "adventure", "animation", "children", "comedy", "crime",
                    "documentary", "drama", "fantasy", "film_noir", "horror", "musical", "mystery",
                    "romance", "sci_fi", "thriller", "war", "western")


def cache_dir(name: str) -> Path:
    """The cache folder for data set ``name``: ``$CAUSALREC_CACHE`` or ``~/.cache/causalrec``."""
    return Path(os.environ.get("CAUSALREC_CACHE", Path.home() / ".cache" / "causalrec")) / name


def verify_sha256(path, expected: str | None, *, delete: bool = True) -> None:
    """Raise ``ValueError`` (and, for a download, delete the file) when its sha256 is not ``expected``."""
    if expected is not None and (actual := sha256(path)) != expected:
        if delete:
            Path(path).unlink(missing_ok=True)
        raise ValueError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}; " + (
            "the file was deleted" if delete else "pass verify=False to read your own files in this layout"))


def download(url: str, destination, *, sha256: str | None = None, verbose: bool = True) -> Path:
    """Download ``url`` to the file ``destination`` (renamed only when complete), then check its sha256."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=destination.name,
                              disable=not verbose) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    bar.update(out.write(block))
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ConnectionError(f"could not download {url}: {error}") from error
    shutil.move(partial, destination)
    verify_sha256(destination, sha256)
    return destination


def _find(name: str, path, env: str, files, url: str, checksums: dict, do_download: bool, verify: bool,
          verbose: bool) -> Path:
    """The folder holding ``files``: ``path``, else ``$env``, ``data/external/name``, the cache; or download."""
    marker = files[0]
    candidates = [Path(path)] if path is not None else (
        ([Path(os.environ[env])] if os.environ.get(env) else []) + [DEFAULT_DATA_DIR / "external" / name, cache_dir(name)])
    for folder in candidates:
        if found := [folder] if (folder / marker).exists() else sorted(p.parent for p in folder.glob(f"*/{marker}")):
            if missing := [file for file in files if not (found[0] / file).exists()]:
                raise FileNotFoundError(f"the {name} folder {found[0]} lacks {missing}")
            for file, expected in checksums.items() if verify else ():
                verify_sha256(found[0] / file, expected, delete=False)
            return found[0]
    if path is not None:
        raise FileNotFoundError(f"no {marker} in {path} (or in a folder one level below)")
    if not do_download:
        raise FileNotFoundError(
            f"the {name} data set is not on this machine. Put its files ({', '.join(files)}) in "
            f"data/external/{name}/ or in a folder named by ${env}, or pass path=...; with internet access, "
            f"download=True fetches them from {url} into {cache_dir(name)}. Its licence does not allow us to ship it.")
    with zipfile.ZipFile(download(url, cache_dir(name) / f"{name}.zip", verbose=verbose)) as zf:
        zf.extractall(cache_dir(name))
    folder = _find(name, cache_dir(name), env, files, url, checksums, False, False, verbose)
    for file, expected in checksums.items():
        verify_sha256(folder / file, expected)
    return folder


def _read_matrix(path: Path) -> np.ndarray:
    """A whitespace-separated numeric matrix; errors name the file (numpy names the row and column)."""
    try:
        return np.loadtxt(path, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _check_values(matrix, allowed, path, what: str) -> None:
    if len(bad := np.argwhere(~np.isin(matrix, allowed))):
        i, j = bad[0]
        raise ValueError(f"{path}: value {float(matrix[i, j])!r} at line {i + 1}, column {j + 1} is not {what}")


def load_coat(path=None, download: bool = False, *, verify: bool = True, verbose: bool = True) -> World:
    """The Coat data set (Schnabel et al., 2016): self-selected ``interactions``, ``randomized`` test
    ratings; read from ``path``, ``$CAUSALREC_COAT``, ``data/external/coat`` or the cache.
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     data = load_coat(write_coat(coat_like(random_state=0), folder), verify=False)
    >>> data
    World('coat', n_users=290, n_items=300, logged=6960, randomized=4640)
    """
    folder = _find("coat", path, "CAUSALREC_COAT", COAT_FILES, COAT_URL, COAT_SHA256, download, verify, verbose)
    train, test, propensities, user_x, item_x = (_read_matrix(folder / name) for name in COAT_FILES)
    for name, matrix in (("train.ascii", train), ("test.ascii", test)):
        _check_values(matrix, (0, 1, 2, 3, 4, 5), folder / name, "a rating 1-5 (or 0 for missing)")
    for name, matrix in (("test.ascii", test), ("propensities.ascii", propensities)):
        if matrix.shape != train.shape:
            raise ValueError(f"{folder / name} has shape {matrix.shape}; train.ascii has {train.shape}")
    for name, matrix, n, what in (("user_features.ascii", user_x, train.shape[0], "users"),
                                  ("item_features.ascii", item_x, train.shape[1], "items")):
        if len(matrix) != n:
            raise ValueError(f"{name} has {len(matrix)} rows for {n} {what}")
        _check_values(matrix, (0, 1), name, "0 or 1 (Coat's features are one-hot)")
    interactions, randomized = _ratings_table(train), _ratings_table(test)
    observed = propensities[interactions[schema.USER], interactions[schema.ITEM]]
    if np.any(observed <= 0) or np.any(observed > 1):
        raise ValueError(f"{folder / 'propensities.ascii'} gives observed ratings propensities outside (0, 1]")
    return World(users=_features(user_x, schema.USER, "user_feature"), items=_features(item_x, schema.ITEM, "item_feature"),
                 interactions=interactions, randomized=randomized, propensity=observed, name="coat", source=str(folder))


def _ratings_table(matrix: np.ndarray) -> pd.DataFrame:
    u, i = np.nonzero(matrix)
    return pd.DataFrame({schema.USER: u, schema.ITEM: i, schema.RATING: matrix[u, i].astype(float)})


def _features(matrix: np.ndarray, id_column: str, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame(matrix.astype(np.int64), columns=[f"{prefix}_{k}" for k in range(matrix.shape[1])])
    frame.insert(0, id_column, np.arange(len(matrix)))
    return frame


def load_movielens_100k(path=None, download: bool = False, *, verify: bool = True, verbose: bool = True) -> World:
    """MovieLens 100K (GroupLens) with 0-based IDs, found as by :func:`load_coat`; no randomized part."""
    folder = _find("movielens-100k", path, "CAUSALREC_MOVIELENS", MOVIELENS_FILES, MOVIELENS_URL,
                   MOVIELENS_SHA256, download, verify, verbose)
    data = _read_matrix(folder / "u.data")
    if data.shape[1] != 4:
        raise ValueError(f"{folder / 'u.data'} must have 4 tab-separated columns, found {data.shape[1]}")
    if len(bad := np.flatnonzero(~np.isin(data[:, 2], (1, 2, 3, 4, 5)))):
        raise ValueError(f"{folder / 'u.data'}: rating {float(data[bad[0], 2])!r} at line {bad[0] + 1} is outside 1-5")
    raw_items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    if raw_items.shape[1] != 5 + len(MOVIELENS_GENRES):
        raise ValueError(f"{folder / 'u.item'} must have {5 + len(MOVIELENS_GENRES)} '|'-separated columns, "
                         f"found {raw_items.shape[1]}")
    raw_users = pd.read_csv(folder / "u.user", sep="|", header=None, encoding="latin-1",
                            names=["raw_id", "age", "gender", "occupation", "zip"])
    users, items = data[:, 0].astype(np.int64) - 1, data[:, 1].astype(np.int64) - 1
    if users.min() < 0 or users.max() >= len(raw_users) or items.min() < 0 or items.max() >= len(raw_items):
        raise ValueError(f"{folder / 'u.data'} refers to users or items missing from u.user / u.item")
    timestamp = data[:, 3].astype(np.int64)
    interactions = pd.DataFrame({schema.USER: users, schema.ITEM: items, schema.RATING: data[:, 2],
                                 "timestamp": timestamp, schema.DAY: (timestamp - timestamp.min()) // 86_400})
    genres = raw_items.iloc[:, 5:].astype(np.int64).set_axis(list(MOVIELENS_GENRES), axis=1)
    item_table = pd.concat([pd.DataFrame({schema.ITEM: np.arange(len(raw_items)), "title": raw_items[1].astype(str)}),
                            genres], axis=1)
    user_table = raw_users.drop(columns=["raw_id", "zip"])
    user_table.insert(0, schema.USER, np.arange(len(raw_users)))
    return World(users=user_table, items=item_table, interactions=interactions, name="movielens-100k",
                 source=str(folder))


#: Coat's one-hot feature groups and their sizes: users (14 columns), items (33 columns).
COAT_USER_GROUPS = {"gender": 2, "age": 6, "location": 3, "fashion_interest": 3}
COAT_ITEM_GROUPS = {"gender": 2, "jacket_type": 16, "color": 13, "front_page": 2}
_COAT_CUTPOINTS = (0.0, 0.8, 1.6, 2.4)   # rating = 1 + number of cutpoints below the latent score


@dataclass
class CoatTruth:
    """What :func:`coat_like` knows, (n_users, n_items) arrays: ratings, expected rating, propensity."""
    ratings: np.ndarray
    expected_rating: np.ndarray
    propensity: np.ndarray
    params: dict


def _fixed_size_probabilities(logits: np.ndarray, n_select: int) -> np.ndarray:
    """Row-wise probabilities proportional to ``exp(logits)``, capped at 1, each row summing to ``n_select``."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    capped = np.zeros(weights.shape, dtype=bool)
    for _ in range(weights.shape[1]):
        free = np.where(capped, 0.0, weights)
        room = n_select - capped.sum(axis=1, keepdims=True)
        p = np.where(capped, 1.0, free * room / free.sum(axis=1, keepdims=True))
        if not (over := (p > 1.0) & ~capped).any():
            break
        capped |= over
    return p


def _systematic_sample(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``round(p.sum())`` distinct indices, ``k`` drawn with probability exactly ``p[k]``: systematic sampling
    (Madow, 1949) on a random order, one uniform start in [0, 1) and the items under ``start, start + 1, ...``."""
    n_select = int(round(p.sum()))
    order = rng.permutation(len(p))
    edges = np.cumsum(p[order])
    edges *= n_select / edges[-1]
    points = rng.random() + np.arange(n_select)
    return order[np.minimum(np.searchsorted(edges, points, side="right"), len(p) - 1)]


def coat_like(*, n_users: int = 290, n_items: int = 300, n_train: int = 24, n_test: int = 16,
              selection_strength: float = 0.6, rating_noise: float = 0.7, random_state=0) -> World:
    """A simulated world of Coat's shape (as :func:`load_coat`) whose self-selection is known (:class:`CoatTruth`).
    >>> data = coat_like(random_state=0)
    >>> data
    World('coat-like', n_users=290, n_items=300, logged=6960, randomized=4640)
    >>> bool(data.interactions.rating.mean() > data.randomized.rating.mean())   # self-selection
    True
    """
    n_users, n_items = check_positive_int(n_users, "n_users"), check_positive_int(n_items, "n_items")
    n_train, n_test = check_positive_int(n_train, "n_train"), check_positive_int(n_test, "n_test")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value > n_items:
            raise ValueError(f"{name} ({value}) cannot exceed n_items ({n_items}): each user rates distinct items")
    check_fraction(selection_strength, "selection_strength", low=-np.inf, high=np.inf)
    check_fraction(rating_noise, "rating_noise", low=0.0, high=np.inf, inclusive=(False, False))
    check_memory(80 * n_users * n_items, f"coat_like(n_users={n_users:,}, n_items={n_items:,})")  # ~10 dense arrays
    rng, dim = check_random_state(random_state), 4
    user_codes = [rng.integers(0, size, n_users) for size in COAT_USER_GROUPS.values()]
    item_codes = [rng.integers(0, size, n_items) for size in COAT_ITEM_GROUPS.values()]
    item_codes[3] = (rng.random(n_items) < 0.2).astype(np.int64)        # a fifth of the coats on the front page
    one_hot = [np.concatenate([np.eye(size, dtype=np.int64)[c] for c, size in zip(codes, groups.values())], axis=1)
               for codes, groups in ((user_codes, COAT_USER_GROUPS), (item_codes, COAT_ITEM_GROUPS))]
    type_centre, colour_centre = (rng.normal(size=(COAT_ITEM_GROUPS[g], dim)) for g in ("jacket_type", "color"))
    attributes = type_centre[item_codes[1]] + 0.5 * colour_centre[item_codes[2]] + 0.5 * rng.normal(size=(n_items, dim))
    taste = rng.normal(size=(n_users, dim)) * (0.6 + 0.4 * user_codes[3])[:, None]   # fashion interest sharpens taste
    quality, leniency = rng.normal(0.0, 0.4, n_items), rng.normal(0.0, 0.4, n_users)
    gender_match = (user_codes[0][:, None] == item_codes[0][None, :]).astype(float)
    mean_score = 0.5 * taste @ attributes.T / np.sqrt(dim) + gender_match + quality[None, :] + leniency[:, None]
    score = mean_score + rng.normal(0.0, rating_noise, (n_users, n_items))
    cut = np.asarray(_COAT_CUTPOINTS)
    ratings = 1 + (score[..., None] > cut).sum(axis=-1)
    expected = 1 + norm.cdf((mean_score[..., None] - cut) / rating_noise).sum(axis=-1)
    logits = selection_strength * (ratings - 3) + 0.8 * gender_match + 0.6 * item_codes[3][None, :].astype(float)
    propensity = _fixed_size_probabilities(logits, n_train)
    train_items = np.stack([_systematic_sample(propensity[u], rng) for u in range(n_users)])
    test_items = np.stack([rng.choice(n_items, n_test, replace=False) for _ in range(n_users)])

    def table(item_matrix):  # the ratings of those items, by user then item
        chosen = np.zeros(ratings.shape, dtype=bool)
        chosen[np.arange(n_users)[:, None], item_matrix] = True
        return _ratings_table(np.where(chosen, ratings, 0))
    interactions = table(train_items)
    params = {"n_users": n_users, "n_items": n_items, "n_train": n_train, "n_test": n_test,
              "selection_strength": float(selection_strength), "rating_noise": float(rating_noise),
              "random_state": random_state if isinstance(random_state, (int, type(None))) else "generator"}
    return World(users=_features(one_hot[0], schema.USER, "user_feature"),
                 items=_features(one_hot[1], schema.ITEM, "item_feature"), interactions=interactions,
                 randomized=table(test_items), name="coat-like", config=params,
                 propensity=propensity[interactions[schema.USER], interactions[schema.ITEM]],
                 truth=CoatTruth(ratings=ratings, expected_rating=expected, propensity=propensity, params=params),
                 source=f"simulated: causalrec.data.load.coat_like(random_state={params['random_state']})")


def write_coat(data: World, directory) -> Path:
    """Write a Coat-shaped ``data`` in Coat's layout (CRLF included) into ``directory``; return it."""
    if not isinstance(data, World):
        raise TypeError(f"data must be a World, got {type(data).__name__}")
    if data.randomized is None or data.propensity is None:
        raise ValueError(f"data {data.name!r} needs a randomized test set and train propensities "
                         "to be written in Coat's layout")
    out = Path(directory)
    (out / "user_item_features").mkdir(parents=True, exist_ok=True)

    def matrix(frame, values):
        m = np.zeros((data.n_users, data.n_items))
        m[frame[schema.USER].to_numpy(), frame[schema.ITEM].to_numpy()] = values
        return m

    def write(name, values, fmt):
        (out / name).write_bytes(("".join(" ".join(fmt % v for v in row) + "\r\n" for row in values)).encode("ascii"))
    propensity = (data.truth.propensity if isinstance(data.truth, CoatTruth)
                  else matrix(data.interactions, data.propensity))
    write("train.ascii", matrix(data.interactions, data.interactions[schema.RATING]), "%d")
    write("test.ascii", matrix(data.randomized, data.randomized[schema.RATING]), "%d")
    write("propensities.ascii", propensity, "%.10g")
    write("user_item_features/user_features.ascii", data.users.drop(columns=schema.USER).to_numpy(), "%d")
    write("user_item_features/item_features.ascii", data.items.drop(columns=schema.ITEM).to_numpy(), "%d")
    return out


def all_pairs(data: World) -> pd.DataFrame:
    """Every (user, item) pair with both sides' features and ``rated`` (0/1), for a propensity model.
    >>> pairs = all_pairs(coat_like(n_users=4, n_items=5, n_train=2, n_test=1, random_state=0))
    >>> len(pairs), int(pairs["rated"].sum()), pairs.shape[1]
    (20, 8, 50)
    """
    if not isinstance(data, World):
        raise TypeError(f"data must be a World, got {type(data).__name__}")
    users, items = data.users.drop(columns=schema.USER), data.items.drop(columns=schema.ITEM)
    for name, table in (("users", users), ("items", items)):
        if text := [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]:
            raise ValueError(f"data.{name} has non-numeric feature columns {text}; encode them first")
    if clash := sorted(set(users.columns) & set(items.columns)):
        raise ValueError(f"data.users and data.items share feature column names {clash}")
    check_memory(8 * data.n_users * data.n_items * (users.shape[1] + items.shape[1] + 3), "all_pairs(data)")
    user, item = np.divmod(np.arange(data.n_users * data.n_items), data.n_items)
    frame = pd.concat([pd.DataFrame({schema.USER: user, schema.ITEM: item}),
                       users.iloc[user].reset_index(drop=True), items.iloc[item].reset_index(drop=True)], axis=1)
    logged = data.interactions[schema.USER].to_numpy() * data.n_items + data.interactions[schema.ITEM].to_numpy()
    return frame.assign(rated=np.isin(np.arange(len(frame)), logged).astype(np.int64))
