"""Checks of settings that scikit-learn's parameter constraints cannot express.

``_parameter_constraints`` check each parameter's type and range on its own;
what needs more (two numbers in order, an instance rather than a class, a
setting that no longer matches the fitted model, a loss that cannot fit the
data) is checked here, before any training, with errors that name the
parameter. Keras is imported only by the checks that need it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from ._devices import parse as parse_device
from ._noise import check_clip, check_level


def check_settings(estimator):
    """Refuse settings of ``estimator`` that cannot work, before training."""
    check_level(estimator.noise, estimator.noise_level, "noise_level")
    check_clip(estimator.noise_clip, "noise_clip")
    check_optimizer(estimator.optimizer)
    check_callbacks(estimator.callbacks)
    parse_device(estimator.device)


def check_optimizer(optimizer):
    """Raise when ``optimizer`` is an optimizer class instead of an instance."""
    if isinstance(optimizer, type):
        raise TypeError(
            f"optimizer must be a name or an optimizer instance; got the class "
            f"{optimizer.__name__}. Pass an instance, e.g. "
            f"optimizer={optimizer.__name__}(learning_rate=1e-3)."
        )


def check_callbacks(callbacks):
    """Raise unless every item of ``callbacks`` is a Keras callback instance."""
    if not callbacks:
        return
    import keras

    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            kind = "the class" if isinstance(callback, type) else "the item"
            raise TypeError(
                f"callbacks must hold keras.callbacks.Callback instances; got "
                f"{kind} {callback!r}. Pass instances, e.g. "
                "callbacks=[keras.callbacks.TensorBoard(log_dir)]."
            )


def warn_if_loss_cannot_fit(loss, low, high, stacklevel):
    """Warn when binary cross-entropy meets data outside [0, 1].

    ``low`` and ``high`` are the per-feature extremes of the training data.
    On Keras's PyTorch backend, whose cross-entropy refuses such targets
    halfway through the first epoch, it is an error instead.
    """
    name = loss if isinstance(loss, str) else getattr(loss, "name", None)
    if name != "binary_crossentropy" or not low.size:
        return
    if low.min() < 0 or high.max() > 1:
        import keras

        message = (
            f"loss='binary_crossentropy' expects data in [0, 1], but X spans "
            f"[{low.min():.3g}, {high.max():.3g}]: the sigmoid output cannot "
            "reach values outside [0, 1] and the loss is not minimal at the "
            "data there. Scale X first, e.g. with MinMaxScaler(clip=True), or "
            "use loss='mse'."
        )
        if keras.backend.backend() == "torch":
            raise ValueError(message + " (The PyTorch backend refuses it.)")
        warnings.warn(message, UserWarning, stacklevel=stacklevel)


def describe_setting(value):
    """Describe a parameter's value so that equal settings compare equal.

    Keras objects (optimizers, losses, layers) are described by their class
    and config, functions by their qualified name, random generators by their
    type; the result goes through JSON, so tuples and lists compare equal.
    """
    if isinstance(value, np.random.RandomState | np.random.Generator):
        value = type(value).__name__
    elif getattr(value, "get_config", None) is not None:
        value = {"class": _qualname(type(value)), "config": value.get_config()}
    elif callable(value) and hasattr(value, "__qualname__"):
        value = _qualname(value)
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    return json.loads(json.dumps(value, default=_plain))


def _qualname(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def check_unchanged(estimator, built, names):
    """Raise when a setting the model was built with has changed since.

    Parameters
    ----------
    estimator : BaseAutoencoder
        A fitted estimator about to train further (``warm_start`` or
        ``partial_fit``).
    built : dict or None
        :func:`describe_setting` of each setting when the model was built;
        None (a model loaded from an older file) checks nothing.
    names : tuple of str
        The settings baked into the model.
    """
    if built is None:
        return
    params = estimator.get_params(deep=False)
    changed = [n for n in names if describe_setting(params[n]) != built.get(n)]
    if changed:
        listed = ", ".join(f"{n} (now {params[n]!r})" for n in changed)
        raise ValueError(
            f"The fitted model of {type(estimator).__name__} was built with "
            f"other values of {listed}, which changed since; the model cannot "
            "take them without being rebuilt. Set warm_start=False to fit a "
            "new model with the new values (for partial_fit, call fit), or "
            "set them back to train the fitted model further."
        )
