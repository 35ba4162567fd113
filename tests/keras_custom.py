"""Subclassed Keras objects for the architecture tests, importable by name.

A subclassed layer must be registered with
``keras.saving.register_keras_serializable`` for a saved model to load in
another process; this module is what that process imports.
"""

import keras


@keras.saving.register_keras_serializable(package="skae_tests")
class DenseEncoder(keras.Model):
    """The seeds' style: a subclassed encoder with layers made in ``__init__``."""

    def __init__(self, n_components=2, units=16, **kwargs):
        super().__init__(**kwargs)
        self.n_components = n_components
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.code = keras.layers.Dense(n_components)

    def call(self, x):
        return self.code(self.hidden(x))

    def get_config(self):
        return {
            **super().get_config(),
            "n_components": self.n_components,
            "units": self.units,
        }


@keras.saving.register_keras_serializable(package="skae_tests")
class Scale(keras.layers.Layer):
    """A subclassed layer with a weight of its own."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.scale


class Unregistered(keras.layers.Layer):
    """A subclassed layer nobody registered."""

    def call(self, x):
        return x


def scaled_decoder(n_features, n_components):
    """A builder using :class:`Scale`: module-level, so estimators pickle."""
    return keras.Sequential(
        [keras.Input((n_components,)), Scale(), keras.layers.Dense(n_features)]
    )


def unregistered_encoder(n_features, n_components):
    """A builder whose model holds a layer that was never registered."""
    return keras.Sequential(
        [keras.Input((n_features,)), Unregistered(), keras.layers.Dense(n_components)]
    )
