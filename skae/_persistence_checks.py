"""What a ``.skae`` file may hold: the checks that ``skae.load`` applies.

``load`` trusts nothing in ``skae.json``: each value must have the type that
``save`` writes, parameters must be the class's own and pass its validation,
only the fitted attributes declared in :data:`FITTED` are set, and they must
agree with the model. Every refusal is a ``ValueError`` that names the file
(:func:`invalid`). Nothing here imports Keras at module level.
"""

from __future__ import annotations

import json
import reprlib
from functools import partial

import numpy as np

from ._validation import check_settings

FORMAT, FORMAT_VERSION = "skae", 1
META, MODEL = "skae.json", "model.keras"
#: Parameters that may hold a Keras object, stored as its config.
KERAS_PARAMS = ("optimizer", "loss", "encoder", "decoder")
#: Parameters whose tuples JSON turns into lists.
_TUPLE_PARAMS = ("hidden_layer_sizes", "noise_clip", "filters", "image_shape")
_FLOATS = ("float16", "float32", "float64")
_INTS = tuple(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))
#: A short repr of a value read from a file, for error messages.
show = reprlib.repr


def invalid(path, problem):
    """Return the error that refuses the file ``path`` for ``problem``."""
    return ValueError(f"{path!r} is not a valid skae file: {problem.rstrip('.')}.")


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_numbers(value):
    return isinstance(value, list) and all(map(_is_number, value))


def _is_device(value):
    from ._devices import parse

    if isinstance(value, str) and value.startswith("distributed"):
        return True
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _decode_array(value, dtypes, is_item=None):
    """Return the array that ``save`` wrote as ``value``, or None.

    Only the dtypes listed are read, so a file cannot ask NumPy for an
    arbitrary (or huge) one; ``is_item`` checks the items as stored (NumPy
    would turn "0.5" into a float).
    """
    if not (
        isinstance(value, dict)
        and set(value) == {"__ndarray__", "dtype"}
        and isinstance(value["__ndarray__"], list)
        and value["dtype"] in dtypes
        and (is_item is None or all(map(is_item, value["__ndarray__"])))
    ):
        return None
    try:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"])
    except (TypeError, ValueError, OverflowError):
        return None


def _rule(what, test, decode=None, nullable=False):
    """Return the check of a stored fitted attribute.

    The check returns the attribute's Python value (``decode(value)`` if
    given), or raises ValueError saying what the value must be.
    """

    def check(value):
        if nullable and value is None:
            return None
        if not test(value):
            raise ValueError(f"must {what}{' or null' if nullable else ''}")
        return value if decode is None else decode(value)

    return check


def _integer(low, high=None):
    bounds = f">= {low}" if high is None else f"in [{low}, {high})"
    return _rule(
        f"be an integer {bounds}",
        lambda v: (
            _is_number(v)
            and isinstance(v, int)
            and low <= v
            and (high is None or v < high)
        ),
    )


def _vector(dtypes, kind, is_item):
    decode = partial(_decode_array, dtypes=dtypes, is_item=is_item)
    return _rule(f"be a 1-D array of {kind}", lambda v: decode(v) is not None, decode)


_NUMBERS = _rule("be a list of numbers", _is_numbers)


def _is_matrix(value):
    rows = value.get("__ndarray__") if isinstance(value, dict) else None
    return (
        isinstance(rows, list)
        and value.get("dtype") in _FLOATS
        and all(isinstance(row, list) and len(row) == len(rows) for row in rows)
        and all(_is_number(v) for row in rows for v in row)
    )


def _square_matrix(value):
    return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(
        len(value["__ndarray__"]), len(value["__ndarray__"])
    )


#: The one declaration of the fitted attributes that ``save`` stores besides
#: the model: each with the check that ``load`` applies to it, and which
#: estimators have it: "all", "optional" (``feature_names_in_`` comes with
#: named columns; ``_model_settings`` and ``device_`` are absent from older
#: files), "variational" or "detector". Nothing else is ever set on a loaded
#: estimator.
FITTED = {
    "n_features_in_": (_integer(1), "all"),
    "feature_names_in_": (
        _vector(("object",), "strings", lambda v: isinstance(v, str)),
        "optional",
    ),
    "n_iter_": (_integer(0), "all"),
    "loss_curve_": (_NUMBERS, "all"),
    "history_": (
        _rule(
            "map names to lists of numbers",
            lambda v: isinstance(v, dict) and all(map(_is_numbers, v.values())),
        ),
        "all",
    ),
    "validation_scores_": (
        _rule("be a list of numbers", _is_numbers, nullable=True),
        "all",
    ),
    "best_validation_score_": (_rule("be a number", _is_number, nullable=True), "all"),
    "reconstruction_loss_curve_": (_NUMBERS, "variational"),
    "kl_loss_curve_": (_NUMBERS, "variational"),
    "_seed": (_integer(0, 2**32), "all"),
    "_data_min": (_vector(_FLOATS, "numbers", _is_number), "all"),
    "_data_max": (_vector(_FLOATS, "numbers", _is_number), "all"),
    "_model_settings": (
        _rule("map parameter names to their values", lambda v: isinstance(v, dict)),
        "optional",
    ),
    "offset_": (_rule("be a number", _is_number), "detector"),
    "error_scale_": (_vector(_FLOATS, "numbers", _is_number), "detector"),
    "code_mean_": (_vector(_FLOATS, "numbers", _is_number), "detector"),
    "code_precision_": (
        _rule("be a square matrix of numbers", _is_matrix, _square_matrix),
        "detector",
    ),
    "score_scales_": (_vector(_FLOATS, "numbers", _is_number), "detector"),
    # Where the model was fitted: load gives it to _devices.restore.
    "device_": (_rule("be a device such as 'cpu' or 'gpu:0'", _is_device), "optional"),
}
#: What files written before the code width became a property of the model
#: hold: accepted, checked against the model, never set.
_WRITTEN_BEFORE = {"_n_features_out": _integer(1)}


def classes():
    """Return skae's estimator classes by name: the only ones a file may name."""
    from ._autoencoder import AutoencoderTransformer
    from ._outlier import AutoencoderOutlierDetector
    from ._variational import VariationalAutoencoderTransformer

    found = (
        AutoencoderTransformer,
        VariationalAutoencoderTransformer,
        AutoencoderOutlierDetector,
    )
    return {cls.__name__: cls for cls in found}


def validate(estimator):
    """Refuse what ``fit`` would refuse: save writes, load reads no such file."""
    estimator._validate_params()
    check_settings(estimator)


def read_meta(path, archive):
    """Return the ``skae.json`` of ``archive``, its top level checked."""
    try:
        meta = json.loads(archive.read(META))
    except KeyError:
        raise ValueError(f"{path!r} is not a skae file: it has no {META}.") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path!r} has a corrupted {META} ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a skae file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} has skae format version {meta.get('format_version')}; "
            f"this skae reads version {FORMAT_VERSION}."
        )
    if not isinstance(meta.get("class"), str) or meta["class"] not in classes():
        raise invalid(path, f"it holds an unknown class {meta.get('class')!r}")
    meta.setdefault("versions", {})
    meta.setdefault("random_states", [])
    for key, kind, what in (
        ("params", dict, "an object of parameter values"),
        ("fitted", (dict, type(None)), "null or an object of fitted attributes"),
        ("versions", dict, "an object of library versions"),
        ("random_states", list, "a list of random generator states"),
    ):
        if key not in meta or not isinstance(meta[key], kind):
            got = show(meta[key]) if key in meta else "nothing"
            raise invalid(path, f"its {key!r} must be {what}; got {got}")
    return meta


def _param_from_json(name, value):
    if isinstance(value, dict) and "__keras__" in value:
        if name not in KERAS_PARAMS:
            raise ValueError(
                f"only {', '.join(KERAS_PARAMS)} may hold a Keras object; got "
                f"{show(value)}"
            )
        import keras

        return keras.saving.deserialize_keras_object(value["__keras__"], safe_mode=True)
    if isinstance(value, dict) and "__ndarray__" in value:
        array = _decode_array(value, _INTS + _FLOATS)
        if array is None:
            raise ValueError(f"{show(value)} is not an array of numbers")
        return array
    return tuple(value) if name in _TUPLE_PARAMS and isinstance(value, list) else value


def params_from_json(path, cls, params):
    """Build ``cls`` from stored parameters, refusing what it would refuse."""
    unknown = [name for name in params if name not in cls().get_params(deep=False)]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise invalid(path, f"{cls.__name__} has no parameter {names}")
    values = {}
    for name, value in params.items():
        try:  # Keras raises any of several types for a config it cannot load.
            values[name] = _param_from_json(name, value)
        except Exception as exc:
            problem = f"its parameter {name} cannot be loaded ({exc})"
            raise invalid(path, problem) from exc
    estimator = cls(**values)
    try:
        validate(estimator)
    except (TypeError, ValueError) as exc:
        raise invalid(path, f"its parameters are refused: {exc}") from exc
    return estimator


def fitted_from_json(path, cls, fitted):
    """Check the stored fitted attributes and return their Python values."""
    from ._outlier import AutoencoderOutlierDetector
    from ._variational import VariationalAutoencoderTransformer

    kind = (
        "variational" if issubclass(cls, VariationalAutoencoderTransformer)
        else "detector" if issubclass(cls, AutoencoderOutlierDetector)
        else None
    )  # fmt: skip
    checks = {
        n: c for n, (c, has) in FITTED.items() if has in ("all", "optional", kind)
    }
    required = [name for name in checks if FITTED[name][1] != "optional"]
    checks.update(_WRITTEN_BEFORE)
    unknown = [name for name in fitted if name not in checks]
    if unknown:
        names = ", ".join(map(repr, unknown))
        problem = f"{cls.__name__} has no fitted attribute {names}"
        raise invalid(path, f"{problem} (unknown fitted attribute)")
    missing = [name for name in required if name not in fitted]
    if missing:
        raise invalid(path, f"it lacks the fitted attribute(s) {', '.join(missing)}")
    values = {}
    for name, value in fitted.items():
        try:
            values[name] = checks[name](value)
        except ValueError as exc:
            raise invalid(path, f"{name} {exc}; got {show(value)}") from None
    n_features = values["n_features_in_"]
    for name in ("feature_names_in_", "_data_min", "_data_max", "error_scale_"):
        if name in values and len(values[name]) != n_features:
            raise invalid(
                path,
                f"{name} has {len(values[name])} values for "
                f"n_features_in_={n_features}",
            )
    return values


def check_model(path, estimator, model, fitted):
    """Attach ``model`` to ``estimator``; raise unless it agrees with ``fitted``.

    Pops ``_n_features_out`` (files written before it was a property) from
    ``fitted`` once it is checked against the model's code width.
    """
    from ._models import check_precision, input_dtype
    from ._variational import VariationalAutoencoderTransformer

    kind = type(estimator).__name__
    check_precision(input_dtype(model))
    try:  # Keras raises any of several types for a model of another shape.
        estimator._set_model(model)
        n_inputs = model.inputs[0].shape[-1] if len(model.inputs) == 1 else None
        width = estimator._n_features_out
    except Exception as exc:
        raise invalid(path, f"its model is not a {kind} model ({exc})") from exc
    n_outputs = 2 if isinstance(estimator, VariationalAutoencoderTransformer) else 1
    n_in, n_out = fitted["n_features_in_"], fitted.pop("_n_features_out", width)
    for wrong, problem in (
        (
            len(model.outputs) != n_outputs,
            f"its model has {len(model.outputs)} output(s), where a {kind} "
            f"model has {n_outputs}",
        ),
        (
            n_inputs != n_in,
            f"n_features_in_={n_in} but its model takes {n_inputs} features",
        ),
        (
            n_out != width,
            f"_n_features_out={n_out} but its model makes codes of width {width}",
        ),
    ):
        if wrong:
            raise invalid(path, problem)


def check_seeds(path, variables, states):
    """Return the stored random-generator ``states`` if they fit ``variables``."""
    if len(states) != len(variables):
        raise invalid(
            path,
            f"its random_states hold {len(states)} generator state(s) for a "
            f"model with {len(variables)} random generator(s)",
        )
    values = tuple(_decode_array(state, _INTS) for state in states)
    for variable, value, state in zip(variables, values, states, strict=True):
        if value is None or value.shape != tuple(variable.shape):
            raise invalid(
                path,
                f"its random_states must be integer arrays of shape "
                f"{tuple(variable.shape)}; got {show(state)}",
            )
    return values
