"""Image data sets, flattened to rows and scaled to [0, 1] float32.

:func:`load_digits` ships with scikit-learn and works offline; it is the
default everywhere in skae. :func:`load_mnist` and :func:`load_fashion_mnist`
read a local ``.npz`` in Keras's layout, or download through
``keras.datasets`` when no file is given.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "DatasetUnavailableError",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_npz",
]

#: Environment variables naming a local copy of each data set.
PATH_VARIABLES = {
    "mnist": "SKAE_MNIST_PATH",
    "fashion_mnist": "SKAE_FASHION_MNIST_PATH",
}

_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetUnavailableError(OSError):
    """A data set could be neither read locally nor downloaded."""


def load_digits():
    """Load scikit-learn's bundled 8x8 digits, scaled to [0, 1].

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float32
        Pixel intensities divided by 16.
    y : ndarray of shape (1797,)
        The digit shown in each image.

    Examples
    --------
    >>> from skae.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, X.dtype, float(X.max())
    ((1797, 64), dtype('float32'), 1.0)
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    data = sklearn_load_digits()
    return (data.data / 16).astype(np.float32), data.target


def _scale(images):
    x = np.asarray(images)
    x = x.reshape(len(x), -1)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            "Expected uint8 images (0-255) or floats already in [0, 1]; got "
            f"values in [{x.min()}, {x.max()}]."
        )
    return x


def load_npz(path):
    """Read a ``.npz`` in Keras's layout and return flattened, scaled splits.

    Parameters
    ----------
    path : str or path-like
        A file with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``,
        as saved by ``numpy.savez`` from ``keras.datasets.*.load_data()``.
        Images may be uint8 (scaled by 1/255) or floats in [0, 1].

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuple of tuples of ndarray
        ``X_*`` of shape (n_samples, height * width), float32 in [0, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No data file at {str(path)!r}.")
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in _KEYS if key not in data.files]
        if missing:
            raise ValueError(
                f"{str(path)!r} is not in Keras's layout: it lacks "
                f"{', '.join(missing)} (has {', '.join(data.files) or 'nothing'})."
            )
        x_train, y_train, x_test, y_test = (data[key] for key in _KEYS)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise ValueError(
                f"{str(path)!r}: x_{split} has {len(x)} rows but y_{split} "
                f"has {len(y)}."
            )
    return (_scale(x_train), y_train), (_scale(x_test), y_test)


def _load(name, path):
    variable = PATH_VARIABLES[name]
    path = path if path is not None else os.environ.get(variable)
    if path:
        return load_npz(path)
    try:
        import keras

        splits = getattr(keras.datasets, name).load_data()
    except Exception as exc:
        raise DatasetUnavailableError(
            f"Could not download {name} through keras.datasets ({exc}). Point "
            f"skae at a local copy instead: load_{name}(path='{name}.npz') or "
            f"set the environment variable {variable}=/path/to/{name}.npz "
            "(a .npz with x_train, y_train, x_test, y_test, Keras's layout)."
        ) from exc
    (x_train, y_train), (x_test, y_test) = splits
    return (_scale(x_train), y_train), (_scale(x_test), y_test)


def load_mnist(path=None):
    """Load MNIST (70,000 28x28 handwritten digits), flattened and in [0, 1].

    Parameters
    ----------
    path : str or path-like, default=None
        A local ``.npz`` in Keras's layout (see :func:`load_npz`). When None,
        the environment variable ``SKAE_MNIST_PATH`` is used if set, else
        ``keras.datasets.mnist`` downloads (and caches) the data.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuple of tuples of ndarray
        ``X_*`` of shape (n_samples, 784), float32 in [0, 1].

    Raises
    ------
    DatasetUnavailableError
        When there is no local file and the download fails (e.g. offline).
    """
    return _load("mnist", path)


def load_fashion_mnist(path=None):
    """Load Fashion-MNIST (70,000 28x28 clothing images), flattened, in [0, 1].

    Parameters
    ----------
    path : str or path-like, default=None
        A local ``.npz`` in Keras's layout (see :func:`load_npz`). When None,
        the environment variable ``SKAE_FASHION_MNIST_PATH`` is used if set,
        else ``keras.datasets.fashion_mnist`` downloads (and caches) the data.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuple of tuples of ndarray
        ``X_*`` of shape (n_samples, 784), float32 in [0, 1].

    Raises
    ------
    DatasetUnavailableError
        When there is no local file and the download fails (e.g. offline).
    """
    return _load("fashion_mnist", path)
