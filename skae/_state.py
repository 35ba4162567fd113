"""All of a trained model's state, and the one place that compiles a model.

A Keras autoencoder's state is three lists of arrays: its weights, the state
of its random generators (dropout, the VAE's sampling; Keras keeps them out of
``get_weights`` and weight files) and its optimizer's variables.
:class:`ModelState` captures and restores the three together: rollback of
a failed call, the last good epoch's state during training and pickles use
it, and checkpoints and ``skae.save`` (whose weights and optimizer state
Keras's own formats hold) put the random generators' state back with
:func:`set_seeds`.
No other module assigns a model's variables.

:func:`compile_model` is where skae compiles a model with the estimator's
optimizer, learning rate and loss (:class:`Compilation`): a new model, a
model rebuilt from a pickle, and the copy that a ``distribution`` trains.
(``skae.load`` gets the model compiled by Keras, from the ``.keras`` file.)
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ._validation import OPTIMIZERS


def random_states(model: keras.Model) -> list:
    """Return the variables of ``model``'s random generators (dropout seeds)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _assign(variables, values):
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def set_seeds(model: keras.Model, seeds) -> None:
    """Put back the state of ``model``'s random generators (a resumed run)."""
    _assign(random_states(model), seeds)


@dataclass(frozen=True)
class ModelState:
    """Weights, random-generator state and optimizer state of a model.

    Parameters
    ----------
    weights : tuple of ndarray
        ``model.get_weights()``.
    seeds : tuple of ndarray
        Values of :func:`random_states`.
    optimizer : tuple of ndarray or None
        Values of the optimizer's variables; None before its first step.
    """

    weights: tuple
    seeds: tuple
    optimizer: tuple | None = None

    @classmethod
    def capture(cls, model: keras.Model) -> ModelState:
        """Copy the state of ``model`` (a compiled or a plain model)."""
        optimizer = getattr(model, "optimizer", None)
        values = None
        if optimizer is not None and optimizer.built:
            values = tuple(v.numpy() for v in optimizer.variables)
        seeds = tuple(v.numpy() for v in random_states(model))
        return cls(tuple(model.get_weights()), seeds, values)

    def restore(self, model: keras.Model) -> None:
        """Put this state into ``model``, building its optimizer if need be."""
        model.set_weights(list(self.weights))
        self.restore_seeds(model)
        if self.optimizer is not None:
            optimizer = model.optimizer
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            _assign(optimizer.variables, self.optimizer)

    def restore_seeds(self, model: keras.Model) -> None:
        """Put back the random generators' state only."""
        set_seeds(model, self.seeds)

    def is_finite(self) -> bool:
        """Whether the weights and the optimizer state are all finite."""
        arrays = (*self.weights, *(self.optimizer or ()))
        return all(np.isfinite(v).all() for v in arrays)

    def to_plain(self) -> dict:
        """Return the state as a dict of lists of arrays (for pickles)."""
        return {
            "weights": list(self.weights),
            "random_states": list(self.seeds),
            "optimizer": None if self.optimizer is None else list(self.optimizer),
        }

    @classmethod
    def from_plain(cls, plain: dict) -> ModelState:
        """Inverse of :meth:`to_plain`."""
        optimizer = plain.get("optimizer")
        return cls(
            tuple(plain["weights"]),
            tuple(plain.get("random_states", ())),
            None if optimizer is None else tuple(optimizer),
        )


@dataclass(frozen=True)
class Compilation:
    """How an estimator compiles its model.

    Parameters
    ----------
    optimizer : str or keras.optimizers.Optimizer
        A name of ``_validation.OPTIMIZERS``, or an instance, copied at each compile.
    learning_rate : float
        The learning rate of a named optimizer.
    loss : str, keras.losses.Loss, callable or dict
        The loss, or one per output name.
    loss_weights : dict or None
        Weight of each output's loss.
    loss_scale : bool
        Wrap the optimizer in Keras's dynamic ``LossScaleOptimizer``, which
        float16 computations need so that small gradients do not underflow.
    """

    optimizer: object
    learning_rate: float
    loss: object
    loss_weights: dict | None = None
    loss_scale: bool = False

    def make_optimizer(self):
        """Return a new optimizer: by name, or a copy of the given instance.

        A given instance is copied through its config, so the user's object
        is never built or trained; its own learning rate then applies.
        """
        if isinstance(self.optimizer, str):
            optimizer = getattr(keras.optimizers, OPTIMIZERS[self.optimizer])(
                learning_rate=self.learning_rate
            )
        else:
            optimizer = self.optimizer.__class__.from_config(
                self.optimizer.get_config()
            )
        if self.loss_scale and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer


def compile_model(
    model: keras.Model, compilation: Compilation, state: ModelState | None = None
) -> keras.Model:
    """Compile ``model`` as ``compilation`` says; restore ``state`` if given.

    The one place where skae compiles a model. Returns ``model``.
    """
    model.compile(
        optimizer=compilation.make_optimizer(),
        loss=compilation.loss,
        loss_weights=compilation.loss_weights,
    )
    if state is not None:
        state.restore(model)
    return model


def set_learning_rate(model: keras.Model, compilation: Compilation) -> None:
    """Apply the learning rate of a named optimizer to a compiled model.

    A warm start keeps the optimizer and its state; a changed
    ``learning_rate`` still applies.
    """
    if isinstance(compilation.optimizer, str):
        model.optimizer.learning_rate.assign(compilation.learning_rate)


def model_to_plain(model: keras.Model) -> dict:
    """Return a picklable description of ``model``: its config and state."""
    return {
        "config": keras.saving.serialize_keras_object(model),
        **ModelState.capture(model).to_plain(),
    }


def model_from_plain(plain: dict, compilation: Compilation) -> keras.Model:
    """Rebuild, compile and restore a model from :func:`model_to_plain`."""
    try:
        model = keras.saving.deserialize_keras_object(plain["config"])
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"The Keras model could not be rebuilt: {exc}\nIf it holds layers "
            "or models of your own classes, decorate each class with "
            "@keras.saving.register_keras_serializable() and import its "
            "module before loading."
        ) from exc
    return compile_model(model, compilation, ModelState.from_plain(plain))
