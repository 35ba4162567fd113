import functools

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse

from skae import AutoencoderTransformer, _pipeline, _training
from skae._data import Batches
from skae._noise import corrupt

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the tf.data path is TF's"
)


def served(dataset):
    return [tuple(np.asarray(t) for t in tf.nest.flatten(b)) for b in dataset]


def wanted(batches):
    return [
        tuple(np.asarray(a) for a in tf.nest.flatten(batches[i]))
        for i in range(len(batches))
    ]


def test_dataset_serves_the_batches_of_the_current_epoch():
    X = np.arange(40, dtype=np.uint8).reshape(20, 2)
    w = np.linspace(0.5, 2, 20)
    b = Batches(X, np.arange(20), 6, dtype="float32", sample_weight=w, seed=0)
    ds = _pipeline.tf_dataset(b)
    assert int(ds.cardinality()) == len(b) == 4
    for epoch in (0, 1, 5):
        b.set_epoch(epoch)
        got, want = served(ds), wanted(b)
        assert len(got) == len(want)
        for g, e in zip(got, want, strict=True):
            for a, c in zip(g, e, strict=True):
                assert a.dtype == c.dtype == np.float32
                assert_array_equal(a, c)
    assert not np.array_equal(served(ds)[0][0], wanted(Batches(X, np.arange(20), 6,
                              dtype="float32", seed=0))[0][0])  # fmt: skip


def test_dataset_keeps_noise_and_multi_output_targets():
    X = np.random.default_rng(0).uniform(size=(10, 4)).astype(np.float32)

    def targets(x):
        return (x, x.sum(axis=1, keepdims=True))

    b = Batches(X, np.arange(10), 4, dtype="float32", seed=3, targets=targets,
                corrupt=lambda x, rng: corrupt(x, "masking", 0.5, rng))  # fmt: skip
    b.set_epoch(2)
    first = next(iter(_pipeline.tf_dataset(b)))
    x_in, (y, total) = first
    want_in, (want_y, want_total) = b[0]
    assert_array_equal(x_in, want_in)
    assert_array_equal(y, want_y)
    assert_array_equal(total, want_total)
    assert total.shape == (4, 1)


def test_other_backends_and_tf_data_false_get_the_pydataset(monkeypatch):
    b = Batches(np.ones((4, 2)), np.arange(4), 2, dtype="float32")
    assert isinstance(_pipeline.fit_input(b), tf.data.Dataset)
    assert _pipeline.fit_input(b, tf_data=False) is b
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert _pipeline.fit_input(b) is b
    assert _pipeline.fit_input(b, tf_data=True) is b


def test_the_two_feeds_train_a_keras_model_bitwise_alike(X_small):
    # fit_input's parameter alone picks the feed: no module state changes.
    w = np.random.default_rng(1).uniform(0.1, 3, size=len(X_small))
    weights = []
    for tf_data in (True, False):
        b = Batches(X_small, np.arange(len(X_small)), 16, dtype="float32",
                    sample_weight=w, seed=0)  # fmt: skip
        inputs = keras.Input((X_small.shape[1],))
        init = keras.initializers.GlorotUniform(seed=0)
        hidden = keras.layers.Dense(4, "relu", kernel_initializer=init)(inputs)
        model = keras.Model(
            inputs, keras.layers.Dense(10, kernel_initializer=init)(hidden)
        )
        model.compile(optimizer="adam", loss="mse")
        set_epoch = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs, b=b: b.set_epoch(epoch)
        )
        model.fit(_pipeline.fit_input(b, tf_data=tf_data), epochs=3, verbose=0,
                  shuffle=False, callbacks=[set_epoch])  # fmt: skip
        weights.append(model.get_weights())
    for w_a, w_b in zip(*weights, strict=True):
        assert_array_equal(w_a, w_b)


def fit_both_ways(monkeypatch, X, fit=None, **params):
    """Weights, loss curve and validation scores from the two data paths.

    Training calls ``fit_input(batches)``; here it gets ``tf_data`` passed on.
    """
    defaults = dict(n_components=2, hidden_layer_sizes=(8,), epochs=3, batch_size=16,
                    random_state=0)  # fmt: skip
    out = []
    for tf_data in (True, False):
        feed = functools.partial(_pipeline.fit_input, tf_data=tf_data)
        monkeypatch.setattr(_training, "fit_input", feed)
        ae = AutoencoderTransformer(**{**defaults, **params})
        fit(ae, X) if fit else ae.fit(X)
        out.append((ae.model_.get_weights(), ae.loss_curve_, ae.validation_scores_))
    return out


def assert_same(a, b):
    for w_a, w_b in zip(a[0], b[0], strict=True):
        assert_array_equal(w_a, w_b)
    assert a[1:] == b[1:]


@pytest.mark.parametrize(
    "case",
    [
        "float64_weighted",
        *(
            pytest.param(case, marks=pytest.mark.slow)
            for case in ("float32", "uint8_memmap", "sparse", "noise_early_stopping")
        ),
    ],
)
def test_tf_data_trains_bitwise_like_the_pydataset(monkeypatch, X_small, tmp_path,
                                                   case):  # fmt: skip
    # Same batches into the same compiled step: exact equality, not a tolerance.
    params, fit_kw = {}, {}
    X = X_small
    if case == "float64_weighted":
        X = X_small.astype(np.float64)
        w = np.random.default_rng(1).uniform(0.1, 3, size=len(X))
        fit_kw = {"sample_weight": w}
    elif case == "uint8_memmap":
        path = tmp_path / "X.npy"
        m = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=X.shape)
        m[:] = (X * 255).astype(np.uint8)
        m.flush()
        X = np.load(path, mmap_mode="r")
    elif case == "sparse":
        X = sparse.csr_matrix(np.where(X_small > 0.5, X_small, 0))
    elif case == "noise_early_stopping":
        params = dict(noise="masking", noise_level=0.3, early_stopping=True,
                      validation_fraction=0.2, dropout=0.1)  # fmt: skip

    def fit(ae, X):
        return ae.fit(X, **fit_kw)

    a, b = fit_both_ways(monkeypatch, X, fit=fit, **params)
    assert_same(a, b)


@pytest.mark.slow
def test_partial_fit_epochs_match_across_paths(monkeypatch, X_small):
    def three_calls(ae, X):
        for _ in range(3):
            ae.partial_fit(X)

    a, b = fit_both_ways(monkeypatch, X_small, fit=three_calls)
    assert_same(a, b)
    assert len(a[1]) == 3
