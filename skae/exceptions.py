"""Exceptions and warnings raised by skae."""

__all__ = ["DivergenceError", "InconsistentVersionWarning", "OutOfRangeWarning"]


class DivergenceError(ValueError, FloatingPointError):
    """Training stopped because the loss or the weights became NaN or infinite.

    The estimator keeps the weights of the last epoch whose loss, weights and
    optimizer state were all finite (``n_iter_`` counts the good epochs); the
    message suggests remedies. Set ``on_divergence="warn"`` to get a warning
    instead.
    """


class InconsistentVersionWarning(UserWarning):
    """A saved estimator is loaded under other versions than it was saved with."""


class OutOfRangeWarning(UserWarning):
    """Data to transform lies far outside the range seen during training.

    Issued when a feature's value is beyond the training minimum or maximum by
    more than the width of the training range: the autoencoder extrapolates
    there, and the data may not be scaled like the training data.
    """
