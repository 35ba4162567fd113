import os
import random
import subprocess
import sys
import textwrap
import warnings

import joblib
import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skae import AutoencoderTransformer
from skae.exceptions import OutOfRangeWarning


def small(**params):
    defaults = dict(
        n_components=3, hidden_layer_sizes=(16,), epochs=2, batch_size=16,
        random_state=0,
    )  # fmt: skip
    return AutoencoderTransformer(**{**defaults, **params})


def fitted(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return small(**params).fit(X)


def weights(est):
    return [w.copy() for w in est.model_.get_weights()]


# -- basic contract -------------------------------------------------------------


def test_fit_transform_inverse_shapes_and_dtype(X_small):
    ae = fitted(X_small)
    Z = ae.transform(X_small)
    assert Z.shape == (60, 3) and Z.dtype == np.float32
    X_hat = ae.inverse_transform(Z)
    assert X_hat.shape == (60, 10) and X_hat.dtype == np.float32
    assert ae.n_features_in_ == 10
    assert ae.n_iter_ == 2 and len(ae.loss_curve_) == 2
    assert ae.history_["loss"] == ae.loss_curve_
    assert ae.validation_scores_ is None
    assert list(ae.get_feature_names_out()) == [
        "autoencodertransformer0", "autoencodertransformer1",
        "autoencodertransformer2",
    ]  # fmt: skip


def test_fit_transform_equals_fit_then_transform(X_small):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Z1 = small().fit_transform(X_small)
    assert_array_equal(Z1, fitted(X_small).transform(X_small))


def test_encoder_decoder_are_the_halves_of_the_model(X_small):
    import keras

    ae = fitted(X_small)
    recon = ae.model_(X_small, training=False)
    # The float32 sums of the PCA path and the residual may round differently
    # in one graph and in two.
    assert_allclose(
        keras.ops.convert_to_numpy(recon),
        ae.inverse_transform(ae.transform(X_small)),
        rtol=1e-5,
        atol=1e-6,
    )
    assert ae.encoder_.output_shape == (None, 3)
    assert ae.decoder_.output_shape == (None, 10)


def test_hidden_layers_mirrored_and_linear_code(X_small):
    ae = fitted(X_small, hidden_layer_sizes=(12, 7), init="random")
    units = [layer.units for layer in ae.encoder_.layers[1:]]
    assert units == [12, 7, 3]
    assert [layer.units for layer in ae.decoder_.layers[1:]] == [7, 12, 10]
    assert ae.encoder_.get_layer("code").get_config()["activation"] == "linear"


def test_no_hidden_layer(X_small):
    ae = fitted(X_small, hidden_layer_sizes=(), init="random")
    assert len(ae.encoder_.layers) == 2
    assert ae.transform(X_small).shape == (60, 3)


@pytest.mark.parametrize(
    "loss, expected", [("binary_crossentropy", "sigmoid"), ("mse", "linear")]
)
def test_output_activation_auto(X_small, loss, expected):
    ae = fitted(X_small, loss=loss)
    layer = ae.decoder_.get_layer("reconstruction")
    assert layer.get_config()["activation"] == expected


def test_input_dtypes_give_the_same_codes(X_small):
    ae = fitted(X_small)
    Z = ae.transform(X_small)
    assert_array_equal(ae.transform(X_small.astype(np.float64)), Z)
    X_int = (X_small * 10).astype(np.int64)
    with pytest.warns(OutOfRangeWarning, match="far outside the range"):
        Z_int = ae.transform(X_int)
    with pytest.warns(OutOfRangeWarning):
        assert_array_equal(Z_int, ae.transform(X_int.astype(np.float32)))


def test_dataframe_feature_names_and_pandas_output(X_small):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X_small, columns=[f"px{i}" for i in range(10)])
    ae = fitted(df)
    assert list(ae.feature_names_in_) == list(df.columns)
    out = ae.set_output(transform="pandas").transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"autoencodertransformer{i}" for i in range(3)]


def test_score_is_minus_mean_squared_reconstruction_error(X_small):
    ae = fitted(X_small)
    recon = ae.inverse_transform(ae.transform(X_small)).astype(np.float64)
    per_row = ((recon - X_small) ** 2).mean(axis=1)
    assert_allclose(ae.score_samples(X_small), -per_row, rtol=1e-6)
    assert ae.score(X_small) == pytest.approx(-per_row.mean(), rel=1e-6)
    w = np.arange(60, dtype=float)
    assert ae.score(X_small, sample_weight=w) == pytest.approx(
        -np.average(per_row, weights=w), rel=1e-6
    )


def test_training_reduces_reconstruction_error(digits):
    X, _ = digits
    # From random weights: a PCA-anchored model starts near its optimum.
    ae = small(n_components=8, hidden_layer_sizes=(32,), epochs=1, init="random").fit(X)
    first = ae.score(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae.set_params(epochs=15, warm_start=True).fit(X)
    assert ae.score(X) > first + 0.01


# -- reproducibility and global state -------------------------------------------


def test_same_random_state_is_bitwise_identical(X_small):
    params = dict(dropout=0.2, early_stopping=True, epochs=3)
    a = fitted(X_small, **params)
    b = fitted(X_small, **params)
    assert_array_equal(a.transform(X_small), b.transform(X_small))
    assert a.loss_curve_ == b.loss_curve_


def test_other_random_state_differs(X_small):
    a, b = fitted(X_small, random_state=0), fitted(X_small, random_state=1)
    assert not np.array_equal(a.transform(X_small), b.transform(X_small))


def test_random_state_none_varies_and_leaves_numpy_global_rng_alone(X_small):
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    a, b = fitted(X_small, random_state=None), fitted(X_small, random_state=None)
    assert_array_equal(np.random.get_state()[1], before)
    assert not np.array_equal(a.transform(X_small), b.transform(X_small))


def _global_state():
    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state
    from tensorflow.python.framework import config as tf_config

    generator = global_state.get_global_attribute("global_seed_generator")
    return {
        "numpy": np.random.get_state()[1].tolist(),
        "python": random.getstate(),
        "environ": dict(os.environ),
        "floatx": keras.config.floatx(),
        "determinism": tf_config.is_op_determinism_enabled(),
        "tf_seed": tf.random.get_global_generator().state.numpy().tolist(),
        "keras_seed": None if generator is None else generator.state.numpy().tolist(),
        "policy": keras.config.dtype_policy().name,
    }


@pytest.mark.parametrize("random_state", [0, None])
def test_fit_changes_no_process_wide_state(X_small, random_state):
    fitted(X_small)  # import and warm up Keras first
    before = _global_state()
    ae = fitted(X_small, random_state=random_state, dropout=0.3, early_stopping=True)
    ae.transform(X_small)
    ae.partial_fit(X_small)
    assert _global_state() == before


def test_import_does_not_load_tensorflow_or_keras():
    code = (
        "import sys, skae\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch')"
        " if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- persistence ------------------------------------------------------------------


def _transform_in_fresh_process(path, X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np
        est = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        out = est.transform(X) if hasattr(est, "transform") else est.predict(X)
        np.save({str(tmp_path / "out.npy")!r}, out)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    return np.load(tmp_path / "out.npy")


def test_joblib_round_trip_in_fresh_process(X_small, tmp_path):
    ae = fitted(X_small, dropout=0.1)
    joblib.dump(ae, tmp_path / "ae.joblib")
    out = _transform_in_fresh_process(tmp_path / "ae.joblib", X_small, tmp_path)
    assert_array_equal(out, ae.transform(X_small))


def test_pipeline_round_trip_in_fresh_process(digits, tmp_path):
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(),
        small(n_components=8, epochs=3),
        LogisticRegression(max_iter=300),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    codes = _transform_in_fresh_process(tmp_path / "pipe.joblib", X, tmp_path)
    assert_array_equal(codes, pipe.predict(X))
    pipe_t = Pipeline(pipe.steps[:2])
    joblib.dump(pipe_t, tmp_path / "pipe_t.joblib")
    out = _transform_in_fresh_process(tmp_path / "pipe_t.joblib", X, tmp_path)
    assert_array_equal(out, pipe_t.transform(X))


def test_pickle_keeps_optimizer_and_dropout_state_for_further_training(X_small):
    import pickle

    ae = fitted(X_small, dropout=0.3)
    copy = pickle.loads(pickle.dumps(ae))
    ae.partial_fit(X_small)
    copy.partial_fit(X_small)
    assert_array_equal(copy.transform(X_small), ae.transform(X_small))
    assert copy.loss_curve_ == ae.loss_curve_
    assert copy.n_iter_ == ae.n_iter_ == 3


# -- training options -------------------------------------------------------------


def test_partial_fit_one_epoch_at_a_time(X_small):
    ae = small()
    ae.partial_fit(X_small)
    w1 = weights(ae)
    ae.partial_fit(X_small)
    assert ae.n_iter_ == 2 and len(ae.loss_curve_) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(w1, weights(ae), strict=True))
    with pytest.raises(ValueError, match="X has 4 features"):
        ae.partial_fit(X_small[:, :4])


def test_partial_fit_epochs_are_shuffled_differently(X_small):
    # Two partial_fit calls equal two fit epochs: each epoch has its own order.
    ae = small(epochs=2, batch_size=7)
    ae.partial_fit(X_small)
    ae.partial_fit(X_small)
    assert_array_equal(
        ae.transform(X_small), fitted(X_small, batch_size=7).transform(X_small)
    )


def test_warm_start_continues_training(X_small):
    ae = fitted(X_small, warm_start=True)
    w = weights(ae)
    fitted_again = ae.fit(X_small)
    assert fitted_again is ae and ae.n_iter_ == 4 and len(ae.loss_curve_) == 4
    assert any(not np.array_equal(a, b) for a, b in zip(w, weights(ae), strict=True))
    cold = fitted(X_small)
    cold.fit(X_small)
    assert cold.n_iter_ == 2


def test_early_stopping_stops_and_restores_best(digits):
    X, _ = digits
    ae = small(
        early_stopping=True, n_iter_no_change=2, epochs=500, tol=0.5,
        validation_fraction=0.2,
    ).fit(X)  # fmt: skip
    # No epoch improves the validation loss by 0.5 on the starting model (the
    # PCA): it stops after patience, and the starting model is put back.
    assert ae.n_iter_ == 2
    assert len(ae.validation_scores_) == ae.n_iter_
    from skae._data import split_validation

    train, val = split_validation(len(X), 0.2, ae._seed)
    assert ae.score(X[val]) == pytest.approx(ae.best_validation_score_, rel=1e-4)
    pca = PCA(3).fit(X[train])
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X[val])) - X[val]) ** 2)
    assert -ae.best_validation_score_ == pytest.approx(pca_mse, rel=1e-4)


def test_early_stopping_restores_the_best_epoch_from_random_weights(digits):
    X, _ = digits
    ae = small(
        early_stopping=True, n_iter_no_change=2, epochs=500, tol=0.02,
        validation_fraction=0.2, init="random",
    ).fit(X)  # fmt: skip
    # The first epochs improve by more than tol (from random weights), a
    # later one stops doing so: training stops two epochs (the patience)
    # after the best, whose state is back (the 7th on TensorFlow).
    best = ae.validation_scores_.index(ae.best_validation_score_)
    assert ae.n_iter_ == best + 3 > 3
    assert ae.validation_scores_[best] < max(ae.validation_scores_)
    from skae._data import split_validation

    _, val = split_validation(len(X), 0.2, ae._seed)
    assert ae.score(X[val]) == pytest.approx(ae.best_validation_score_, rel=1e-4)


def test_early_stopping_needs_two_samples():
    with pytest.raises(ValueError, match="leaves no sample to train on"):
        small(early_stopping=True).fit(np.ones((1, 3)))


def test_convergence_warning(X_small):
    with pytest.warns(ConvergenceWarning, match="maximum number of epochs"):
        small(epochs=3, init="random").fit(X_small)


def test_no_convergence_warning_when_stopped_early(digits):
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        small(early_stopping=True, n_iter_no_change=1, tol=10.0, epochs=50).fit(X)


class _StopAfterTwo(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = epoch >= 1


def test_no_convergence_warning_when_a_callback_stops(X_small):
    # The loss still improves, but the maximum number of epochs was not reached.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ae = small(epochs=50, init="random", callbacks=[_StopAfterTwo()]).fit(X_small)
    assert ae.n_iter_ == 2


@pytest.mark.parametrize("verbose, expected", [(0, None), (2, "Epoch 2/2")])
def test_verbose(X_small, capfd, verbose, expected):
    fitted(X_small, verbose=verbose)
    out = capfd.readouterr().out
    if expected is None:
        assert out == ""
    else:
        assert expected in out and "loss:" in out


def test_optimizer_instance_is_copied_not_trained(X_small):
    import keras

    opt = keras.optimizers.SGD(learning_rate=0.05, momentum=0.5)
    ae = fitted(X_small, optimizer=opt)
    assert not opt.built
    assert ae.model_.optimizer is not opt
    assert ae.model_.optimizer.get_config()["momentum"] == 0.5
    assert ae.get_params()["optimizer"] is opt


@pytest.mark.parametrize("name", ["adam", "nadam", "sgd", "rmsprop"])
def test_named_optimizers_use_learning_rate(X_small, name):
    ae = fitted(X_small, optimizer=name, learning_rate=0.02)
    assert float(ae.model_.optimizer.learning_rate) == pytest.approx(0.02)


def test_callable_loss_and_callbacks(X_small):
    import keras

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, logs["loss"]))

    def l1(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)

    callbacks = [Record()]
    ae = fitted(X_small, loss=l1, callbacks=callbacks)
    assert [e for e, _ in seen] == [0, 1]
    assert [loss for _, loss in seen] == pytest.approx(ae.loss_curve_)
    assert ae.callbacks is callbacks and len(callbacks) == 1


def test_regularization_and_dropout_are_built(X_small):
    ae = fitted(X_small, alpha=0.1, dropout=0.5, hidden_layer_sizes=(8, 8))
    names = [layer.name for layer in ae.encoder_.layers]
    assert "encoder_dense_0_dropout" in names and "encoder_dense_1_dropout" in names
    assert ae.encoder_.get_layer("encoder_dense_0").kernel_regularizer is not None
    # Dropout is off at transform time: two calls agree.
    assert_array_equal(ae.transform(X_small), ae.transform(X_small))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activations(X_small, activation):
    ae = fitted(X_small, activation=activation)
    assert np.isfinite(ae.transform(X_small)).all()


# -- sample weights -----------------------------------------------------------------


def test_float32_sample_weight_equals_repetition(X_small):
    # Full-batch training: weights are the same as repeating rows, up to
    # float32 rounding (the float64 version is in the check suite). From
    # random weights: see PCA_START in test_check_estimator.py.
    sw = np.random.default_rng(1).integers(0, 4, size=60)
    params = dict(batch_size=1000, epochs=3, init="random")
    a = fitted(X_small, **params)
    a = clone(a).fit(X_small, sample_weight=sw)
    b = clone(a).fit(np.repeat(X_small, sw, axis=0))
    assert_allclose(a.transform(X_small), b.transform(X_small), rtol=1e-5, atol=1e-6)


def test_float32_row_order_invariance(X_small):
    ae = fitted(X_small)
    idx = np.random.default_rng(0).permutation(60)
    assert_allclose(
        ae.transform(X_small)[idx], ae.transform(X_small[idx]), rtol=1e-5, atol=1e-6
    )


def test_sample_weight_all_zero_is_an_error(X_small):
    # skae's own message, the same on every supported scikit-learn.
    with pytest.raises(ValueError, match="zero for every sample: at least one"):
        small().fit(X_small, sample_weight=np.zeros(60))


def test_negative_sample_weight_is_an_error(X_small):
    with pytest.raises(ValueError, match="Negative values"):
        small().fit(X_small, sample_weight=-np.ones(60))


# -- latency path ---------------------------------------------------------------------


def test_transform_never_calls_model_predict(X_small, monkeypatch):
    import keras

    ae = fitted(X_small)

    def boom(*args, **kwargs):
        raise AssertionError("Model.predict was called")

    monkeypatch.setattr(keras.Model, "predict", boom)
    ae.transform(X_small[:1])
    ae.inverse_transform(ae.transform(X_small))
    ae.score(X_small)


def test_large_transform_goes_in_batches(X_small, monkeypatch):
    import keras

    from skae import _data

    monkeypatch.setattr(_data, "INFERENCE_BATCH", 7)
    ae = fitted(X_small, precision="float64")
    calls = []
    real = ae.encoder_.__class__.__call__

    def counting(model, x, *args, **kwargs):
        calls.append(len(x))
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(ae.encoder_.__class__, "__call__", counting)
    Z = _data.map_batches(
        lambda x: keras.ops.convert_to_numpy(ae.encoder_(x, training=False)),
        X_small, 3, in_dtype="float64", batch_size=7,
    )  # fmt: skip
    assert max(calls) == 7 and sum(calls) == 60
    monkeypatch.undo()
    assert_allclose(Z, ae.transform(X_small), rtol=1e-6)


# -- scikit-learn composition ---------------------------------------------------


def test_pipeline_and_gridsearch_side_by_side_with_pca(digits):
    X, y = digits
    pipe = Pipeline(
        [("scale", StandardScaler()), ("reduce", PCA()),
         ("clf", LogisticRegression(max_iter=200))]
    )  # fmt: skip
    grid = GridSearchCV(
        pipe,
        {
            "reduce": [PCA(), small(epochs=2, hidden_layer_sizes=(16,))],
            "reduce__n_components": [2, 6],
        },
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    kinds = {type(p["reduce"]).__name__ for p in grid.cv_results_["params"]}
    assert kinds == {"PCA", "AutoencoderTransformer"}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_gridsearch_without_y_uses_score(X_small):
    grid = GridSearchCV(small(), {"n_components": [1, 5]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X_small)
    scores = grid.cv_results_["mean_test_score"]
    assert (scores < 0).all()


# -- validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 2.5}, "n_components"),
        ({"activation": "bogus"}, "activation"),
        ({"loss": "bogus"}, "loss"),
        ({"optimizer": "bogus"}, "optimizer"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"dropout": 1.0}, "dropout"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"precision": "float16"}, "precision"),
    ],
)
def test_invalid_parameters(X_small, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        small(**params).fit(X_small)


@pytest.mark.parametrize("sizes", [(0,), (4, -1), (2.5,), ("a",), (True,)])
def test_invalid_hidden_layer_sizes(X_small, sizes):
    with pytest.raises(ValueError, match="hidden_layer_sizes.*positive integers"):
        small(hidden_layer_sizes=sizes).fit(X_small)


def test_wrong_number_of_features(X_small):
    ae = fitted(X_small)
    with pytest.raises(ValueError, match="X has 4 features.*expecting 10"):
        ae.transform(X_small[:, :4])
    with pytest.raises(ValueError, match="codes of width n_components=3"):
        ae.inverse_transform(np.zeros((2, 4)))


def test_not_fitted(X_small):
    for method in ("transform", "inverse_transform", "score_samples"):
        with pytest.raises(NotFittedError):
            getattr(small(), method)(X_small)


def test_error_during_training_rolls_back_weights(X_small):
    import keras

    class Fail(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise RuntimeError("boom")

    ae = fitted(X_small, warm_start=True)
    w, n_iter = weights(ae), ae.n_iter_
    with pytest.raises(RuntimeError, match="boom"):
        ae.set_params(callbacks=[Fail()]).fit(X_small)
    for a, b in zip(w, weights(ae), strict=True):
        assert_array_equal(a, b)
    assert ae.n_iter_ == n_iter


# -- sparse and memory-mapped input ------------------------------------------------


def test_sparse_input_gives_the_same_model_as_dense(X_small):
    X_sparse = sparse.csr_matrix(np.where(X_small > 0.5, X_small, 0))
    dense = X_sparse.toarray()
    a, b = fitted(X_sparse), fitted(dense)
    assert_array_equal(a.transform(X_sparse), b.transform(dense))
    assert a.score(sparse.csc_matrix(X_sparse)) == b.score(dense)


def test_memmap_input_gives_the_same_model(X_small, tmp_path):
    data = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.uint8, shape=X_small.shape
    )
    data[:] = (X_small * 255).astype(np.uint8)
    data.flush()
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    a = fitted(X_map)
    b = fitted(np.asarray(X_map).astype(np.float32))
    assert_array_equal(a.transform(X_map), b.transform(np.asarray(X_map)))


def test_out_of_range_warning_ignores_small_noise_on_constant_features():
    X = np.random.default_rng(0).uniform(size=(40, 5)).astype(np.float32)
    X[:, 0] = 0  # constant in training, like an image border
    ae = fitted(X)
    noisy = X + np.random.default_rng(1).normal(0, 0.3, size=X.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfRangeWarning)
        ae.transform(noisy.astype(np.float32))
    with pytest.warns(OutOfRangeWarning, match="in 1 feature"):
        ae.transform(np.where(np.arange(5) == 2, 5.0, X).astype(np.float32))


def test_float64_on_jax_needs_x64_mode(X_small):
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("JAX backend only")
    import jax

    ae = small(precision="float64")
    if jax.config.read("jax_enable_x64"):
        assert ae.fit(X_small).model_.weights[0].value.dtype == np.float64
    else:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            ae.fit(X_small)
        assert not hasattr(ae, "model_")


# -- hardening: settings that cannot work, or would be ignored ------------------


@pytest.mark.parametrize("cls", [AutoencoderTransformer, "vae"])
@pytest.mark.parametrize(
    "params",
    [
        {"n_components": np.int64(3)},
        {"n_components": np.int32(3), "hidden_layer_sizes": (np.int64(8),)},
        {"hidden_layer_sizes": np.arange(8, 10)},
        {"epochs": np.int64(2), "batch_size": np.int16(16)},
        {"early_stopping": True, "n_iter_no_change": np.uint8(1)},
        {"verbose": np.int64(0)},
    ],
)
def test_numpy_integer_parameters(X_small, cls, params):
    from skae import VariationalAutoencoderTransformer

    cls = VariationalAutoencoderTransformer if cls == "vae" else cls
    plain = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in params.items()}
    plain = {k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}
    defaults = dict(n_components=3, hidden_layer_sizes=(8,), epochs=2, batch_size=16,
                    random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = cls(**{**defaults, **params}).fit(X_small)
        b = cls(**{**defaults, **plain}).fit(X_small)
    assert_array_equal(a.transform(X_small), b.transform(X_small))
    assert a.get_feature_names_out().shape == (a.transform(X_small).shape[1],)


def test_numpy_integers_in_a_grid_search(X_small):
    from skae import VariationalAutoencoderTransformer

    for est in (small(epochs=1), VariationalAutoencoderTransformer(
            hidden_layer_sizes=(8,), epochs=1, random_state=0)):  # fmt: skip
        grid = GridSearchCV(est, {"n_components": np.arange(2, 4)}, cv=2).fit(X_small)
        assert grid.best_estimator_.transform(X_small).shape[1] in (2, 3)


def test_vae_sample_takes_a_numpy_integer(X_small):
    from skae import VariationalAutoencoderTransformer

    vae = VariationalAutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), epochs=1, random_state=0
    ).fit(X_small)
    assert vae.sample(np.int64(3), random_state=np.int64(0)).shape == (3, 10)
    for bad in (True, 0, 2.0):
        with pytest.raises(ValueError, match="n_samples must be a positive integer"):
            vae.sample(bad)


#: Parameters baked into the model at its first fit, with another value.
BUILT_IN = [
    ("n_components", 4),
    ("hidden_layer_sizes", (8,)),
    ("activation", "tanh"),
    ("output_activation", "sigmoid"),
    ("loss", "mae"),
    ("optimizer", "sgd"),
    ("alpha", 0.1),
    ("activity_l1", 0.1),
    ("dropout", 0.2),
    ("batch_norm", True),
    ("precision", "float64"),
    ("random_state", 1),
]


@pytest.mark.parametrize("name, value", BUILT_IN)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_changed_model_settings_are_refused_not_ignored(X_small, name, value, method):
    ae = fitted(X_small, warm_start=True)
    w, n_iter = weights(ae), ae.n_iter_
    ae.set_params(**{name: value})
    with pytest.raises(ValueError, match=rf"{name}.*changed.*warm_start=False"):
        getattr(ae, method)(X_small)
    assert ae.n_iter_ == n_iter
    for a, b in zip(w, weights(ae), strict=True):
        assert_array_equal(a, b)
    # Set back, training goes on; a cold fit rebuilds with the new value.
    ae.set_params(**{name: getattr(small(), name)})
    getattr(ae, method)(X_small)
    assert ae.n_iter_ > n_iter


def test_changed_optimizer_instance_is_refused(X_small):
    import keras

    ae = fitted(X_small, warm_start=True, optimizer=keras.optimizers.Adam(1e-3))
    ae.set_params(optimizer=keras.optimizers.Adam(1e-2))
    with pytest.raises(ValueError, match="optimizer.*changed"):
        ae.fit(X_small)


def test_cold_fit_after_changed_settings_rebuilds(X_small):
    ae = fitted(X_small)
    ae.set_params(n_components=6)
    assert fitted(X_small).set_params(n_components=6).fit(X_small).transform(
        X_small).shape == (60, 6)  # fmt: skip
    assert ae.fit(X_small).transform(X_small).shape == (60, 6)


def test_training_settings_may_change_under_warm_start(X_small):
    ae = fitted(X_small, warm_start=True)
    ae.set_params(epochs=1, batch_size=8, noise="gaussian", verbose=0, tol=0.1)
    ae.fit(X_small)
    assert ae.n_iter_ == 3


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"noise_clip": (1.0,)}, ValueError, r"noise_clip.*\(low, high\)"),
        ({"noise_clip": (1.0, 0.0)}, ValueError, r"noise_clip.*low < high"),
        ({"noise_clip": (0.0, 0.0)}, ValueError, r"noise_clip.*low < high"),
        ({"noise_clip": ("a", "b")}, ValueError, r"noise_clip.*two numbers"),
        ({"noise_clip": (0.0, float("nan"))}, ValueError, r"noise_clip"),
        ({"optimizer": "class"}, TypeError, r"optimizer.*class.*instance"),
        ({"callbacks": [1]}, TypeError, r"callbacks.*keras.callbacks.Callback"),
        ({"callbacks": ["tensorboard"]}, TypeError, r"callbacks.*'tensorboard'"),
    ],
)
def test_settings_that_cannot_work_are_refused(X_small, params, error, match):
    import keras

    if params.get("optimizer") == "class":
        params = {"optimizer": keras.optimizers.Adam}
    ae = small(**params)
    with pytest.raises(error, match=match):
        ae.fit(X_small)
    assert not hasattr(ae, "model_")


@pytest.mark.parametrize("shift", [-0.5, 2.0])
def test_binary_crossentropy_on_data_outside_0_1_warns(X_small, shift):
    import keras

    match = r"binary_crossentropy.*\[0, 1\]"
    if keras.backend.backend() == "torch":  # it cannot train there: an error
        with pytest.raises(ValueError, match=match):
            small(loss="binary_crossentropy").fit(X_small + shift)
        return
    with pytest.warns(UserWarning, match=match):
        fitted(X_small + shift, loss="binary_crossentropy")


def test_binary_crossentropy_on_data_in_0_1_does_not_warn(X_small):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        small(loss="binary_crossentropy").fit(X_small)


def test_convergence_warning_with_early_stopping_does_not_advise_it(digits):
    X, _ = digits
    with pytest.warns(ConvergenceWarning, match="maximum number of epochs") as rec:
        small(early_stopping=True, epochs=2, tol=0.0).fit(X)
    assert all("early_stopping=True" not in str(w.message) for w in rec)
