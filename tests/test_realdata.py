"""Loaders for Coat and MovieLens 100K, tested on small fixtures in the public formats.

The real files are never committed (their licences forbid it) and never downloaded here:
the download path is exercised with file:// URLs to local archives.
"""

import zipfile

import numpy as np
import pytest

from causalrec import _download, datasets, schema

RNG = np.random.default_rng(0)
N_USERS, N_ITEMS = 6, 8


def _write_matrix(path, matrix, fmt="{:g}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(fmt.format(v) for v in row) for row in matrix]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))   # CRLF, as the real files


def make_coat(folder, *, train=None):
    if train is None:
        train = np.zeros((N_USERS, N_ITEMS))
        for u in range(N_USERS):
            train[u, RNG.choice(N_ITEMS, 3, replace=False)] = RNG.integers(1, 6, 3)
    test = np.zeros_like(train)
    for u in range(train.shape[0]):
        free = np.flatnonzero(train[u] == 0)
        test[u, free[:2]] = RNG.integers(1, 6, 2)
    _write_matrix(folder / "train.ascii", train)
    _write_matrix(folder / "test.ascii", test)
    _write_matrix(folder / "propensities.ascii", np.full(train.shape, 0.25), "{:.6f}")
    _write_matrix(folder / "user_item_features/user_features.ascii", np.eye(train.shape[0], 14))
    _write_matrix(folder / "user_item_features/item_features.ascii", np.eye(train.shape[1], 33))
    return train, test


def make_movielens(folder, *, ratings=None):
    folder.mkdir(parents=True, exist_ok=True)
    rows = ratings or [(1, 1, 5, 881250949), (1, 2, 3, 881250949 + 86_400 * 2), (2, 3, 4, 881250950)]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    genres = "|".join(["0"] * 18 + ["1"])
    items = "".join(f"{i}|Film {i} (1995)|01-Jan-1995||http://example.invalid|{genres}\n" for i in (1, 2, 3))
    (folder / "u.item").write_bytes(items.replace("Film 2", "Caf\xe9 2").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")


def test_coat_fixture_loads_in_the_world_shape(tmp_path):
    train, test = make_coat(tmp_path)
    data = datasets.load_coat(tmp_path, verify=False)
    assert data.n_users == N_USERS and data.n_items == N_ITEMS
    assert len(data.interactions) == np.count_nonzero(train) == 3 * N_USERS
    assert len(data.randomized) == np.count_nonzero(test)
    row = data.interactions.iloc[0]
    assert train[int(row[schema.USER]), int(row[schema.ITEM])] == row[schema.RATING]
    np.testing.assert_allclose(data.propensity, 0.25)
    assert data.users.shape[1] == 15 and data.items.shape[1] == 34
    assert data.truth is None and "coat" in repr(data)


def test_coat_found_through_the_environment_variable(tmp_path, monkeypatch):
    make_coat(tmp_path / "nested" / "coat")
    monkeypatch.setenv("CAUSALREC_COAT", str(tmp_path / "nested"))
    assert datasets.load_coat(verify=False).n_users == N_USERS


def test_coat_checksums_of_the_published_files(tmp_path):
    make_coat(tmp_path)
    with pytest.raises(ValueError, match="is not the published Coat file"):
        datasets.load_coat(tmp_path)
    assert (tmp_path / "train.ascii").exists(), "a local file is never deleted"


def test_missing_coat_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CAUSALREC_COAT", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "data")
    with pytest.raises(FileNotFoundError, match=r"data/external/coat/.*download=True"):
        datasets.load_coat()
    with pytest.raises(FileNotFoundError, match="no train.ascii in"):
        datasets.load_coat(tmp_path / "elsewhere")


@pytest.mark.parametrize("corrupt, message", [
    (lambda f: (f / "train.ascii").write_bytes(b"1 0 2\r\n0 3\r\n"), "line 2 has 2 values"),
    (lambda f: (f / "train.ascii").write_bytes(b"1 0 x 0 0 0 0 0\r\n" * N_USERS), r"non-numeric cell 'x' at line 1, column 3"),
    (lambda f: (f / "test.ascii").write_bytes(b"7 0 0 0 0 0 0 0\r\n" * N_USERS), "rating 7.0 at line 1, column 1 is outside 1-5"),
    (lambda f: (f / "train.ascii").write_bytes(b"-1 0 0 0 0 0 0 0\r\n" * N_USERS), "outside 1-5"),
    (lambda f: (f / "propensities.ascii").write_bytes(b"0.5 0.5\r\n"), r"propensities.ascii has shape \(1, 2\)"),
    (lambda f: (f / "user_item_features/user_features.ascii").write_bytes(b"1 0\r\n"), "user_features.ascii has 1 rows for 6 users"),
    (lambda f: (f / "propensities.ascii").unlink(), r"lacks \['propensities.ascii'\]"),
])
def test_malformed_coat_files_are_named(tmp_path, corrupt, message):
    make_coat(tmp_path)
    corrupt(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        datasets.load_coat(tmp_path, verify=False)


def test_movielens_fixture(tmp_path):
    make_movielens(tmp_path)
    data = datasets.load_movielens_100k(tmp_path, verify=False)
    assert data.interactions[schema.USER].tolist() == [0, 0, 1]
    assert data.interactions[schema.DAY].tolist() == [0, 2, 0]
    assert data.items.loc[1, "title"] == "Caf\xe9 2 (1995)"        # latin-1 decoded
    assert data.items["western"].tolist() == [1, 1, 1] and data.items["action"].sum() == 0
    assert data.users["gender"].tolist() == ["M", "F"]
    assert data.randomized is None
    with pytest.raises(ValueError, match="is not the published MovieLens 100K file"):
        datasets.load_movielens_100k(tmp_path)


@pytest.mark.parametrize("ratings, message", [
    ([(1, 1, 6, 881250949)], "rating 6.0 at line 1 is outside 1-5"),
    ([(1, 9, 5, 881250949)], "missing from u.user / u.item"),
])
def test_malformed_movielens(tmp_path, ratings, message):
    make_movielens(tmp_path, ratings=ratings)
    with pytest.raises(ValueError, match=message):
        datasets.load_movielens_100k(tmp_path, verify=False)


def _zip_folder(folder, archive, prefix):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{prefix}/{path.relative_to(folder)}")


def test_download_verifies_and_extracts(tmp_path, monkeypatch):
    make_coat(tmp_path / "src")
    _zip_folder(tmp_path / "src", tmp_path / "coat.zip", "coat")
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CAUSALREC_COAT", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(datasets, "COAT_URL", (tmp_path / "coat.zip").as_uri())
    sums = {name: _download.file_sha256(tmp_path / "src" / name) for name in ("train.ascii", "test.ascii")}
    monkeypatch.setattr(datasets, "COAT_SHA256", sums)
    data = datasets.load_coat(download=True, verbose=False)
    assert data.n_users == N_USERS
    assert (tmp_path / "cache" / "coat" / "coat" / "train.ascii").exists()
    # second call: found in the cache, no download needed
    monkeypatch.setattr(datasets, "COAT_URL", "file:///nonexistent.zip")
    assert datasets.load_coat(verbose=False).n_users == N_USERS


def test_download_checksum_mismatch_deletes_and_raises(tmp_path):
    source = tmp_path / "file.bin"
    source.write_bytes(b"not what you expected")
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(ValueError, match="checksum mismatch.*was deleted"):
        _download.download(source.as_uri(), target, sha256="0" * 64, verbose=False)
    assert not target.exists() and not target.with_name("file.bin.part").exists()


def test_offline_download_fails_clearly(tmp_path):
    with pytest.raises(ConnectionError, match="could not download"):
        _download.download((tmp_path / "absent.zip").as_uri(), tmp_path / "x.zip", verbose=False)
