"""A safe file format for skae estimators: ``skae.save`` and ``skae.load``.

Unlike pickle, loading runs no code from the file. A ``.skae`` file is a zip
archive holding

- ``skae.json``: the format version, the estimator's class (one of skae's own,
  looked up by name, never imported from the file), its parameters and fitted
  attributes as JSON, and the versions of skae, Keras, scikit-learn and NumPy
  that wrote it;
- ``model.keras``: the Keras model (with its optimizer state) in Keras's native
  format, loaded with ``safe_mode=True``, which refuses to deserialize code
  such as ``Lambda`` layers.

``load`` trusts nothing in ``skae.json``: each value must have the type that
``save`` writes, parameters must be the class's own and pass its validation,
only the declared fitted attributes are set, and they must agree with the
model. Anything else is refused with a ``ValueError`` naming the file.
``save`` writes beside the target and moves the file into place only once it
is complete, so a failed save leaves no partial file and an existing file
untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import reprlib
import tempfile
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from ._compat import validate_params
from ._validation import check_settings
from .exceptions import InconsistentVersionWarning

FORMAT, FORMAT_VERSION = "skae", 1
_META, _MODEL = "skae.json", "model.keras"
_FLOATS = ("float16", "float32", "float64")
_INTS = tuple(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decode_array(value, dtypes):
    """Return the array that :func:`_to_json` wrote as ``value``, or None.

    Only the dtypes listed are read, so a file cannot ask NumPy for an
    arbitrary (or huge) one.
    """
    if not (
        isinstance(value, dict)
        and set(value) == {"__ndarray__", "dtype"}
        and isinstance(value["__ndarray__"], list)
        and value["dtype"] in dtypes
    ):
        return None
    try:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"])
    except (TypeError, ValueError, OverflowError):
        return None


# Each check takes an attribute's JSON value and returns its Python value, or
# raises ValueError saying what the value must be.


def _integer(low, high=None):
    def check(value):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value >= high)
        ):
            bounds = f">= {low}" if high is None else f"in [{low}, {high})"
            raise ValueError(f"must be an integer {bounds}")
        return value

    return check


def _number(value):
    if not _is_number(value):
        raise ValueError("must be a number")
    return value


def _numbers(value):
    if not (isinstance(value, list) and all(map(_is_number, value))):
        raise ValueError("must be a list of numbers")
    return value


def _or_null(check):
    def check_or_null(value):
        try:
            return None if value is None else check(value)
        except ValueError as exc:
            raise ValueError(f"{exc} or null") from None

    return check_or_null


def _history(value):
    if not (
        isinstance(value, dict)
        and all(isinstance(curve, list) for curve in value.values())
        and all(map(_is_number, (v for curve in value.values() for v in curve)))
    ):
        raise ValueError("must map names to lists of numbers")
    return value


def _settings(value):
    if not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
        raise ValueError("must map parameter names to their values")
    return value


def _vector(dtypes, kind, is_item):
    def check(value):
        array = _decode_array(value, dtypes)
        # Items checked as stored: NumPy would turn "0.5" into a float.
        if array is None or not all(map(is_item, value["__ndarray__"])):
            raise ValueError(f"must be a 1-D array of {kind}")
        return array

    return check


#: Fitted attributes stored as JSON (besides the model), each with the check
#: that :func:`load` applies to it: nothing else is ever set on a loaded
#: estimator.
_FITTED = {
    "n_features_in_": _integer(1),
    "feature_names_in_": _vector(("object",), "strings", lambda v: isinstance(v, str)),
    "n_iter_": _integer(0),
    "loss_curve_": _numbers,
    "history_": _history,
    "validation_scores_": _or_null(_numbers),
    "best_validation_score_": _or_null(_number),
    "reconstruction_loss_curve_": _numbers,
    "kl_loss_curve_": _numbers,
    "_seed": _integer(0, 2**32),
    "_n_features_out": _integer(1),
    "_data_min": _vector(_FLOATS, "numbers", _is_number),
    "_data_max": _vector(_FLOATS, "numbers", _is_number),
    "_model_settings": _settings,
}
#: Fitted attributes that a fitted estimator may lack (``_model_settings``:
#: files written before skae checked changed settings under a warm start).
_OPTIONAL = ("feature_names_in_", "_model_settings")
#: Fitted attributes of the variational autoencoder only.
_VARIATIONAL = ("reconstruction_loss_curve_", "kl_loss_curve_")
#: Parameters whose tuples JSON turns into lists.
_TUPLE_PARAMS = ("hidden_layer_sizes", "noise_clip", "filters", "image_shape")
#: Parameters that may hold a Keras object, stored as its config.
_KERAS_PARAMS = ("optimizer", "loss", "encoder", "decoder")


def _classes():
    from ._autoencoder import AutoencoderTransformer
    from ._variational import VariationalAutoencoderTransformer

    classes = (AutoencoderTransformer, VariationalAutoencoderTransformer)
    return {cls.__name__: cls for cls in classes}


def _versions():
    import sklearn

    from . import __version__

    try:
        import keras

        keras_version = keras.__version__
    except ImportError:  # pragma: no cover - keras is a dependency
        keras_version = None
    return {
        "skae": __version__,
        "keras": keras_version,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def _to_json(value):
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


def _params_to_json(estimator):
    import keras

    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name == "callbacks":
            if value:
                warnings.warn(
                    "skae.save does not save callbacks; the loaded estimator "
                    "has callbacks=None.",
                    UserWarning,
                    stacklevel=4,
                )
            value = None
        elif name == "distribution":
            value = None  # bound to this process's devices; see the docstring
        elif name == "random_state" and not (
            value is None or isinstance(value, int | np.integer)
        ):
            raise TypeError(
                "skae.save stores random_state as an int or None; got "
                f"{type(value).__name__}. Set an int random_state before saving."
            )
        elif name in ("encoder", "decoder") and isinstance(value, keras.Layer):
            warnings.warn(
                f"skae.save stores the architecture of {name}={value.name!r} "
                "but not its weights: the fitted model is saved whole, but "
                "refitting the loaded estimator starts that half from fresh "
                "weights. Use joblib to keep them, or a builder function.",
                UserWarning,
                stacklevel=4,
            )
            value = _keras_param(name, value)
        elif name in _KERAS_PARAMS and not (value is None or isinstance(value, str)):
            value = _keras_param(name, value)
        elif isinstance(value, os.PathLike):
            value = os.fspath(value)
        params[name] = _to_json(value)
        try:
            json.dumps(params[name])
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"skae.save stores parameters as JSON and cannot store "
                f"{name}={value!r} ({exc}). Give it as a number, a string, a "
                "bool, None or a list of those."
            ) from exc
    return params


def _keras_param(name, value):
    """Store a Keras object or registered function as its config, or refuse."""
    import keras

    try:
        config = keras.saving.serialize_keras_object(value)
        json.dumps(config)
        # What load will do: only Keras's own or registered objects.
        keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as exc:
        raise TypeError(
            f"skae.save cannot store {name}={value!r} safely ({exc}). Use a "
            "name, a Keras object, or a function registered with "
            "keras.saving.register_keras_serializable; or use joblib, which "
            "stores any picklable object (and runs code when loading)."
        ) from exc
    return {"__keras__": config}


def _show(value):
    """Return a short repr of a value read from a file, for error messages."""
    return reprlib.repr(value)


def _invalid(path, problem):
    return ValueError(f"{path!r} is not a valid skae file: {problem.rstrip('.')}.")


def _params_from_json(path, cls, params):
    """Build ``cls`` from stored parameters, refusing what it would refuse."""
    known = cls().get_params(deep=False)
    unknown = [name for name in params if name not in known]
    if unknown:
        raise _invalid(
            path,
            f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))}",
        )
    values = {}
    for name, value in params.items():
        # Keras raises any of several types for a config it cannot load.
        try:
            values[name] = _param_from_json(name, value)
        except Exception as exc:
            raise _invalid(
                path, f"its parameter {name} cannot be loaded ({exc})"
            ) from exc
    estimator = cls(**values)
    try:
        estimator._validate_params()
        check_settings(estimator)
    except (TypeError, ValueError) as exc:
        raise _invalid(path, f"its parameters are refused: {exc}") from exc
    return estimator


def _param_from_json(name, value):
    if isinstance(value, dict) and "__keras__" in value:
        if name not in _KERAS_PARAMS:
            raise ValueError(
                f"only {', '.join(_KERAS_PARAMS)} may hold a Keras object; got "
                f"{_show(value)}"
            )
        import keras

        return keras.saving.deserialize_keras_object(value["__keras__"], safe_mode=True)
    if isinstance(value, dict) and "__ndarray__" in value:
        array = _decode_array(value, _INTS + _FLOATS)
        if array is None:
            raise ValueError(f"{_show(value)} is not an array of numbers")
        return array
    if name in _TUPLE_PARAMS and isinstance(value, list):
        return tuple(value)
    return value


def _fitted_from_json(path, cls, fitted):
    """Check the stored fitted attributes and return their Python values."""
    from ._variational import VariationalAutoencoderTransformer

    variational = issubclass(cls, VariationalAutoencoderTransformer)
    expected = [name for name in _FITTED if variational or name not in _VARIATIONAL]
    unknown = [name for name in fitted if name not in expected]
    if unknown:
        raise _invalid(
            path,
            f"{cls.__name__} has no fitted attribute "
            f"{', '.join(map(repr, unknown))} (unknown fitted attribute)",
        )
    missing = [n for n in expected if n not in fitted and n not in _OPTIONAL]
    if missing:
        raise _invalid(path, f"it lacks the fitted attribute(s) {', '.join(missing)}")
    values = {}
    for name, value in fitted.items():
        try:
            values[name] = _FITTED[name](value)
        except ValueError as exc:
            raise _invalid(path, f"{name} {exc}; got {_show(value)}") from None
    n_features = values["n_features_in_"]
    for name in ("feature_names_in_", "_data_min", "_data_max"):
        if name in values and len(values[name]) != n_features:
            raise _invalid(
                path,
                f"{name} has {len(values[name])} values for "
                f"n_features_in_={n_features}",
            )
    return values


@validate_params(
    {"estimator": [BaseEstimator], "path": [str, os.PathLike]},
    prefer_skip_nested_validation=True,
)
def save(estimator, path):
    """Save a skae estimator to one file without pickle.

    Parameters
    ----------
    estimator : AutoencoderTransformer
        A skae estimator, fitted or not. To save a Pipeline, save its skae step
        with this function and the other steps with a format you trust, then
        put the loaded step back with ``pipeline.set_params(step=loaded)``.
    path : str or path-like
        The file to write (by convention ending in ``.skae``), in a folder
        that exists. An existing file is replaced, in one step, only once
        the new one is complete: a failed save leaves it as it was.

    Raises
    ------
    TypeError
        When ``estimator`` is not a skae estimator, or a parameter cannot be
        stored safely (see Notes).
    ValueError
        When a parameter has a value the estimator refuses (the error that
        ``fit`` would raise): :func:`load` would refuse the file.
    OSError
        When ``path`` is a folder (``IsADirectoryError``), its folder does
        not exist (``FileNotFoundError``) or cannot be written.

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    Parameters are stored as JSON: ``random_state`` must be an int or None,
    custom losses and optimizers must be Keras objects or functions registered
    with ``keras.saving.register_keras_serializable``, and ``callbacks`` and
    ``distribution`` are not saved (the loaded estimator has None). A Keras
    model given as ``encoder``/``decoder`` is stored as its architecture only
    (a warning says so); a builder function must be registered. The Keras
    model is stored in Keras's ``.keras`` format with its optimizer state,
    and the state of its dropout generators.
    """
    classes = _classes()
    if type(estimator).__name__ not in classes:
        raise TypeError(
            f"skae.save saves skae estimators ({', '.join(classes)}); got "
            f"{type(estimator).__name__}. For a Pipeline, save its skae step "
            "with skae.save and the other steps separately (see skae.save's "
            "docstring)."
        )
    name = os.fspath(path)
    path = Path(path)
    _check_destination(name, path)
    _check_params(estimator)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(estimator).__name__,
        "versions": _versions(),
        "params": _params_to_json(estimator),
        "fitted": None,
    }
    fitted = estimator.__sklearn_is_fitted__()
    if fitted:
        from ._models import random_states

        meta["fitted"] = {
            name: _to_json(getattr(estimator, name))
            for name in _FITTED
            if hasattr(estimator, name)
        }
        meta["random_states"] = [
            _to_json(v.numpy()) for v in random_states(estimator.model_)
        ]
    payload = json.dumps(meta)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / _MODEL if fitted else None
        if fitted:
            estimator.model_.save(model)
        _write(name, path, payload, model)


def _check_params(estimator):
    """Refuse what fit (and so load) would refuse: save writes no such file."""
    try:
        estimator._validate_params()
        check_settings(estimator)
    except (TypeError, ValueError) as exc:
        # Not scikit-learn's InvalidParameterError, which validate_params
        # would reword as a parameter of save.
        kind = ValueError if isinstance(exc, ValueError) else TypeError
        raise kind(
            f"skae.save cannot save this {type(estimator).__name__}: {exc}"
        ) from exc


def _check_destination(name, path):
    """Refuse a path that no file can be written to, before any work."""
    if path.is_dir():
        raise IsADirectoryError(
            f"skae.save cannot write {name!r}: it is a folder. Give a file "
            f"path, e.g. {os.path.join(name, 'model.skae')!r}."
        )
    folder = path.parent
    if not folder.exists():
        raise FileNotFoundError(
            f"skae.save cannot write {name!r}: the folder {os.fspath(folder)!r} "
            "does not exist. Create it first."
        )
    if not folder.is_dir():
        raise NotADirectoryError(
            f"skae.save cannot write {name!r}: {os.fspath(folder)!r} is not a folder."
        )


def _write(name, path, payload, model):
    """Write the archive beside ``path``, then move it there in one step.

    The archive is written to a file of its own, so ``path`` never holds a
    half-written file, and a failure removes it and leaves ``path`` as it
    was.
    """
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        with zipfile.ZipFile(partial, "x", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_META, payload)
            if model is not None:
                archive.write(model, _MODEL)
        partial.replace(path)
    except OSError as exc:
        _remove(partial)
        # Name the user's path, not the temporary file's.
        message = f"skae.save could not write {name!r}: {exc.strerror or exc}"
        args = (message,) if exc.errno is None else (exc.errno, message)
        raise type(exc)(*args) from exc
    except BaseException:
        _remove(partial)
        raise


def _remove(file):
    with contextlib.suppress(OSError):
        file.unlink(missing_ok=True)


def _read_meta(path, archive):
    try:
        meta = json.loads(archive.read(_META))
    except KeyError:
        raise ValueError(f"{path!r} is not a skae file: it has no {_META}.") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path!r} has a corrupted {_META} ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a skae file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} has skae format version {meta.get('format_version')}; "
            f"this skae reads version {FORMAT_VERSION}."
        )
    if not isinstance(meta.get("class"), str) or meta["class"] not in _classes():
        raise _invalid(path, f"it holds an unknown class {meta.get('class')!r}")
    meta.setdefault("versions", {})
    meta.setdefault("random_states", [])
    for key, kind, what in (
        ("params", dict, "an object of parameter values"),
        ("fitted", (dict, type(None)), "null or an object of fitted attributes"),
        ("versions", dict, "an object of library versions"),
        ("random_states", list, "a list of random generator states"),
    ):
        if not isinstance(meta.get(key), kind) or key not in meta:
            got = _show(meta[key]) if key in meta else "nothing"
            raise _invalid(path, f"its {key!r} must be {what}; got {got}")
    return meta


def _check_versions(path, saved):
    current = _versions()
    differ = {
        name: (saved.get(name), version)
        for name, version in current.items()
        if name != "numpy" and saved.get(name) != version
    }
    if differ:
        details = ", ".join(f"{n} {old} -> {new}" for n, (old, new) in differ.items())
        warnings.warn(
            f"{path!r} was saved with other versions ({details}); the "
            "loaded estimator may behave differently. Refit, or load it under "
            "the versions that saved it.",
            InconsistentVersionWarning,
            stacklevel=4,  # load's caller, past validate_params's wrapper
        )


def _load_model(path, archive, folder):
    """Extract and load the Keras model, refusing code and damaged files."""
    import keras

    if _MODEL not in archive.namelist():
        raise _invalid(path, f"it is incomplete: it lacks {_MODEL}, the fitted model")
    file = archive.extract(_MODEL, folder)
    if not zipfile.is_zipfile(file):
        raise _invalid(
            path,
            f"Keras could not load the model safely ({_MODEL} is not a .keras archive)",
        )
    # Keras raises any of several types for a damaged or unsafe model.
    try:
        return keras.saving.load_model(file, compile=True, safe_mode=True)
    except Exception as exc:
        raise _invalid(path, f"Keras could not load the model safely ({exc})") from exc


def _attach_model(path, estimator, model, fitted, states):
    """Give ``estimator`` its model and fitted attributes, if they agree."""
    from ._devices import resolve
    from ._models import check_precision, input_dtype, random_states
    from ._variational import VariationalAutoencoderTransformer

    kind = type(estimator).__name__
    check_precision(input_dtype(model))
    n_outputs = 2 if isinstance(estimator, VariationalAutoencoderTransformer) else 1
    # Keras raises any of several types for a model of another shape.
    try:
        estimator._set_model(model)
        n_inputs = model.inputs[0].shape[-1] if len(model.inputs) == 1 else None
        width = estimator.encoder_.output_shape[-1]
    except Exception as exc:
        raise _invalid(path, f"its model is not a {kind} model ({exc})") from exc
    if len(model.outputs) != n_outputs:
        raise _invalid(
            path,
            f"its model has {len(model.outputs)} output(s), where a {kind} "
            f"model has {n_outputs}",
        )
    if n_inputs != fitted["n_features_in_"]:
        raise _invalid(
            path,
            f"n_features_in_={fitted['n_features_in_']} but its model takes "
            f"{n_inputs} features",
        )
    if width != fitted["_n_features_out"]:
        raise _invalid(
            path,
            f"_n_features_out={fitted['_n_features_out']} but its model makes "
            f"codes of width {width}",
        )
    _restore_random_states(path, random_states(model), states)
    for name, value in fitted.items():
        setattr(estimator, name, value)
    # Where this machine can run it: a GPU-fitted model loads on a CPU.
    estimator.device_ = resolve(estimator.device, strict=False)


def _restore_random_states(path, variables, states):
    if len(states) != len(variables):
        raise _invalid(
            path,
            f"its random_states hold {len(states)} generator state(s) for a "
            f"model with {len(variables)} random generator(s)",
        )
    values = [_decode_array(state, _INTS) for state in states]
    for variable, value, state in zip(variables, values, states, strict=True):
        if value is None or value.shape != tuple(variable.shape):
            raise _invalid(
                path,
                f"its random_states must be integer arrays of shape "
                f"{tuple(variable.shape)}; got {_show(state)}",
            )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def load(path):
    """Load an estimator written by :func:`save`, running no code from the file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    estimator : AutoencoderTransformer
        The estimator, fitted if it was saved fitted, giving the same outputs.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        When the file is not a skae file, is truncated or corrupted, holds
        metadata that ``save`` would not have written (values of the wrong
        type, unknown parameters or attributes, parameter values the
        estimator refuses, attributes that disagree with the model), or
        holds a model Keras refuses to load safely.

    Warns
    -----
    InconsistentVersionWarning
        When the file was written under other versions of skae, Keras or
        scikit-learn.
    """
    name = os.fspath(path)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No skae file at {name!r}.")
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
            meta = _read_meta(name, archive)
            _check_versions(name, meta["versions"])
            cls = _classes()[meta["class"]]
            estimator = _params_from_json(name, cls, meta["params"])
            if meta["fitted"] is not None:
                fitted = _fitted_from_json(name, cls, meta["fitted"])
                model = _load_model(name, archive, tmp)
                _attach_model(name, estimator, model, fitted, meta["random_states"])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{name!r} is not a valid skae file (truncated or corrupted: {exc})."
        ) from exc
    return estimator
