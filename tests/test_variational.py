"""VariationalAutoencoderTransformer: codes, loss parts, scores and samples."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import VariationalAutoencoderTransformer


def small(**params):
    params = {"n_components": 2, "hidden_layer_sizes": (16,), "epochs": 3,
              "loss": "binary_crossentropy", "random_state": 0, **params}  # fmt: skip
    return VariationalAutoencoderTransformer(**params)


@pytest.fixture(scope="module")
def vae(digits):
    X, _ = digits
    return small(epochs=5).fit(X)


def test_transform_is_the_deterministic_posterior_mean(vae, digits):
    X, _ = digits
    Z = vae.transform(X)
    assert Z.shape == (len(X), 2) and Z.dtype == np.float32
    assert_array_equal(Z, vae.transform(X))
    mean, log_var = vae.posterior_.predict_on_batch(X)
    assert_allclose(Z, mean, rtol=1e-6)
    assert np.all(np.abs(log_var) < 15)
    assert vae.inverse_transform(Z).shape == X.shape


def test_loss_curves_split_into_reconstruction_and_kl(vae):
    assert len(vae.loss_curve_) == len(vae.reconstruction_loss_curve_) == 5
    assert len(vae.kl_loss_curve_) == 5
    # The total is reconstruction + beta * KL / n_features, epoch by epoch.
    total = np.add(
        vae.reconstruction_loss_curve_, np.multiply(vae.kl_loss_curve_, 1 / 64)
    )
    assert_allclose(vae.loss_curve_, total, rtol=1e-5)
    assert all(kl >= 0 for kl in vae.kl_loss_curve_)
    assert {"reconstruction_loss", "kl_loss"} <= set(vae.history_)


def test_beta_weighs_the_kl_term(digits):
    X, _ = digits
    free = small(beta=0.0, epochs=5).fit(X)
    tight = small(beta=20.0, epochs=5).fit(X)
    # Without the KL term codes drift away from N(0, I); with a heavy one
    # they are held close to it.
    assert tight.kl_loss_curve_[-1] < free.kl_loss_curve_[-1]


def test_score_samples_is_minus_the_objective_at_the_posterior_mean(vae, digits):
    X, _ = digits
    scores = vae.score_samples(X[:20])
    x = X[:20].astype(np.float64)
    mean, log_var = (
        np.asarray(a, np.float64) for a in vae.posterior_.predict_on_batch(X[:20])
    )
    p = np.clip(vae.inverse_transform(mean).astype(np.float64), 1e-7, 1 - 1e-7)
    bce = -np.mean(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    kl = -0.5 * np.sum(1 + log_var - mean**2 - np.exp(log_var), axis=1)
    assert_allclose(scores, -(bce + kl / 64), rtol=1e-4)
    assert vae.score(X[:20]) == pytest.approx(scores.mean())


def test_sample_decodes_prior_draws_reproducibly(vae):
    a = vae.sample(7, random_state=0)
    assert a.shape == (7, 64) and a.dtype == np.float32
    assert_array_equal(a, vae.sample(7, random_state=0))
    assert not np.array_equal(a, vae.sample(7, random_state=1))
    assert np.all((a >= 0) & (a <= 1))  # sigmoid outputs with BCE
    rng = np.random.default_rng(
        np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    )
    assert_array_equal(a, vae.inverse_transform(rng.standard_normal((7, 2))))


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, "3"])
def test_sample_validates_n_samples(vae, n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        vae.sample(n_samples)


def test_sample_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small().sample(2)


def test_training_is_reproducible_and_pickles_with_its_sampler_state(
    vae, digits, pickled
):
    X, _ = digits
    again = small(epochs=5).fit(X)
    assert_array_equal(again.transform(X), vae.transform(X))
    copy = pickled(vae)
    assert_array_equal(copy.transform(X), vae.transform(X))
    assert_array_equal(copy.sample(3, random_state=0), vae.sample(3, random_state=0))
    # Training on after a round trip draws the same codes as the original.
    copy.set_params(warm_start=True, epochs=1).fit(X)
    clone_of = pickled(vae).set_params(warm_start=True, epochs=1).fit(X)
    assert_array_equal(copy.transform(X), clone_of.transform(X))


def test_custom_encoder_body_and_conv_architecture(digits):
    X, _ = digits

    body = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(12, activation="relu")]
    )
    vae = small(encoder=body).fit(X)
    assert vae.posterior_.get_layer("code_mean").units == 2
    conv = small(architecture="conv", image_shape=(8, 8), filters=(4, 8)).fit(X)
    assert conv.sample(2, random_state=0).shape == (2, 64)


def test_pipeline_and_grid_search_over_beta(digits):
    X, _ = digits
    # clip=True keeps held-out rows in [0, 1], which binary cross-entropy
    # needs on the PyTorch backend (TensorFlow computes it for any value).
    pipe = make_pipeline(MinMaxScaler(clip=True), small(epochs=2))
    grid = GridSearchCV(
        pipe, {"variationalautoencodertransformer__beta": [0.5, 2.0]}, cv=2
    )
    grid.fit(X)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_beta_is_validated(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="beta"):
        small(beta=-1.0).fit(X)


def test_skae_save_and_load_round_trip(vae, digits, tmp_path):
    import skae

    X, _ = digits
    skae.save(vae, tmp_path / "vae.skae")
    loaded = skae.load(tmp_path / "vae.skae")
    assert type(loaded) is VariationalAutoencoderTransformer
    assert_array_equal(loaded.transform(X), vae.transform(X))
    assert_array_equal(loaded.sample(3, random_state=0), vae.sample(3, random_state=0))
    assert loaded.kl_loss_curve_ == vae.kl_loss_curve_
