"""Fetch a file over the network, only when asked, with a progress bar and a checksum.

Used by the real-data loaders when called with ``download=True``; never by tests,
notebooks or the book build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path


def cache_dir(name: str) -> Path:
    """The user cache folder for data set ``name`` (``$CAUSALREC_CACHE`` or ``~/.cache/causalrec``)."""
    root = Path(os.environ.get("CAUSALREC_CACHE", Path.home() / ".cache" / "causalrec"))
    return root / name


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path, expected: str | None) -> None:
    """Raise ``ValueError`` (and delete the file) when its sha256 is not ``expected``."""
    if expected is None:
        return
    actual = file_sha256(path)
    if actual != expected:
        Path(path).unlink(missing_ok=True)
        raise ValueError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}; "
                         "the file was deleted")


def download(url: str, destination, *, sha256: str | None = None, verbose: bool = True) -> Path:
    """Download ``url`` to ``destination`` (a file path), then verify its sha256.

    The file is written under a temporary name and renamed only when complete, so
    an interrupted download leaves nothing that looks finished.
    """
    from .._checks import progress_bar

    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=destination.name,
                      disable=not verbose) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ConnectionError(f"could not download {url}: {error}") from error
    shutil.move(partial, destination)
    verify_sha256(destination, sha256)
    return destination
