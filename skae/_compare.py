"""Side-by-side measurement of dimensionality reducers: ``compare_reducers``.

Measures only; it never prints or plots (see :mod:`skae.plotting`).
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_array

from ._compat import Interval, StrOptions, validate_params
from ._noise import NOISE_KINDS, add_noise

#: Columns of the table, in order; the last three only with noise.
COLUMNS = (
    "reducer",
    "n_components",
    "fit_s",
    "transform_ms_per_1000",
    "mse",
    "explained_variance",
    "noisy_mse",
    "psnr",
    "input_psnr",
)


def _n_components_param(name, estimator):
    """Return the name of the n_components parameter of ``estimator``."""
    names = [
        p
        for p in estimator.get_params(deep=True)
        if p == "n_components" or p.endswith("__n_components")
    ]
    if len(names) != 1:
        found = "none" if not names else ", ".join(names)
        raise ValueError(
            f"Reducer {name!r} must have exactly one n_components parameter to "
            f"sweep n_components over; found {found}."
        )
    return names[0]


def _psnr(mse, data_range):
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def _named(reducers):
    items = list(reducers.items()) if isinstance(reducers, dict) else list(reducers)
    if not items:
        raise ValueError("reducers is empty: give at least one, e.g. {'PCA': PCA()}.")
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(
                "reducers must be a dict {name: estimator} or a list of "
                f"(name, estimator) pairs; got the item {item!r}."
            )
        name, est = item
        missing = [
            m for m in ("fit", "transform", "inverse_transform") if not hasattr(est, m)
        ]
        if missing:
            raise TypeError(
                f"Reducer {name!r} ({type(est).__name__}) lacks "
                f"{', '.join(missing)}; compare_reducers needs transformers that "
                "can reconstruct their input (e.g. KernelPCA needs "
                "fit_inverse_transform=True)."
            )
    names = [name for name, _ in items]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"reducers must have distinct names; {', '.join(map(repr, repeated))} "
            "is given more than once."
        )
    return items


@validate_params(
    {
        "reducers": [dict, list],
        "X_train": ["array-like"],
        "X_test": ["array-like"],
        "n_components": ["array-like", None],
        "noise": [StrOptions(set(NOISE_KINDS)), None],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "clip": [tuple, None],
        "random_state": ["random_state"],
        "progress": [callable, None],
        "return_estimators": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def compare_reducers(
    reducers,
    X_train,
    X_test,
    *,
    n_components=None,
    noise=None,
    noise_level=0.1,
    clip=None,
    random_state=None,
    progress=None,
    return_estimators=False,
):
    """Fit reducers on ``X_train`` and measure how well they reconstruct ``X_test``.

    Parameters
    ----------
    reducers : dict of str to estimator, or list of (str, estimator)
        Named scikit-learn transformers with ``inverse_transform``: PCA,
        ``KernelPCA(fit_inverse_transform=True)``, TruncatedSVD,
        :class:`AutoencoderTransformer`, Pipelines of them... Each is cloned,
        never fitted itself.
    X_train : array-like of shape (n_train, n_features)
        Data the reducers are fitted on, as given (pass noisy data here to fit
        on noisy data; a denoising autoencoder adds its own training noise).
    X_test : array-like of shape (n_test, n_features)
        Clean held-out data.
    n_components : sequence of int, default=None
        Sweep each reducer over these code widths (its one ``n_components``
        parameter, found in a Pipeline too). None keeps each reducer's own.
    noise : {"gaussian", "masking", "salt_and_pepper"} or None, default=None
        Also measure denoising: corrupt ``X_test`` with :func:`skae.add_noise`
        and compare the reconstruction of the noisy input with the clean data.
    noise_level : float, default=0.1
        Strength of the test noise.
    clip : tuple (low, high) or None, default=None
        Clip the noisy test data to this range (e.g. ``(0, 1)`` for images).
    random_state : int, RandomState instance or None, default=None
        Seeds the test noise (the reducers keep their own random_state).
    progress : callable, default=None
        Called with each row (a dict) as soon as it is measured, e.g. to
        report progress of a long comparison.
    return_estimators : bool, default=False
        Also return the fitted reducers, e.g. to plot their reconstructions.

    Returns
    -------
    results : pandas.DataFrame or list of dict
        One row per reducer and ``n_components``, a DataFrame when pandas is
        installed. Columns: ``reducer``, ``n_components``, ``fit_s`` (fit
        seconds), ``transform_ms_per_1000`` (milliseconds to transform 1,000
        test samples, after one untimed warm-up call on a single row),
        ``mse`` (test reconstruction mean squared error),
        ``explained_variance`` (``1 - SSE / SST`` of the test reconstruction,
        PCA's explained variance ratio for PCA); with ``noise`` also
        ``noisy_mse`` and ``psnr`` (of the reconstruction of the noisy input
        against the clean data, PSNR over the clean data's range) and
        ``input_psnr`` (of the noisy input itself).
    estimators : dict of (str, int) to estimator
        Only with ``return_estimators=True``: each fitted reducer, keyed by
        its name and ``n_components``.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from skae import compare_reducers
    >>> from skae.datasets import load_digits
    >>> X, _ = load_digits()
    >>> table = compare_reducers({"PCA": PCA()}, X[:1500], X[1500:],
    ...                          n_components=[8, 16])
    >>> [round(float(v), 2) for v in table["explained_variance"]]
    [0.65, 0.83]

    The PCA-anchored default autoencoder against PCA and against the same
    autoencoder from random weights (few epochs here, to be quick):

    >>> import warnings
    >>> from skae import AutoencoderTransformer
    >>> def ae(init):
    ...     return AutoencoderTransformer(hidden_layer_sizes=(32,), epochs=3,
    ...                                   init=init, random_state=0)
    >>> reducers = {"PCA": PCA(), "AE": ae("auto"), "AE random": ae("random")}
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     table = compare_reducers(reducers, X[:1500], X[1500:], n_components=[8])
    >>> mse = dict(zip(table["reducer"], table["mse"]))
    >>> bool(mse["AE"] < mse["PCA"] < mse["AE random"])
    True
    """
    items = _named(reducers)
    X_train = check_array(X_train, dtype=[np.float64, np.float32])
    X_test = check_array(X_test, dtype=[np.float64, np.float32])
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"X_train has {X_train.shape[1]} features but X_test has {X_test.shape[1]}."
        )
    widths = [None] if n_components is None else list(n_components)
    if not widths or (
        not all(
            isinstance(k, Integral) and not isinstance(k, bool) and k >= 1
            for k in widths
        )
        and widths != [None]
    ):
        raise ValueError(
            f"n_components must be a sequence of positive integers; got {widths!r}."
        )
    # Every reducer's n_components parameter is found before any is fitted.
    params = {
        name: None if widths == [None] else _n_components_param(name, reducer)
        for name, reducer in items
    }

    clean = X_test.astype(np.float64)
    sst = float(np.sum((clean - clean.mean(axis=0)) ** 2))
    data_range = float(clean.max() - clean.min())
    X_noisy = None
    if noise is not None:
        X_noisy = add_noise(X_test, noise, noise_level, random_state, clip=clip)
        input_mse = float(np.mean((X_noisy - clean) ** 2))

    rows, fitted = [], {}
    for name, reducer in items:
        param = params[name]
        for k in widths:
            est = clone(reducer)
            if k is not None:
                est.set_params(**{param: k})
            row = _measure(est, X_train, X_test, clean, sst)
            row = {"reducer": name, "n_components": _width(est, k), **row}
            if X_noisy is not None:
                recon = np.asarray(est.inverse_transform(est.transform(X_noisy)))
                noisy_mse = float(np.mean((recon - clean) ** 2))
                row["noisy_mse"] = noisy_mse
                row["psnr"] = _psnr(noisy_mse, data_range)
                row["input_psnr"] = _psnr(input_mse, data_range)
            rows.append(row)
            fitted[name, row["n_components"]] = est
            if progress is not None:
                progress(dict(row))
    table = _as_table(rows)
    return (table, fitted) if return_estimators else table


def _as_table(rows):
    """Return ``rows`` as a DataFrame when pandas is installed, else as is."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=[c for c in COLUMNS if c in rows[0]])


def _width(est, k):
    if k is not None:
        return k
    params = est.get_params(deep=True)
    widths = [
        v
        for p, v in params.items()
        if p == "n_components" or p.endswith("__n_components")
    ]
    return widths[0] if len(widths) == 1 else None


def _measure(est, X_train, X_test, clean, sst):
    start = time.perf_counter()
    est.fit(X_train)
    fit_s = time.perf_counter() - start
    est.transform(X_test[:1])  # one-time set-up (e.g. tracing) is not timed
    start = time.perf_counter()
    Z = est.transform(X_test)
    transform_s = time.perf_counter() - start
    recon = np.asarray(est.inverse_transform(Z), dtype=np.float64)
    sse = float(np.sum((recon - clean) ** 2))
    return {
        "fit_s": fit_s,
        "transform_ms_per_1000": 1e6 * transform_s / len(X_test),
        "mse": sse / clean.size,
        "explained_variance": 1 - sse / sst if sst > 0 else float("nan"),
    }
