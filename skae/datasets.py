"""Image data sets, flattened to rows and scaled to [0, 1] float32.

:func:`load_digits` ships with scikit-learn and works offline; it is the
default everywhere in skae. :func:`load_mnist` and :func:`load_fashion_mnist`
read a local ``.npz`` in Keras's layout, or download through
``keras.datasets`` when no file is given.
"""

from __future__ import annotations

import os
import zipfile
import zlib
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


def _scale(images, name="x"):
    x = np.asarray(images)
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have one row per sample, shape (n_samples, height, width) "
            f"or (n_samples, n_features); got shape {x.shape}."
        )
    if x.dtype.kind not in "biuf":  # bool, signed or unsigned integer, float
        raise ValueError(f"{name} holds {x.dtype} values, not numbers.")
    if len(x) == 0:
        raise ValueError(f"{name} has no rows.")
    x = x.reshape(len(x), -1)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name}: expected uint8 images (0-255) or floats already in [0, 1]; got "
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

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        When the file is not a readable ``.npz`` or lacks one of the four
        arrays, or when a split's images are not numbers, contain NaN or
        infinity, lie outside [0, 1] (0-255 for uint8), have no rows, or do
        not match the split's number of labels or the other split's number of
        pixels. The message names the file and the array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No data file at {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a .npz file: expected a zip archive of arrays, "
            "as numpy.savez writes."
        )
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError) as exc:  # ValueError: no zip magic
        raise ValueError(f"{str(path)!r} is not a readable .npz file: {exc}") from exc
    with data:
        missing = [key for key in _KEYS if key not in data.files]
        if missing:
            raise ValueError(
                f"{str(path)!r} is not in Keras's layout: it lacks "
                f"{', '.join(missing)} (has {', '.join(data.files) or 'nothing'})."
            )
        x_train, y_train, x_test, y_test = (_read(data, key, path) for key in _KEYS)
    return _splits(x_train, y_train, x_test, y_test, f"{str(path)!r}: ")


def _read(data, key, path):
    """Return the array ``key`` of an open ``.npz``, or raise a ValueError."""
    try:
        return data[key]
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        # ValueError: an object array, which would need unpickling; the others:
        # a damaged archive
        raise ValueError(f"{str(path)!r}: cannot read {key}: {exc}") from exc


def _splits(x_train, y_train, x_test, y_test, where=""):
    """Scale both splits; raise a ValueError naming what is unusable."""
    try:
        X_train, X_test = _scale(x_train, "x_train"), _scale(x_test, "x_test")
    except ValueError as exc:
        raise ValueError(f"{where}{exc}") from exc
    for X, y, split in ((X_train, y_train, "train"), (X_test, y_test, "test")):
        if np.ndim(y) == 0 or len(y) != len(X):
            rows = len(y) if np.ndim(y) else "no"
            raise ValueError(
                f"{where}x_{split} has {len(X)} rows but y_{split} has {rows}."
            )
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"{where}x_train has {X_train.shape[1]} values per sample but x_test has "
            f"{X_test.shape[1]}."
        )
    return (X_train, y_train), (X_test, y_test)


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
    return _splits(x_train, y_train, x_test, y_test)


#: The sections that the docstrings of the keras.datasets loaders share.
_LOADER_SECTIONS = """

    Parameters
    ----------
    path : str or path-like, default=None
        A local ``.npz`` in Keras's layout (see :func:`load_npz`). When None,
        the environment variable ``{variable}`` is used if set,
        else ``keras.datasets.{name}`` downloads (and caches) the data.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuple of tuples of ndarray
        ``X_*`` of shape (n_samples, 784), float32 in [0, 1].

    Raises
    ------
    DatasetUnavailableError
        When there is no local file and the download fails (e.g. offline).
    """


def _documented(name):
    """Append the shared sections, for data set ``name``, to a loader's docstring."""

    def decorate(loader):
        if loader.__doc__:  # None under python -OO
            loader.__doc__ += _LOADER_SECTIONS.format(
                name=name, variable=PATH_VARIABLES[name]
            )
        return loader

    return decorate


@_documented("mnist")
def load_mnist(path=None):
    """Load MNIST (70,000 28x28 handwritten digits), flattened and in [0, 1]."""
    return _load("mnist", path)


@_documented("fashion_mnist")
def load_fashion_mnist(path=None):
    """Load Fashion-MNIST (70,000 28x28 clothing images), flattened, in [0, 1]."""
    return _load("fashion_mnist", path)
