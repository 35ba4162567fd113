import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError

from skae import AutoencoderTransformer, add_noise


@pytest.fixture
def X():
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(400, 250))


def test_gaussian_noise_has_the_requested_spread(X):
    noise = add_noise(X, "gaussian", 0.3, random_state=0) - X
    assert abs(noise.mean()) < 0.005
    assert noise.std() == pytest.approx(0.3, rel=0.01)


def test_masking_zeroes_the_requested_share(X):
    Xn = add_noise(X, "masking", 0.25, random_state=0)
    zeroed = Xn == 0
    assert zeroed.mean() == pytest.approx(0.25, abs=0.005)
    assert_array_equal(Xn[~zeroed], X[~zeroed])


def test_salt_and_pepper_uses_column_extremes(X):
    Xn = add_noise(X, "salt_and_pepper", 0.2, random_state=0)
    changed = Xn != X
    assert changed.mean() == pytest.approx(0.2, abs=0.005)
    lo, hi = X.min(axis=0), X.max(axis=0)
    at_extreme = (Xn == lo) | (Xn == hi)
    assert at_extreme[changed].all()
    assert (Xn[changed] == np.broadcast_to(hi, X.shape)[changed]).mean() == (
        pytest.approx(0.5, abs=0.02)
    )


def test_add_noise_is_seeded_pure_and_keeps_float32(X):
    X32 = X.astype(np.float32)
    before = X32.copy()
    a = add_noise(X32, "gaussian", 0.1, random_state=3)
    assert a.dtype == np.float32
    assert_array_equal(a, add_noise(X32, "gaussian", 0.1, random_state=3))
    assert not np.array_equal(a, add_noise(X32, "gaussian", 0.1, random_state=4))
    assert_array_equal(X32, before)


def test_clip(X):
    Xn = add_noise(X, "gaussian", 1.0, random_state=0, clip=(0, 1))
    assert Xn.min() == 0 and Xn.max() == 1


def test_add_noise_validation(X):
    with pytest.raises(ValueError, match="at most 1"):
        add_noise(X, "masking", 1.5)
    with pytest.raises(InvalidParameterError, match="kind"):
        add_noise(X, "pink", 0.1)
    with pytest.raises(InvalidParameterError, match="level"):
        add_noise(X, "gaussian", -1)


def test_estimator_noise_level_validation():
    X = np.zeros((10, 3))
    with pytest.raises(ValueError, match="noise_level.*at most 1"):
        AutoencoderTransformer(noise="masking", noise_level=2.0).fit(X)
    with pytest.raises(InvalidParameterError, match="noise"):
        AutoencoderTransformer(noise="pink").fit(X)


def test_transform_never_adds_noise(digits):
    import keras

    X, _ = digits
    ae = AutoencoderTransformer(
        n_components=4, hidden_layer_sizes=(16,), epochs=2, noise="gaussian",
        noise_level=1.0, random_state=0,
    ).fit(X)  # fmt: skip
    Z = ae.transform(X)
    assert_array_equal(Z, ae.transform(X))
    assert_array_equal(ae.inverse_transform(Z), ae.inverse_transform(Z))
    np.testing.assert_allclose(
        Z, keras.ops.convert_to_numpy(ae.encoder_(X, training=False)), rtol=1e-5
    )


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_denoising_fit_is_reproducible(digits, noise):
    X, _ = digits
    params = dict(
        n_components=4, hidden_layer_sizes=(16,), epochs=2, noise=noise,
        noise_level=0.3, random_state=0, early_stopping=True,
    )  # fmt: skip
    a = AutoencoderTransformer(**params).fit(X)
    b = AutoencoderTransformer(**params).fit(X)
    assert_array_equal(a.transform(X), b.transform(X))


def test_denoising_autoencoder_denoises_better():
    from skae.datasets import load_digits

    X, _ = load_digits()
    X_train, X_test = X[:1000], X[1000:1300]
    X_noisy = add_noise(X_test, "gaussian", 0.25, random_state=1)
    params = dict(
        n_components=32, hidden_layer_sizes=(128,), epochs=30, batch_size=64,
        random_state=0,
    )  # fmt: skip
    errors = {}
    for noise in (None, "gaussian"):
        ae = AutoencoderTransformer(noise=noise, noise_level=0.25, **params)
        ae.fit(X_train)
        recon = ae.inverse_transform(ae.transform(X_noisy))
        errors[noise] = np.mean((recon - X_test) ** 2)
    assert errors["gaussian"] < 0.8 * errors[None]


def test_noise_clip_bounds_the_training_inputs(X):
    from types import SimpleNamespace

    from skae._data import corruption

    config = SimpleNamespace(noise="gaussian", noise_level=5.0, noise_clip=(0.0, 1.0))
    corrupt = corruption(config, "float32")
    out = corrupt(X.astype(np.float32), rng=np.random.default_rng(0))
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 1
    assert corruption(SimpleNamespace(noise=None), "float32") is None


def test_noise_clip_reaches_training(digits):
    X, _ = digits
    params = dict(
        n_components=4, hidden_layer_sizes=(8,), epochs=1, noise="gaussian",
        noise_level=2.0, random_state=0,
    )  # fmt: skip
    a = AutoencoderTransformer(**params).fit(X)
    b = AutoencoderTransformer(noise_clip=(0, 1), **params).fit(X)
    assert not np.array_equal(a.transform(X), b.transform(X))
