"""Read and write worlds: the shipped default world in ``data/``, and any saved one.

A world on disk is a folder of plain files (CSV, one ``.npz`` for images, one
for latent factors, JSON for the scalar truth) plus ``SHA256SUMS``. Writing is
deterministic: the same world always gives byte-identical files, so the
shipped ``data/`` can be regenerated and checked by anyone with
``python -m causalrec simulate --out DIR``.

No function here touches the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from .simulate import ShopWorld, Truth

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_WORLD", "save_world", "load_world", "load_default",
           "verify_checksums", "sha256"]

#: The shipped default world lives here in a source checkout.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

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
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
