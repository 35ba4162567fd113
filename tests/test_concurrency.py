"""Threads and several estimators in one process.

A fitted estimator serves ``transform`` from many threads at once, and
estimators fitted side by side, in turn or in parallel threads, do not change
each other's results: everything random comes from each estimator's own seed.
"""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer

N_THREADS, N_CALLS = 8, 20

#: Settings of the second estimator: a different seed, dropout and noise.
OTHER = dict(random_state=1, dropout=0.2, noise="gaussian", noise_level=0.3)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(160, 10)).astype(np.float32)


def _fit(X, **params):
    defaults = dict(
        n_components=3, hidden_layer_sizes=(16,), epochs=3, batch_size=16,
        random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(**{**defaults, **params}).fit(X)


def assert_bitwise_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.tobytes() != b.tobytes():
        diff = np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))
        raise AssertionError(f"not bitwise equal; max abs difference {diff:.3g}")


def assert_same_weights(est, twin):
    weights, twin_weights = est.model_.get_weights(), twin.model_.get_weights()
    for w, w_twin in zip(weights, twin_weights, strict=True):
        assert_bitwise_equal(w, w_twin)


def test_transform_from_threads_equals_serial(X):
    est = _fit(X)
    slices = np.array_split(np.arange(len(X)), N_THREADS)
    start = threading.Barrier(N_THREADS)

    def work(rows):
        start.wait()  # all threads call at once, the very first calls included
        return [
            (est.transform(X[rows]), est.inverse_transform(X[rows, :3]),
             est.score_samples(X[rows]))
            for _ in range(N_CALLS)
        ]  # fmt: skip

    # The threads make the first inference calls of this estimator, so they
    # also race to build Keras's predict functions.
    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(work, slices))
    for rows, calls in zip(slices, results, strict=True):
        serial = (
            est.transform(X[rows]), est.inverse_transform(X[rows, :3]),
            est.score_samples(X[rows]),
        )  # fmt: skip
        for call in calls:
            for threaded, expected in zip(call, serial, strict=True):
                assert_bitwise_equal(threaded, expected)


def test_estimators_do_not_interfere(X):
    a = _fit(X)
    codes = a.transform(X)
    b = _fit(X, **OTHER)
    assert not np.array_equal(b.transform(X), codes)
    assert_bitwise_equal(a.transform(X), codes)
    assert_bitwise_equal(_fit(X).transform(X), codes)


def test_interleaved_partial_fit_equals_partial_fit_alone(X):
    def new(**params):
        return AutoencoderTransformer(
            n_components=3, hidden_layer_sizes=(16,), batch_size=16, **params
        )

    alone, a, b = new(random_state=0), new(random_state=0), new(**OTHER)
    for _ in range(3):
        alone.partial_fit(X)
    for _ in range(3):
        a.partial_fit(X)
        b.partial_fit(X)
    assert_same_weights(a, alone)


def test_fits_in_two_threads_equal_serial_fits(X):
    settings = [dict(random_state=0), OTHER]
    start = threading.Barrier(len(settings))

    def work(params):
        start.wait()
        return _fit(X, **params)

    with ThreadPoolExecutor(len(settings)) as pool:
        threaded = list(pool.map(work, settings))
    serial = [_fit(X, **params) for params in settings]
    for est, twin in zip(threaded, serial, strict=True):
        assert est.n_iter_ == twin.n_iter_ == 3
        assert_same_weights(est, twin)
        assert_bitwise_equal(est.transform(X), twin.transform(X))
