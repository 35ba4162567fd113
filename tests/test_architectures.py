"""Architectures: your own encoder/decoder, images, convolutions, regularized codes."""

import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
from keras_custom import DenseEncoder, scaled_decoder, unregistered_encoder
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderTransformer

TESTS = Path(__file__).parent


def small(**params):
    params = {"n_components": 4, "hidden_layer_sizes": (16,), "epochs": 2,
              "random_state": 0, **params}  # fmt: skip
    return AutoencoderTransformer(**params)


def sequential_encoder(n_features, n_components, seed=None):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [keras.Input((n_features,)),
         keras.layers.Dense(16, activation="relu", kernel_initializer=init),
         keras.layers.Dense(n_components, kernel_initializer=init)]
    )  # fmt: skip


def sequential_decoder(n_features, n_components, seed=None):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [keras.Input((n_components,)),
         keras.layers.Dense(16, activation="relu", kernel_initializer=init),
         keras.layers.Dense(n_features, activation="sigmoid", kernel_initializer=init)]
    )  # fmt: skip


# -- bring your own encoder/decoder ------------------------------------------------


def test_a_given_model_is_copied_with_its_weights_and_never_trained(digits):
    X, _ = digits
    encoder = sequential_encoder(64, 4, seed=1)
    before = [w.copy() for w in encoder.get_weights()]
    ae = small(encoder=encoder).fit(X)
    assert all(
        np.array_equal(a, b) for a, b in zip(before, encoder.get_weights(), strict=True)
    )
    inner = ae.encoder_.layers[1]
    assert inner is not encoder and inner.name == encoder.name
    # Training started from the given weights: one step of a tiny learning
    # rate leaves the copy next to them.
    ae = small(encoder=encoder, epochs=1, learning_rate=1e-9).fit(X)
    for got, want in zip(ae.encoder_.layers[1].get_weights(), before, strict=True):
        assert_allclose(got, want, atol=1e-6)


def test_builders_get_a_seed_and_fits_are_reproducible(digits):
    X, _ = digits
    params = dict(encoder=sequential_encoder, decoder=sequential_decoder)
    a = small(**params).fit(X).transform(X)
    b = small(**params).fit(X).transform(X)
    c = small(**params, random_state=1).fit(X).transform(X)
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_builder_without_seed_argument(digits):
    X, _ = digits

    def encoder(n_features, n_components):
        return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(3)])

    ae = small(n_components=3, encoder=encoder).fit(X)
    assert ae.transform(X).shape == (len(X), 3)


def test_only_one_half_given_uses_the_built_in_other_half(digits):
    X, _ = digits
    ae = small(decoder=sequential_decoder).fit(X)
    assert ae.encoder_.get_layer("code").units == 4
    assert ae.inverse_transform(ae.transform(X)).shape == X.shape


def test_clone_and_grid_search_with_model_and_builder_parameters(digits):
    X, _ = digits
    est = small(encoder=sequential_encoder(64, 4))
    copy = clone(est)
    assert copy.encoder is not est.encoder
    grid = GridSearchCV(
        small(decoder=sequential_decoder),
        {"encoder": [None, sequential_encoder], "epochs": [1]},
        cv=2,
    ).fit(X)
    assert set(grid.cv_results_["param_encoder"]) >= {None}
    assert np.isfinite(grid.best_score_)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_components=3, encoder=sequential_encoder(64, 4)),
         r"outputs codes of shape \(n_samples, 4\), but n_components=3"),
        (dict(decoder=lambda n, k: keras.Sequential(
            [keras.Input((k,)), keras.layers.Dense(10)])),
         r"maps codes of shape \(n_samples, 4\) to \(n_samples, 10\), but the "
         r"data has shape \(n_samples, 64\)"),
        (dict(encoder=sequential_encoder(32, 4)),
         r"encoder could not be applied to inputs of shape \(n_samples, 64\)"),
        (dict(encoder=lambda n, k: "not a model"),
         "must return a keras.Model"),
        (dict(image_shape=(8, 9)),
         r"image_shape=\(8, 9\) holds 72 values per image, but X has 64"),
        (dict(image_shape=(8, 8, 1, 1)), r"\(height, width, channels\)"),
        (dict(architecture="conv"), "architecture='conv' needs image_shape"),
        (dict(filters=(8, 0), architecture="conv", image_shape=(8, 8)),
         "'filters' parameter .* positive integers"),
    ],
)  # fmt: skip
def test_shape_and_parameter_errors_name_both_sides(digits, params, message):
    X, _ = digits
    est = small(**params)
    with pytest.raises((ValueError, TypeError), match=message):
        est.fit(X)
    assert not hasattr(est, "model_")


def test_subclassed_model_and_layer_survive_joblib_in_a_fresh_process(digits, tmp_path):
    X, _ = digits
    # Builders are pickled by name with the estimator: module-level functions.
    ae = small(encoder=DenseEncoder(n_components=4), decoder=scaled_decoder).fit(X)
    expected = ae.transform(X)
    joblib.dump(ae, tmp_path / "ae.joblib")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", expected)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import keras_custom  # registers DenseEncoder and Scale
        import joblib, numpy as np
        ae = joblib.load({str(tmp_path / "ae.joblib")!r})
        got = ae.transform(np.load({str(tmp_path / "X.npy")!r}))
        assert np.array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        print("same")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "same" in out.stdout


def test_unregistered_layer_fails_to_load_with_a_hint(digits, pickled):
    X, _ = digits
    ae = small(encoder=unregistered_encoder).fit(X)
    with pytest.raises(TypeError, match="register_keras_serializable"):
        pickled(ae)


# -- images -----------------------------------------------------------------------


def test_image_shape_reshapes_inside_the_model(digits):
    X, _ = digits
    seen = []

    def encoder(shape, n_components):
        seen.append(shape)
        return keras.Sequential(
            [
                keras.Input(shape),
                keras.layers.Flatten(),
                keras.layers.Dense(n_components),
            ]
        )

    def decoder(shape, n_components):  # outputs images: flattened by skae
        return keras.Sequential(
            [keras.Input((n_components,)), keras.layers.Dense(64),
             keras.layers.Reshape(shape)]
        )  # fmt: skip

    ae = small(image_shape=(8, 8), encoder=encoder, decoder=decoder).fit(X)
    assert seen == [(8, 8, 1)]
    assert ae.inverse_transform(ae.transform(X)).shape == X.shape


@pytest.mark.parametrize("image_shape", [(8, 8, 1), (7, 5, 2), (9, 3)])
def test_conv_architecture_fits_any_image_size(image_shape):
    n_features = int(np.prod(image_shape))
    X = np.random.default_rng(0).uniform(size=(40, n_features)).astype(np.float32)
    ae = small(architecture="conv", image_shape=image_shape, filters=(4, 8))
    Z = ae.fit_transform(X)
    assert Z.shape == (40, 4)
    assert ae.inverse_transform(Z).shape == X.shape
    convs = [layer for layer in ae.encoder_.layers if "conv" in layer.name]
    assert [layer.filters for layer in convs] == [4, 8]
    assert np.isfinite(ae.score(X))


def test_conv_and_dense_in_one_grid(digits):
    X, _ = digits
    grid = GridSearchCV(
        small(image_shape=(8, 8), filters=(4,), epochs=1),
        {"architecture": ["dense", "conv"]},
        cv=2,
    ).fit(X)
    assert len(grid.cv_results_["params"]) == 2
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


# -- regularized codes --------------------------------------------------------------


def _near_zero(codes):
    """Share of code values within 0.01 of zero (the data is in [0, 1])."""
    return float(np.mean(np.abs(codes) < 0.01))


def test_l1_activity_penalty_makes_codes_sparser(digits):
    X, _ = digits
    # From random weights: a PCA-anchored model starts from dense PCA codes.
    params = dict(n_components=16, epochs=30, learning_rate=3e-3, init="random")
    plain = _near_zero(small(**params).fit(X).transform(X))
    sparse = _near_zero(small(**params, activity_l1=0.1).fit(X).transform(X))
    # Measured: 1% of the values near zero without the penalty, 35% with it
    # (21% on the PyTorch backend, whose initial weights differ).
    assert sparse > max(5 * plain, plain + 0.15), (plain, sparse)


def test_batch_norm_layers_are_built_and_pickled(digits, pickled):
    X, _ = digits
    ae = small(batch_norm=True, hidden_layer_sizes=(16, 8)).fit(X)
    bns = [layer for layer in ae.model_.get_layer("encoder").layers
           if isinstance(layer, keras.layers.BatchNormalization)]  # fmt: skip
    assert len(bns) == 2
    # The moving statistics moved and survive pickling.
    assert not np.allclose(bns[0].moving_mean.numpy(), 0)
    assert_array_equal(pickled(ae).transform(X), ae.transform(X))


@pytest.mark.parametrize(
    "param, value", [("activity_l1", -1.0), ("batch_norm", "yes"),
                     ("architecture", "lstm"), ("encoder", 3)]
)  # fmt: skip
def test_new_parameters_are_validated(digits, param, value):
    X, _ = digits
    with pytest.raises(ValueError, match=param):
        small(**{param: value}).fit(X)


def test_skae_save_keeps_architecture_and_refuses_unregistered_builders(
    digits, tmp_path
):
    import skae

    X, _ = digits
    conv = small(architecture="conv", image_shape=(8, 8), filters=(4,)).fit(X)
    skae.save(conv, tmp_path / "conv.skae")
    loaded = skae.load(tmp_path / "conv.skae")
    assert loaded.image_shape == (8, 8) and loaded.filters == (4,)
    assert_array_equal(loaded.transform(X), conv.transform(X))

    given = small(encoder=sequential_encoder(64, 4, seed=0)).fit(X)
    with pytest.warns(UserWarning, match="not its weights"):
        skae.save(given, tmp_path / "given.skae")
    assert_array_equal(
        skae.load(tmp_path / "given.skae").transform(X), given.transform(X)
    )

    with pytest.raises(TypeError, match="cannot store encoder="):
        skae.save(small(encoder=sequential_encoder), tmp_path / "builder.skae")
