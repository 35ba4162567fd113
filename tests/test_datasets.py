from pathlib import Path

import numpy as np
import pytest

from skae import datasets

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


@pytest.fixture
def tiny_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, size=(6, 4, 5), dtype=np.uint8),
        y_train=np.arange(6),
        x_test=rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8),
        y_test=np.arange(3),
    )
    return path


def test_load_digits():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0 and X.max() == 1
    assert y.shape == (1797,)


def test_load_npz_flattens_and_scales(tiny_npz):
    (X_train, y_train), (X_test, y_test) = datasets.load_npz(tiny_npz)
    raw = np.load(tiny_npz)
    assert X_train.shape == (6, 20) and X_test.shape == (3, 20)
    assert X_train.dtype == np.float32
    np.testing.assert_allclose(X_train * 255, raw["x_train"].reshape(6, 20), rtol=1e-6)
    assert list(y_test) == [0, 1, 2]


def test_load_mnist_from_path_and_environment(tiny_npz, monkeypatch):
    (X_train, _), _ = datasets.load_mnist(path=tiny_npz)
    assert X_train.shape == (6, 20)
    monkeypatch.setenv("SKAE_FASHION_MNIST_PATH", str(tiny_npz))
    (X_train, _), _ = datasets.load_fashion_mnist()
    assert X_train.shape == (6, 20)


@pytest.mark.parametrize("loader, variable", [
    (datasets.load_mnist, "SKAE_MNIST_PATH"),
    (datasets.load_fashion_mnist, "SKAE_FASHION_MNIST_PATH"),
])  # fmt: skip
def test_offline_without_file_says_how_to_point_at_one(monkeypatch, loader, variable):
    import keras

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.delenv(variable, raising=False)
    name = loader.__name__.removeprefix("load_")
    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", offline)
    with pytest.raises(datasets.DatasetUnavailableError, match=variable) as info:
        loader()
    assert "path=" in str(info.value) and "unreachable" in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No data file"):
        datasets.load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="lacks x_train, y_train, x_test, y_test"):
        datasets.load_npz(tmp_path / "wrong.npz")
    z = np.zeros((2, 3))
    np.savez(tmp_path / "short.npz", x_train=z, y_train=[1], x_test=z, y_test=[1, 2])
    with pytest.raises(ValueError, match="x_train has 2 rows but y_train has 1"):
        datasets.load_npz(tmp_path / "short.npz")
    np.savez(tmp_path / "range.npz", x_train=z + 5, y_train=[1, 2], x_test=z,
             y_test=[1, 2])  # fmt: skip
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        datasets.load_npz(tmp_path / "range.npz")


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="no shared MNIST file")
def test_real_mnist_file():
    (X_train, y_train), (X_test, y_test) = datasets.load_mnist(SHARED_MNIST)
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.float32 and X_train.max() == 1
    assert set(np.unique(y_test)) == set(range(10))


def _write(path, kind):
    z, y = np.zeros((4, 3, 3)), np.zeros(4)
    if kind == "text":
        path.write_text("hello")
        return
    if kind == "npy":
        with open(path, "wb") as f:
            np.save(f, z)
        return
    arrays = {"x_train": z, "y_train": y, "x_test": z, "y_test": y}
    if kind == "strings":
        arrays["x_test"] = np.array([["a"]] * 4)
    elif kind == "objects":
        arrays["x_train"] = np.array([None] * 4)
    elif kind == "empty":
        arrays["x_train"], arrays["y_train"] = np.zeros((0, 3, 3)), np.zeros(0)
    elif kind == "nan":
        arrays["x_train"] = z + np.nan
    elif kind == "inf":
        arrays["x_test"] = np.full((4, 3, 3), np.inf, dtype=np.float32)
    elif kind == "scalar":
        arrays["x_train"] = np.float64(1)
    elif kind == "features":
        arrays["x_test"] = np.zeros((4, 4, 4))
    elif kind == "complex":
        arrays["x_train"] = z + 0j
    np.savez(path, **arrays)  # pickles the object array: load_npz must not load it


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", r"is not a \.npz file: expected a zip archive of arrays"),
        ("npy", r"is not a \.npz file"),
        ("strings", "x_test holds <U1 values, not numbers"),
        ("objects", "cannot read x_train: Object arrays cannot be loaded"),
        ("empty", "x_train has no rows"),
        ("nan", "x_train contains NaN or infinity"),
        ("inf", "x_test contains NaN or infinity"),
        ("scalar", r"x_train must have one row per sample, shape \(n_samples, "),
        ("features", "x_train has 9 values per sample but x_test has 16"),
        ("complex", "x_train holds complex128 values, not numbers"),
    ],
)
def test_unusable_files_say_what_is_wrong(tmp_path, kind, message):
    path = tmp_path / "data.npz"
    _write(path, kind)
    with pytest.raises(ValueError, match=message):
        datasets.load_npz(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (slice(0, 8), r"is not a readable \.npz file"),  # no zip magic at the start
        (slice(60, 68), r"cannot read x_train: Bad CRC-32"),
        (slice(-22, None), r"is not a \.npz file"),  # no zip directory at the end
    ],
)
def test_damaged_file(tmp_path, tiny_npz, damage, message):
    raw = bytearray(tiny_npz.read_bytes())
    raw[damage] = b"\xff" * len(raw[damage])
    path = tmp_path / "damaged.npz"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=message):
        datasets.load_npz(path)
