"""The PCA that a PCA-anchored autoencoder starts from (``init="pca"``).

Fitted in float64 on the training rows only (the validation rows of early
stopping stay unseen), weighted by ``sample_weight``, and streamed: the data
is read one block of rows at a time, converted to float64 per block, so a
memory-mapped, sparse or integer ``X`` is never copied whole.

Up to ``EXACT_MAX_FEATURES`` features the covariance matrix is accumulated in
one pass and diagonalized exactly: the same components as
:class:`sklearn.decomposition.PCA` with the full solver. Above it, a seeded
subspace iteration on the covariance (a few passes, each ``X.T @ (X @ V)``
block by block) keeps memory at ``n_features x (n_components + 10)`` values.

No Keras here: the result is plain NumPy arrays for ``_models``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._memmap import float64_blocks

#: Largest number of features whose covariance matrix is formed exactly
#: (2048 ** 2 float64 values are 32 MB).
EXACT_MAX_FEATURES = 2048

#: Extra directions and passes of the subspace iteration above it.
OVERSAMPLING, N_PASSES = 10, 6


@dataclass(frozen=True)
class LinearPath:
    """A PCA as the linear path of an autoencoder.

    ``encode(x) = (x - mean) @ components.T`` and ``decode(z) = z @ components
    + mean``. ``components`` has one row per code value; rows beyond the rank
    of the training data (or beyond ``n_features``) are zero.
    """

    mean: np.ndarray  # (n_features,)
    components: np.ndarray  # (n_components, n_features)
    explained_variance: np.ndarray  # (n_components,)


def _moments(X, rows, weights):
    """Weighted mean and (uncentered) second moment ``X.T W X / sum(w)``."""
    n_features = X.shape[1]
    total = np.zeros(n_features)
    gram = np.zeros((n_features, n_features))
    for block, w in float64_blocks(X, rows, weights):
        total += w @ block
        gram += (block * w[:, None]).T @ block
    w_sum = float(np.sum(weights))
    return total / w_sum, gram / w_sum


def _covariance_times(X, rows, weights, mean, V):
    """Return ``Cov @ V`` for the weighted covariance of ``X[rows]``, streamed."""
    out = np.zeros_like(V)
    for block, w in float64_blocks(X, rows, weights):
        block = block - mean
        out += block.T @ ((block @ V) * w[:, None])
    return out / float(np.sum(weights))


def _mean(X, rows, weights):
    total = np.zeros(X.shape[1])
    for block, w in float64_blocks(X, rows, weights):
        total += w @ block
    return total / float(np.sum(weights))


def _flip_signs(components):
    """Make the largest-magnitude entry of each component positive (as PCA)."""
    if components.size:
        largest = np.argmax(np.abs(components), axis=1)
        signs = np.sign(components[np.arange(len(components)), largest])
        signs[signs == 0] = 1
        components *= signs[:, None]
    return components


def fit_pca(X, rows, n_components, *, sample_weight=None, seed=0) -> LinearPath:
    """Fit a PCA of ``n_components`` on the rows ``rows`` of ``X``.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Any numeric dtype, a memmap or a scipy sparse matrix.
    rows : ndarray of int
        The training rows.
    n_components : int
        Components wanted; those beyond what the data has are zero.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights of the rows (indexed like ``X``).
    seed : int
        Seeds the start of the subspace iteration (wide data only).

    Returns
    -------
    path : LinearPath
    """
    n_features = X.shape[1]
    weights = (
        np.ones(len(rows))
        if sample_weight is None
        else np.asarray(sample_weight, dtype=np.float64)[rows]
    )
    k = min(n_components, n_features, len(rows))
    if n_features <= EXACT_MAX_FEATURES:
        mean, second = _moments(X, rows, weights)
        cov = second - np.outer(mean, mean)
        values, vectors = np.linalg.eigh((cov + cov.T) / 2)
        order = np.argsort(values)[::-1][:k]
        values, vectors = values[order], vectors[:, order]
    else:
        mean = _mean(X, rows, weights)
        rng = np.random.default_rng([seed, 7])
        width = min(k + OVERSAMPLING, n_features)
        V = np.linalg.qr(rng.standard_normal((n_features, width)))[0]
        for _ in range(N_PASSES):
            V = np.linalg.qr(_covariance_times(X, rows, weights, mean, V))[0]
        # Rayleigh-Ritz: the best k directions within the subspace found.
        small = V.T @ _covariance_times(X, rows, weights, mean, V)
        values, inner = np.linalg.eigh((small + small.T) / 2)
        order = np.argsort(values)[::-1][:k]
        values, vectors = values[order], V @ inner[:, order]
    components = np.zeros((n_components, n_features))
    components[:k] = _flip_signs(np.ascontiguousarray(vectors.T))
    variance = np.zeros(n_components)
    variance[:k] = np.maximum(values, 0)
    return LinearPath(mean=mean, components=components, explained_variance=variance)
