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
