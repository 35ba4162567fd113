"""Corruption of inputs, for denoising autoencoders and noisy test sets.

One definition of each kind of noise serves both the estimators (which corrupt
each training batch afresh) and :func:`add_noise` (which corrupts a data set),
so a noisy test set means exactly what training meant.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from sklearn.utils.validation import check_array

from ._compat import Interval, StrOptions, validate_params
from ._random import rng_from

NOISE_KINDS = ("gaussian", "masking", "salt_and_pepper")


def check_level(kind, level, name="level"):
    """Raise if ``level`` is a share (masking, salt and pepper) above 1."""
    if kind not in (None, "gaussian") and level > 1:
        raise ValueError(
            f"{name} is the share of values corrupted by {kind!r} noise and "
            f"must be at most 1; got {level}."
        )


def check_clip(clip, name="clip"):
    """Raise unless ``clip`` is None or two finite numbers with low < high."""
    if clip is None:
        return
    values = tuple(clip)
    if len(values) != 2:
        raise ValueError(f"{name} must be a pair (low, high) or None; got {clip!r}.")
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must be two numbers (low, high); got {clip!r}.")
    low, high = (float(v) for v in values)
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(
            f"{name}=(low, high) needs finite numbers with low < high; got {clip!r}."
        )


def corrupt(x, kind, level, rng, *, low=None, high=None, clip=None):
    """Return a corrupted copy of the 2-D float array ``x``.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features)
        Clean data; not modified.
    kind : {"gaussian", "masking", "salt_and_pepper"}
        ``"gaussian"`` adds N(0, level**2) to every value; ``"masking"`` sets a
        ``level`` share of the values to 0; ``"salt_and_pepper"`` sets a
        ``level`` share of the values to their feature's ``low`` or ``high``
        (each with probability 1/2).
    level : float
        Standard deviation (gaussian) or share of values hit (the others).
    rng : numpy.random.Generator
        Source of randomness.
    low, high : ndarray of shape (n_features,), optional
        Per-feature extremes for salt and pepper; default the batch's own.
    clip : tuple (low, high) or None
        Clip the result to this range.
    """
    if kind == "gaussian":
        out = x + rng.normal(0.0, level, size=x.shape).astype(x.dtype)
    else:
        hit = rng.random(size=x.shape) < level
        if kind == "masking":
            out = np.where(hit, np.zeros((), x.dtype), x)
        else:
            low = x.min(axis=0) if low is None else low
            high = x.max(axis=0) if high is None else high
            salt = rng.random(size=x.shape) < 0.5
            extremes = np.where(
                salt, np.asarray(high, x.dtype), np.asarray(low, x.dtype)
            )
            out = np.where(hit, extremes, x)
    return out if clip is None else np.clip(out, *clip).astype(x.dtype, copy=False)


@validate_params(
    {
        "X": ["array-like"],
        "kind": [StrOptions(set(NOISE_KINDS))],
        "level": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "clip": [tuple, None],
    },
    prefer_skip_nested_validation=True,
)
def add_noise(X, kind, level, random_state=None, *, clip=None):
    """Corrupt ``X`` the way a denoising autoencoder's training does.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Clean data. Not modified.
    kind : {"gaussian", "masking", "salt_and_pepper"}
        ``"gaussian"`` adds N(0, level**2) noise; ``"masking"`` sets a
        ``level`` share of the values to zero; ``"salt_and_pepper"`` sets a
        ``level`` share of the values to their column's minimum or maximum in
        ``X``.
    level : float
        Noise standard deviation (gaussian) or share of values corrupted
        (masking, salt and pepper; at most 1).
    random_state : int, RandomState instance or None, default=None
        Seeds the noise. None draws fresh entropy from the operating system
        (NumPy's global generator is not touched).
    clip : tuple (low, high) or None, default=None
        Clip the result to this range, e.g. ``(0, 1)`` for images.

    Returns
    -------
    X_noisy : ndarray of shape (n_samples, n_features)
        Corrupted data, float32 for float32 input and float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import add_noise
    >>> X = np.full((2, 4), 0.5)
    >>> add_noise(X, "masking", 0.5, random_state=0)
    array([[0. , 0. , 0.5, 0.5],
           [0.5, 0. , 0.5, 0.5]])
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    check_level(kind, level)
    check_clip(clip)
    return corrupt(X, kind, level, rng_from(random_state), clip=clip)
