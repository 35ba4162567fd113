"""Validation apart from the estimator: the data it is given, and its settings.

The array checks (``check_X``, ``check_codes``, ``check_sample_weight``) take
what scikit-learn's ``validate_data`` takes, plus what a float network needs:
booleans and values it would overflow on are refused, and values far outside
the training range get a warning. The settings checks do what
``_parameter_constraints`` cannot express on one parameter alone (two numbers
in order, an instance rather than a class, a setting that no longer matches
the fitted model, a loss that cannot fit the data). Every message names the
parameter or the input. Nothing here imports Keras at module level.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import warnings

import numpy as np
from sklearn.utils.validation import check_array

from ._compat import _check_sample_weight, validate_data
from ._devices import parse as parse_device
from ._memmap import column_range
from ._noise import check_clip, check_level
from .exceptions import OutOfRangeWarning

#: Optimizer names the estimators accept, mapped to Keras's class names.
OPTIMIZERS = {
    "adagrad": "Adagrad",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "rmsprop": "RMSprop",
    "sgd": "SGD",
}
#: Loss names the estimators accept (Keras's own identifiers).
LOSSES = frozenset({"binary_crossentropy", "huber", "log_cosh", "mae", "mse"})
#: Activation names of the layers skae builds (Keras's own identifiers).
ACTIVATIONS = frozenset(
    {"elu", "gelu", "leaky_relu", "linear", "relu", "selu", "sigmoid", "softplus",
     "swish", "tanh"}
)  # fmt: skip


# -- data ------------------------------------------------------------------------


def external_stacklevel():
    """Stack level of the first caller outside skae, scikit-learn and joblib.

    Warnings then point at the user's line whichever public method (and
    scikit-learn wrapper) led to them: ``GridSearchCV.fit`` and
    ``cross_validate`` call the estimator through joblib even with one job.
    (In a worker process or thread of ``n_jobs=2`` the user's line is not on
    the stack; the warning points at the first frame outside the three.)
    """
    import joblib
    import sklearn

    inside = tuple(
        os.path.dirname(path) for path in (__file__, sklearn.__file__, joblib.__file__)
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def refuse_booleans(X, name):
    """Booleans are not numbers to reconstruct: say how to convert them."""
    dtypes = getattr(X, "dtypes", None)  # a DataFrame: check every column
    dtypes = [getattr(X, "dtype", None)] if dtypes is None else list(dtypes)
    if any(getattr(d, "kind", None) == "b" or str(d) == "boolean" for d in dtypes):
        raise TypeError(
            f"{name} holds booleans. An autoencoder reconstructs numbers; if "
            f"they are 0/1 features, convert them first with "
            f"{name}.astype(np.float32)."
        )


def as_numbers(X, name):
    """Convert what validation let through as objects (e.g. categories) or fail."""
    if X.dtype == bool:
        refuse_booleans(X, name)
    if X.dtype.kind == "O":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} holds values that are not numbers ({exc}). Encode "
                "categories first, e.g. with OneHotEncoder or OrdinalEncoder."
            ) from exc
    return X


def check_magnitude(low, high, dtype, name):
    """Refuse values a network computing in ``dtype`` would overflow on."""
    # bfloat16 has float32's exponent, hence its range.
    limit = np.sqrt(np.finfo("float32" if dtype == "bfloat16" else dtype).max)
    if low.size and (low.min() < -limit or high.max() > limit):
        raise ValueError(
            f"{name} has values of magnitude above {limit:.3g}, beyond which "
            f"a {dtype} network overflows. Scale the data first, e.g. with "
            "StandardScaler, or use precision='float64'."
        )


def check_X(estimator, X, *, reset, dtype, training=False):
    """Check ``X`` like scikit-learn does, plus what a ``dtype`` network needs.

    Training records the per-feature range in ``_data_min``/``_data_max``
    (widening it on later calls); other calls warn about values far outside
    it. Returns the validated ``X`` (ndarray, memmap or CSR; not copied).
    """
    refuse_booleans(X, "X")
    X = validate_data(estimator, X, reset=reset, dtype="numeric", accept_sparse="csr")
    X = as_numbers(X, "X")
    low, high = column_range(X)
    check_magnitude(low, high, dtype, "X")
    if training:
        warn_if_loss_cannot_fit(estimator.loss, low, high, external_stacklevel())
        if reset or not hasattr(estimator, "_data_min"):
            estimator._data_min, estimator._data_max = low, high
        else:
            estimator._data_min = np.minimum(estimator._data_min, low)
            estimator._data_max = np.maximum(estimator._data_max, high)
    elif hasattr(estimator, "_data_min"):
        _warn_out_of_range(estimator._data_min, estimator._data_max, low, high)
    return X


def _warn_out_of_range(data_min, data_max, low, high):
    # A feature that was constant in training (an image border) is judged by
    # the widest feature's range instead of its own, which is zero.
    span = data_max - data_min
    span = np.maximum(span, span.max(initial=0.0)) if span.size else span
    far = (low < data_min - span) | (high > data_max + span)
    if far.any():
        warnings.warn(
            f"X has values far outside the range seen in training (beyond it "
            f"by more than the training range's width) in {int(far.sum())} "
            "feature(s); the autoencoder extrapolates there. Check that X is "
            "scaled like the training data.",
            OutOfRangeWarning,
            stacklevel=external_stacklevel(),
        )


def check_codes(estimator, Z, *, width, dtype):
    """Check the codes given to ``inverse_transform``: ``width`` columns."""
    refuse_booleans(Z, "X")
    Z = as_numbers(check_array(Z, dtype="numeric", estimator=estimator), "X")
    check_magnitude(*column_range(Z), dtype, "The codes X")
    if Z.shape[1] != width:
        raise ValueError(
            f"X has {Z.shape[1]} columns, but inverse_transform expects codes "
            f"of width n_components={width}, as returned by transform."
        )
    return Z


def check_sample_weight(sample_weight, X):
    """Return ``sample_weight`` as float64 (None stays None); no negatives.

    All-zero weights get skae's own message on every supported
    scikit-learn (its own check, and its wording, came in 1.9).
    """
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True,
        **({"allow_all_zero_weights": True} if _ALLOWS_ALL_ZERO else {}),
    )  # fmt: skip
    if not np.any(sample_weight):
        raise ValueError(
            "sample_weight is zero for every sample: at least one non-zero "
            "weight is needed to train."
        )
    return sample_weight


#: Whether scikit-learn's ``_check_sample_weight`` refuses all-zero weights
#: itself unless told not to (1.9 and later).
_ALLOWS_ALL_ZERO = (
    "allow_all_zero_weights" in inspect.signature(_check_sample_weight).parameters
)


# -- settings --------------------------------------------------------------------


def check_settings(estimator):
    """Refuse settings of ``estimator`` that cannot work, before training."""
    check_level(estimator.noise, estimator.noise_level, "noise_level")
    check_clip(estimator.noise_clip, "noise_clip")
    check_optimizer(estimator.optimizer)
    check_callbacks(estimator.callbacks)
    parse_device(estimator.device)
    if estimator.distribution is not None and estimator.checkpoint_dir is not None:
        raise ValueError(
            "checkpoint_dir and distribution cannot be combined yet: resuming "
            "a distributed fit is not supported. Drop one."
        )


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
    elif isinstance(value, type):  # a class: a loss class, a builder class
        value = _qualname(value)
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


def check_unchanged(estimator, built):
    """Raise when a setting the model was built with has changed since.

    Parameters
    ----------
    estimator : BaseAutoencoder
        A fitted estimator about to train further (``warm_start`` or
        ``partial_fit``).
    built : dict or None
        :func:`describe_setting` of each setting when the model was built;
        None (a model loaded from an older file) checks nothing.
    """
    if built is None:
        return
    params = estimator.get_params(deep=False)
    changed = [
        name
        for name in estimator._built_from
        # A setting an older file did not record (``init``) is not checked.
        if name in built and describe_setting(params[name]) != built[name]
    ]
    if changed:
        listed = ", ".join(f"{n} (now {params[n]!r})" for n in changed)
        raise ValueError(
            f"The fitted model of {type(estimator).__name__} was built with "
            f"other values of {listed}, which changed since; the model cannot "
            "take them without being rebuilt. Set warm_start=False to fit a "
            "new model with the new values (for partial_fit, call fit), or "
            "set them back to train the fitted model further."
        )
