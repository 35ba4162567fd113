"""Training that goes wrong: divergence and interruption."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skae import AutoencoderTransformer
from skae.exceptions import DivergenceError


def small(**params):
    defaults = dict(n_components=3, hidden_layer_sizes=(16,), epochs=2, batch_size=16,
                    optimizer="sgd", learning_rate=0.01, random_state=0)  # fmt: skip
    return AutoencoderTransformer(**{**defaults, **params})


def weights(est):
    return [w.copy() for w in est.model_.get_weights()]


def test_diverging_learning_rate_keeps_last_good_epoch(X_small):
    ae = small(warm_start=True).fit(X_small)
    good, Z = weights(ae), ae.transform(X_small)
    ae.set_params(learning_rate=1e12)
    with pytest.raises(DivergenceError, match="Lower learning_rate") as info:
        ae.fit(X_small)
    assert isinstance(info.value, ValueError)
    assert "weights of epoch 2 are kept" in str(info.value)
    assert ae.n_iter_ == 2 and len(ae.loss_curve_) == 2
    for a, b in zip(good, weights(ae), strict=True):
        assert_array_equal(a, b)
    assert_array_equal(ae.transform(X_small), Z)
    assert np.isfinite(ae.model_.optimizer.variables[-1].numpy()).all()


def test_divergence_in_the_first_epoch_leaves_the_estimator_unfitted(X_small):
    ae = small(learning_rate=1e12)
    with pytest.raises(DivergenceError, match="after 0 good epoch"):
        ae.fit(X_small)
    with pytest.raises(NotFittedError):
        ae.transform(X_small)


def test_on_divergence_warn(X_small):
    ae = small(warm_start=True, on_divergence="warn").fit(X_small)
    ae.set_params(learning_rate=1e12)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        ae.fit(X_small)
    assert ae.n_iter_ == 2 and np.isfinite(ae.transform(X_small)).all()


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt in the middle of the given epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.current = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_last_completed_epoch(X_small):
    ae = small(epochs=5, optimizer="adam", dropout=0.2)
    with pytest.warns(UserWarning, match=r"interrupted.*n_iter_=2"):
        ae.set_params(callbacks=[InterruptAt(2)]).fit(X_small)
    assert ae.n_iter_ == 2 and len(ae.loss_curve_) == 2
    # Exactly the model of an uninterrupted two-epoch fit.
    two = small(epochs=2, optimizer="adam", dropout=0.2).fit(X_small)
    assert_array_equal(ae.transform(X_small), two.transform(X_small))
    assert ae.loss_curve_ == two.loss_curve_
    # Training can go on from there.
    ae.set_params(callbacks=None).partial_fit(X_small)
    assert ae.n_iter_ == 3


def test_keyboard_interrupt_in_the_first_epoch_propagates(X_small):
    ae = small(callbacks=[InterruptAt(0)])
    with pytest.raises(KeyboardInterrupt):
        ae.fit(X_small)
    assert not hasattr(ae, "model_")


def test_warm_start_applies_a_new_learning_rate(X_small):
    ae = small(warm_start=True, epochs=1).fit(X_small)
    ae.set_params(learning_rate=0.5).fit(X_small)
    assert float(ae.model_.optimizer.learning_rate) == pytest.approx(0.5)


# -- a model with NaN weights is never returned or kept ------------------------


def exploding(digits):
    """100 digits with one feature scaled by 1e12. The first epoch's loss is
    finite, but Adam's second moments overflow to infinity, and at the next
    epoch the weights turn NaN while the loss stays finite."""
    X = digits[0][:100].astype(np.float64)
    X[:, 5] *= 1e12
    return X


def one_step(**params):
    """One gradient step an epoch (batch_size > n_samples), plain Adam, from
    random weights (a PCA start takes the 1e12 feature in its stride)."""
    return AutoencoderTransformer(n_components=3, hidden_layer_sizes=(8,),
                                  init="random", random_state=0, **params)  # fmt: skip


def assert_finite(est):
    assert all(np.isfinite(w).all() for w in est.model_.get_weights())
    assert all(np.isfinite(v.numpy()).all() for v in est.model_.optimizer.variables)


def test_fit_never_returns_nan_weights(digits):
    ae = one_step(epochs=2)
    with pytest.raises(DivergenceError, match="after 0 good epoch"):
        ae.fit(exploding(digits))
    assert not hasattr(ae, "model_")


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_divergence_keeps_the_last_epoch_with_finite_weights(digits, method):
    # A warm-started fit and a partial_fit on exploding data: the good model
    # stays exactly as it was, finite.
    X = digits[0][:100]
    ae = one_step(epochs=2, warm_start=True)
    getattr(ae, method)(X)
    good, Z, n_iter = weights(ae), ae.transform(X), ae.n_iter_
    with pytest.raises(DivergenceError, match=f"weights of epoch {n_iter} are kept"):
        getattr(ae, method)(exploding(digits))
    assert ae.n_iter_ == n_iter and len(ae.loss_curve_) == n_iter
    for a, b in zip(good, weights(ae), strict=True):
        assert_array_equal(a, b)
    assert_array_equal(ae.transform(X), Z)
    assert_finite(ae)


def test_nan_weights_in_warn_mode_keep_finite_weights(digits):
    X = digits[0][:100]
    ae = one_step(epochs=2, warm_start=True, on_divergence="warn").fit(X)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        ae.fit(exploding(digits))
    assert ae.n_iter_ == 2
    assert_finite(ae)
    assert np.isfinite(ae.transform(X)).all()
