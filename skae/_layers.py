"""Keras layers of skae's own, registered so that saved models load anywhere.

Registration (``register_keras_serializable``) happens when this module is
imported; ``_models`` imports it, so every path that rebuilds a model from its
config (unpickling, :func:`skae.load`) knows these classes.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="skae")
class GaussianSample(keras.layers.Layer):
    """Draw ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``.

    The reparameterization trick of the variational autoencoder: the draw is
    differentiable in ``mean`` and ``log_var``. In inference (``training``
    false) the layer returns ``mean``, so that encoding is deterministic.

    Parameters
    ----------
    seed : int or None
        Seed of the layer's own generator; its state is a variable of the
        model, saved and restored with it.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        mean, log_var = inputs
        if not training:
            return mean
        eps = keras.random.normal(
            ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator
        )
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="skae")
class GaussianKL(keras.layers.Layer):
    """Per-sample ``KL(N(mean, exp(log_var)) || N(0, I))``, in nats.

    Returns shape ``(n_samples, 1)``: the sum over the code's components of
    ``-0.5 * (1 + log_var - mean**2 - exp(log_var))``.
    """

    def call(self, inputs):
        mean, log_var = inputs
        terms = 1.0 + log_var - ops.square(mean) - ops.exp(log_var)
        return -0.5 * ops.sum(terms, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)


#: Bound of the log-variance head: variances stay in [exp(-15), exp(15)].
LOG_VAR_BOUND = 15.0


@keras.saving.register_keras_serializable(package="skae")
def bounded_log_var(x):
    """Squash a log-variance smoothly into ``(-LOG_VAR_BOUND, LOG_VAR_BOUND)``.

    ``exp(log_var)`` of an unbounded head overflows on unscaled data (inputs
    near 100 give log-variances in the hundreds after one step); ``tanh``
    bounds it and still passes a gradient everywhere.
    """
    return LOG_VAR_BOUND * ops.tanh(x / LOG_VAR_BOUND)


@keras.saving.register_keras_serializable(package="skae")
def output_mean(y_true, y_pred):
    """Return the model output itself as the loss (for the KL output)."""
    del y_true
    return ops.mean(y_pred, axis=-1)
