"""Loaders for Coat and MovieLens 100K, tested on small fixtures in the public formats.

The real files are never committed (their licences forbid it) and never downloaded here:
the download path is exercised with file:// URLs to local archives.
"""

import zipfile

import numpy as np
import pytest

from causalrec import schema
from causalrec.data import load as datasets

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
    with pytest.raises(ValueError, match="checksum mismatch.*verify=False"):
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
    (lambda f: (f / "train.ascii").write_bytes(b"1 0 2\r\n0 3\r\n"), r"train.ascii: the number of columns changed"),
    (lambda f: (f / "train.ascii").write_bytes(b"1 0 x 0 0 0 0 0\r\n" * N_USERS), r"train.ascii: .*'x'"),
    (lambda f: (f / "test.ascii").write_bytes(b"7 0 0 0 0 0 0 0\r\n" * N_USERS), "test.ascii: value 7.0 at line 1, column 1"),
    (lambda f: (f / "train.ascii").write_bytes(b"-1 0 0 0 0 0 0 0\r\n" * N_USERS), "train.ascii: value -1.0"),
    (lambda f: _write_matrix(f / "user_item_features/user_features.ascii", np.eye(N_USERS, 14) * 0.5),
     "user_features.ascii: value 0.5 at line 1, column 1 is not 0 or 1"),
    (lambda f: _write_matrix(f / "user_item_features/item_features.ascii", np.eye(3, 33)),
     "item_features.ascii has 3 rows for 8 items"),
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
    with pytest.raises(ValueError, match="checksum mismatch.*verify=False"):
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
    sums = {name: datasets.sha256(tmp_path / "src" / name) for name in ("train.ascii", "test.ascii")}
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
        datasets.download(source.as_uri(), target, sha256="0" * 64, verbose=False)
    assert not target.exists() and not target.with_name("file.bin.part").exists()


def test_offline_download_fails_clearly(tmp_path):
    with pytest.raises(ConnectionError, match="could not download"):
        datasets.download((tmp_path / "absent.zip").as_uri(), tmp_path / "x.zip", verbose=False)


# ------------------------------------------------------------------ more loader checks
def test_coat_download_with_wrong_checksum_deletes_and_raises(tmp_path, monkeypatch):
    make_coat(tmp_path / "src")
    _zip_folder(tmp_path / "src", tmp_path / "coat.zip", "coat")
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CAUSALREC_COAT", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(datasets, "COAT_URL", (tmp_path / "coat.zip").as_uri())
    with pytest.raises(ValueError, match=r"checksum mismatch for .*train.ascii.*was deleted"):
        datasets.load_coat(download=True, verbose=False)
    assert not (tmp_path / "cache" / "coat" / "coat" / "train.ascii").exists()


def test_coat_offline_download_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CAUSALREC_COAT", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(datasets, "COAT_URL", (tmp_path / "absent.zip").as_uri())
    with pytest.raises(ConnectionError, match="could not download"):
        datasets.load_coat(download=True, verbose=False)


def test_missing_movielens_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CAUSALREC_MOVIELENS", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "data")
    with pytest.raises(FileNotFoundError, match=r"u.data, u.item, u.user.*data/external/movielens-100k/.*download=True"):
        datasets.load_movielens_100k()


def test_movielens_download_verifies_checksum(tmp_path, monkeypatch):
    make_movielens(tmp_path / "src")
    _zip_folder(tmp_path / "src", tmp_path / "ml-100k.zip", "ml-100k")
    monkeypatch.setenv("CAUSALREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CAUSALREC_MOVIELENS", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(datasets, "MOVIELENS_URL", (tmp_path / "ml-100k.zip").as_uri())
    with pytest.raises(ValueError, match="checksum mismatch.*u.data"):
        datasets.load_movielens_100k(download=True, verbose=False)
    monkeypatch.setattr(datasets, "MOVIELENS_SHA256", {"u.data": datasets.sha256(tmp_path / "src" / "u.data")})
    data = datasets.load_movielens_100k(download=True, verbose=False)
    assert len(data.interactions) == 3 and data.source.endswith("ml-100k")


# ------------------------------------------------------------------ the Coat-shaped simulated world
@pytest.fixture(scope="module")
def coat_world():
    return datasets.coat_like(random_state=0)


def test_coat_like_has_coats_exact_shape(coat_world):
    data = coat_world
    assert (data.n_users, data.n_items) == (290, 300)
    assert data.interactions.groupby(schema.USER).size().eq(24).all() and len(data.interactions) == 6960
    assert data.randomized.groupby(schema.USER).size().eq(16).all() and len(data.randomized) == 4640
    for table in (data.interactions, data.randomized):
        assert not table.duplicated([schema.USER, schema.ITEM]).any()
        assert table[schema.RATING].isin([1, 2, 3, 4, 5]).all()
    assert data.users.shape == (290, 1 + 14) and data.items.shape == (300, 1 + 33)
    # one-hot groups: exactly one 1 per group, per row
    user_x = data.users.drop(columns=schema.USER).to_numpy()
    assert (user_x.sum(axis=1) == len(datasets.COAT_USER_GROUPS)).all()
    assert set(np.unique(user_x)) == {0, 1}
    item_x = data.items.drop(columns=schema.ITEM).to_numpy()
    assert (item_x.sum(axis=1) == len(datasets.COAT_ITEM_GROUPS)).all()


def test_coat_like_truth_is_consistent(coat_world):
    data, truth = coat_world, coat_world.truth
    assert truth.propensity.shape == truth.ratings.shape == (290, 300)
    np.testing.assert_allclose(truth.propensity.sum(axis=1), 24)
    assert truth.propensity.min() > 0 and truth.propensity.max() <= 1
    u, i = data.interactions[schema.USER], data.interactions[schema.ITEM]
    np.testing.assert_array_equal(data.interactions[schema.RATING], truth.ratings[u, i])
    np.testing.assert_array_equal(data.propensity, truth.propensity[u, i])
    tu, ti = data.randomized[schema.USER], data.randomized[schema.ITEM]
    np.testing.assert_array_equal(data.randomized[schema.RATING], truth.ratings[tu, ti])
    # the expected rating is the mean of the realised one: over 87,000 pairs they agree closely
    assert abs(truth.expected_rating.mean() - truth.ratings.mean()) < 0.02
    assert 0.3 < np.mean((truth.expected_rating - truth.ratings) ** 2) < 1.0   # the irreducible error


def test_coat_like_selection_is_missing_not_at_random(coat_world):
    data = coat_world
    train_mean = data.interactions[schema.RATING].mean()
    test_mean = data.randomized[schema.RATING].mean()
    assert train_mean > test_mean + 0.5           # users pick what they like
    # the random test set is an unbiased sample: its mean is the all-pairs mean within sampling error
    all_mean, sd = data.truth.ratings.mean(), data.truth.ratings.std()
    assert abs(test_mean - all_mean) < 4 * sd / np.sqrt(len(data.randomized))
    # IPS with the true propensities recovers the all-pairs mean from the biased train ratings
    from causalrec.debias import ips_estimate

    ips = ips_estimate(data.interactions[schema.RATING], data.propensity, n_total=290 * 300)
    assert abs(ips - all_mean) < 0.15 < abs(train_mean - all_mean)


def test_systematic_sampling_has_the_stated_inclusion_probabilities():
    rng = np.random.default_rng(1)
    p = datasets._fixed_size_probabilities(rng.normal(0, 1.5, size=(1, 40)), 6)[0]
    assert abs(p.sum() - 6) < 1e-9 and p.max() <= 1
    counts = np.zeros(40)
    n = 20_000
    for _ in range(n):
        chosen = datasets._systematic_sample(p, rng)
        assert len(np.unique(chosen)) == 6
        counts[chosen] += 1
    # binomial standard error at most 0.0035; 5 of them
    np.testing.assert_allclose(counts / n, p, atol=0.018)


def test_coat_like_is_seeded():
    a = datasets.coat_like(n_users=30, n_items=40, n_train=5, n_test=4, random_state=3)
    b = datasets.coat_like(n_users=30, n_items=40, n_train=5, n_test=4, random_state=3)
    c = datasets.coat_like(n_users=30, n_items=40, n_train=5, n_test=4, random_state=4)
    assert a.interactions.equals(b.interactions) and a.randomized.equals(b.randomized)
    assert not a.interactions.equals(c.interactions)


def test_stronger_self_selection_raises_the_train_mean():
    weak = datasets.coat_like(selection_strength=0.0, random_state=0)
    strong = datasets.coat_like(selection_strength=1.5, random_state=0)
    assert strong.interactions[schema.RATING].mean() > weak.interactions[schema.RATING].mean() + 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"n_users": 0}, "n_users"),
    ({"n_train": 301}, r"n_train \(301\) cannot exceed n_items \(300\)"),
    ({"n_test": 400}, r"n_test \(400\) cannot exceed n_items"),
    ({"rating_noise": 0.0}, "rating_noise"),
    ({"selection_strength": float("nan")}, "selection_strength"),
])
def test_coat_like_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        datasets.coat_like(**kwargs)


def test_write_coat_round_trips_through_the_loader_in_coats_layout(coat_world, tmp_path):
    folder = datasets.write_coat(coat_world, tmp_path / "coat")
    raw = (folder / "train.ascii").read_bytes()
    assert raw.count(b"\r\n") == 290 and raw.count(b"\n") == 290      # CRLF, one line per user
    assert len(raw.split(b"\r\n")[0].split()) == 300
    back = datasets.load_coat(folder, verify=False)
    assert (back.n_users, back.n_items) == (290, 300)
    assert back.interactions.groupby(schema.USER).size().eq(24).all()
    assert back.randomized.groupby(schema.USER).size().eq(16).all()
    assert back.interactions.equals(coat_world.interactions) and back.randomized.equals(coat_world.randomized)
    np.testing.assert_allclose(back.propensity, coat_world.propensity, rtol=1e-9)
    assert back.users.equals(coat_world.users) and back.items.equals(coat_world.items)
    assert back.truth is None


def test_write_coat_rejects_data_without_a_test_set(tmp_path):
    make_movielens(tmp_path / "ml")
    data = datasets.load_movielens_100k(tmp_path / "ml", verify=False)
    with pytest.raises(ValueError, match="needs a randomized test set"):
        datasets.write_coat(data, tmp_path / "out")
    with pytest.raises(TypeError, match="data must be a World"):
        datasets.write_coat("coat", tmp_path / "out")


def test_all_pairs_lists_every_pair_with_its_features_and_label(coat_world):
    pairs = datasets.all_pairs(coat_world)
    assert len(pairs) == 290 * 300 and pairs.shape[1] == 2 + 14 + 33 + 1
    assert pairs["rated"].sum() == 6960
    row = pairs.iloc[7 * 300 + 11]
    assert (row[schema.USER], row[schema.ITEM]) == (7, 11)
    assert row["user_feature_3"] == coat_world.users.loc[7, "user_feature_3"]
    assert row["item_feature_20"] == coat_world.items.loc[11, "item_feature_20"]
    rated = set(zip(coat_world.interactions[schema.USER], coat_world.interactions[schema.ITEM]))
    flagged = pairs.loc[pairs["rated"] == 1, [schema.USER, schema.ITEM]]
    assert set(zip(flagged[schema.USER], flagged[schema.ITEM])) == rated


def test_all_pairs_rejects_what_it_cannot_encode(tmp_path, coat_world):
    with pytest.raises(TypeError, match="data must be a World"):
        datasets.all_pairs(coat_world.interactions)
    make_movielens(tmp_path)
    movielens = datasets.load_movielens_100k(tmp_path, verify=False)
    with pytest.raises(ValueError, match=r"data.users has non-numeric feature columns \['gender', 'occupation'\]"):
        datasets.all_pairs(movielens)
    clash = datasets.World(name="clash", users=coat_world.users.assign(x=1), items=coat_world.items.assign(x=2),
                                 interactions=coat_world.interactions, randomized=None, propensity=None, source="")
    with pytest.raises(ValueError, match=r"share feature column names \['x'\]"):
        datasets.all_pairs(clash)
