import functools
import math

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    VariationalAutoencoderTransformer,
    _pipeline,
    _training,
)
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


#: skae's three ways of training on TensorFlow: its compiled loop, and
#: ``Model.fit`` fed the tf.data pipeline or the ``PyDataset``.
PATHS = ("compiled", "tf_data", "pydataset")


def fit_all_ways(monkeypatch, X, fit=None, **params):
    """Weights, loss curve and validation scores from each of :data:`PATHS`.

    Training takes ``Model.fit`` when ``compiled_loop_applies`` says so, and
    feeds it ``fit_input(batches)``; both are replaced here, one path at a time.
    """
    defaults = dict(n_components=2, hidden_layer_sizes=(8,), epochs=3, batch_size=16,
                    random_state=0)  # fmt: skip
    out = []
    for path in PATHS:
        with monkeypatch.context() as m:
            if path != "compiled":
                m.setattr(_training, "compiled_loop_applies", lambda *a: False)
                feed = functools.partial(_pipeline.fit_input, tf_data=path == "tf_data")
                m.setattr(_training, "fit_input", feed)
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
def test_the_three_paths_train_bitwise_alike(monkeypatch, X_small, tmp_path,
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

    compiled, *fitted = fit_all_ways(monkeypatch, X, fit=fit, **params)
    for other in fitted:
        assert_same(compiled, other)


def test_the_three_paths_train_bitwise_alike_through_xla(monkeypatch, X_small):
    # XLA compiles the same step function in skae's loop and in Model.fit.
    params = dict(jit_compile=True, early_stopping=True, validation_fraction=0.2)
    compiled, *fitted = fit_all_ways(monkeypatch, X_small, **params)
    for other in fitted:
        assert_same(compiled, other)
    again = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), epochs=3,
                                   batch_size=16, random_state=0, **params)  # fmt: skip
    assert again.fit(X_small).model_.jit_compile
    assert_same(compiled, (again.model_.get_weights(), again.loss_curve_,
                           again.validation_scores_))  # fmt: skip
    plain = fit_all_ways(monkeypatch, X_small, **{**params, "jit_compile": False})
    assert plain[0][1] != compiled[1]  # XLA's kernels round differently


@pytest.mark.parametrize(
    "cls, params",
    [
        (VariationalAutoencoderTransformer, {}),
        (AutoencoderOutlierDetector, {}),
        (AutoencoderTransformer, dict(architecture="conv", image_shape=(5, 6, 1))),
        (AutoencoderTransformer, dict(noise="gaussian", dropout=0.1, batch_norm=True)),
    ],
)
def test_every_model_trains_through_xla_reproducibly(cls, params):
    X = np.random.default_rng(0).random((200, 30)).astype(np.float32)
    params = dict(n_components=4, hidden_layer_sizes=(16,), epochs=2, batch_size=64,
                  random_state=0, jit_compile=True, **params)  # fmt: skip
    fits = [cls(**params).fit(X) for _ in range(2)]
    assert fits[0].model_.jit_compile
    for w_a, w_b in zip(*(f.model_.get_weights() for f in fits), strict=True):
        assert_array_equal(w_a, w_b)


def _dense(n_in, n_out):
    return keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(n_out)])


def test_when_auto_trains_through_xla(monkeypatch):
    big, small = _dense(600, 500), _dense(600, 400)  # 300,500 and 240,400 weights
    # Steps at which XLA's saving on ``big`` pays for its compile time.
    saving = (300_500 - _training.XLA_NO_GAIN_WEIGHTS) * _training.XLA_SAVING_PER_WEIGHT
    steps = math.ceil(_training.XLA_COMPILE_SECONDS / saving)
    few = steps - 1
    assert 1_000 < steps < 3_000
    assert _training.use_xla("auto", big, steps, distributed=False)
    assert not _training.use_xla("auto", big, few, distributed=False)
    assert not _training.use_xla("auto", small, 100 * steps, distributed=False)
    assert not _training.use_xla("auto", big, steps, distributed=True)
    assert not _training.use_xla("auto", big, steps, streamed=True)
    assert _training.use_xla(True, big, steps, streamed=True)
    assert _training.use_xla(True, small, 1, distributed=False)
    assert _training.use_xla(False, big, steps, distributed=False) is False
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert _training.use_xla("auto", big, steps, distributed=False) is None


def test_auto_never_compiles_your_own_networks():
    encoder = _dense(4, 2)
    assert AutoencoderTransformer()._jit_compile() == "auto"
    assert AutoencoderTransformer(encoder=encoder)._jit_compile() is False
    assert AutoencoderTransformer(encoder=encoder, jit_compile=True)._jit_compile()


@pytest.mark.slow
def test_partial_fit_epochs_match_across_paths(monkeypatch, X_small):
    def three_calls(ae, X):
        for _ in range(3):
            ae.partial_fit(X)

    compiled, *fitted = fit_all_ways(monkeypatch, X_small, fit=three_calls)
    for other in fitted:
        assert_same(compiled, other)
    assert len(compiled[1]) == 3


# -- skae's compiled loop -------------------------------------------------------


class _Recorder(keras.callbacks.Callback):
    """Records the calls a callback gets that are not about single batches."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _record(self, name, logs):
        self.calls.append((name, sorted(logs or {})))

    def on_train_begin(self, logs=None):
        self._record("train_begin", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._record(f"epoch_begin {epoch}", logs)

    def on_test_begin(self, logs=None):
        self._record("test_begin", logs)

    def on_test_end(self, logs=None):
        self._record("test_end", logs)

    def on_epoch_end(self, epoch, logs=None):
        self._record(f"epoch_end {epoch}", logs)
        self.calls.append(("logs", {k: v for k, v in logs.items()}))

    def on_train_end(self, logs=None):
        self._record("train_end", logs)


class _BatchWatcher(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_callbacks_see_what_model_fit_shows_them(monkeypatch, X_small):
    params = dict(n_components=2, hidden_layer_sizes=(8,), epochs=3, batch_size=16,
                  early_stopping=True, validation_fraction=0.25,
                  random_state=0)  # fmt: skip
    seen = []
    for compiled in (True, False):
        with monkeypatch.context() as m:
            if not compiled:
                m.setattr(_training, "compiled_loop_applies", lambda *a: False)
            recorder = _Recorder()
            AutoencoderTransformer(callbacks=[recorder], **params).fit(X_small)
        seen.append(recorder.calls)
    assert seen[0] == seen[1]
    names = [name for name, _ in seen[0]]
    assert names[:4] == ["train_begin", "epoch_begin 0", "test_begin", "test_end"]
    assert names[-1] == "train_end"
    assert seen[0][5] == ("logs", seen[1][5][1])
    assert set(seen[0][5][1]) == {"loss", "val_loss"}


def test_which_sessions_the_compiled_loop_trains():
    config = _training.TrainingConfig(epochs=1, batch_size=8, compilation=None)
    epoch_only = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None)
    assert _pipeline.compiled_loop_applies(config, [epoch_only])
    assert not _pipeline.compiled_loop_applies(config, [_BatchWatcher()])
    nan_stop = keras.callbacks.TerminateOnNaN()
    assert not _pipeline.compiled_loop_applies(config, [nan_stop])
    for change in ({"verbose": 1}, {"checkpoint_dir": "x"}, {"distribution": object()}):
        other = _training.TrainingConfig(**{**config.__dict__, **change})
        assert not _pipeline.compiled_loop_applies(other, [])


def test_a_callback_that_watches_batches_sees_every_batch(X_small):
    watcher = _BatchWatcher()
    AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), epochs=2,
                           batch_size=16, callbacks=[watcher]).fit(X_small)  # fmt: skip
    assert watcher.batches == 2 * -(-len(X_small) // 16)


def test_runs_of_any_size_train_alike(monkeypatch, X_small):
    # One batch per compiled call, or the whole epoch in one: the same model.
    weights = []
    for chunk_bytes in (1, _pipeline.CHUNK_BYTES):
        monkeypatch.setattr(_pipeline, "CHUNK_BYTES", chunk_bytes)
        ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), epochs=2,
                                    batch_size=16, random_state=0)  # fmt: skip
        ae.fit(X_small)
        weights.append(ae.model_.get_weights())
    for a, b in zip(*weights, strict=True):
        assert_array_equal(a, b)


def test_partial_fit_traces_the_loop_once(X_small):
    ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), batch_size=16,
                                random_state=0)  # fmt: skip
    for _ in range(3):
        ae.partial_fit(X_small)
    # One compiled training run, made at the first call and reused after.
    functions = _pipeline._LOOPS[ae.model_].functions
    assert [key[0] for key in functions] == ["train"]
    first = functions[next(iter(functions))]
    ae.partial_fit(X_small)
    assert functions[next(iter(functions))] is first


def test_a_model_and_its_loop_are_freed_together(X_small):
    import gc
    import weakref

    ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), epochs=1,
                                batch_size=16).fit(X_small)  # fmt: skip
    model = weakref.ref(ae.model_)
    assert model() in _pipeline._LOOPS
    del ae
    gc.collect()
    assert model() is None


def test_a_grid_search_warns_of_no_retracing(X_small):
    # Keras's predict_on_batch made TensorFlow log "... triggered tf.function
    # retracing" from the fifth new model on: its functions share their code.
    import logging
    import warnings

    from sklearn.model_selection import GridSearchCV

    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few epochs do not converge
            GridSearchCV(
                AutoencoderTransformer(
                    hidden_layer_sizes=(8,), epochs=1, batch_size=16
                ),
                {"n_components": [2, 3, 4, 5]},
                cv=3,
            ).fit(X_small)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in messages if "retracing" in m]


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer,
                                       VariationalAutoencoderTransformer])  # fmt: skip
def test_predictions_skip_the_binding_and_match_the_public_call(
    Estimator, X_small, monkeypatch
):
    est = Estimator(n_components=2, hidden_layer_sizes=(8,), epochs=1, batch_size=16,
                    random_state=0).fit(X_small)  # fmt: skip
    x = X_small[:5].astype("float32")
    fast = _pipeline.predict(est.encoder_, x)
    (function,) = _pipeline._LOOPS[est.encoder_].functions.values()
    assert hasattr(function, "_call_flat")  # every supported TensorFlow has it
    public = tf.nest.map_structure(np.asarray, function(tf.constant(x)))
    tf.nest.assert_same_structure(fast, public)
    for a, b in zip(tf.nest.flatten(fast), tf.nest.flatten(public), strict=True):
        assert_array_equal(a, b)
    # A TensorFlow without ``_call_flat`` gets the public call, alike.
    calls = []

    class Public:
        def __call__(self, *tensors):
            calls.append(len(tensors))
            return function(*tensors)

    out = _pipeline.call_flat(Public(), [tf.constant(x)])
    assert calls == [1]
    for a, b in zip(tf.nest.flatten(out), tf.nest.flatten(public), strict=True):
        assert_array_equal(np.asarray(a), b)
