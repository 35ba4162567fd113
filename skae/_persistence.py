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
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from ._compat import validate_params
from .exceptions import InconsistentVersionWarning

FORMAT, FORMAT_VERSION = "skae", 1
_META, _MODEL = "skae.json", "model.keras"

#: Fitted attributes stored as JSON (besides the model).
_FITTED = (
    "n_features_in_",
    "feature_names_in_",
    "n_iter_",
    "loss_curve_",
    "history_",
    "validation_scores_",
    "best_validation_score_",
    "reconstruction_loss_curve_",
    "kl_loss_curve_",
    "_seed",
    "_n_features_out",
    "_data_min",
    "_data_max",
)
#: Parameters whose tuples JSON turns into lists.
_TUPLE_PARAMS = ("hidden_layer_sizes", "noise_clip", "filters", "image_shape")


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


def _from_json(value):
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"])
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
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
        elif name in ("optimizer", "loss", "encoder", "decoder") and not (
            value is None or isinstance(value, str)
        ):
            value = _keras_param(name, value)
        elif isinstance(value, os.PathLike):
            value = os.fspath(value)
        params[name] = _to_json(value)
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


def _params_from_json(params):
    import keras

    out = {}
    for name, value in params.items():
        if isinstance(value, dict) and "__keras__" in value:
            value = keras.saving.deserialize_keras_object(
                value["__keras__"], safe_mode=True
            )
        elif name in _TUPLE_PARAMS and isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


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
        The file to write (by convention ending in ``.skae``).

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
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        if fitted:
            estimator.model_.save(Path(tmp) / _MODEL)
        partial = path.with_name(path.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_META, json.dumps(meta))
            if fitted:
                archive.write(Path(tmp) / _MODEL, _MODEL)
        partial.replace(path)  # never leave a half-written file under ``path``


def _read_meta(path, archive):
    try:
        meta = json.loads(archive.read(_META))
    except KeyError:
        raise ValueError(
            f"{str(path)!r} is not a skae file: it has no {_META}."
        ) from None
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} has a corrupted {_META} ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a skae file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has skae format version {meta.get('format_version')}; "
            f"this skae reads version {FORMAT_VERSION}."
        )
    if meta.get("class") not in _classes():
        raise ValueError(f"{str(path)!r} holds an unknown class {meta.get('class')!r}.")
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
            f"{str(path)!r} was saved with other versions ({details}); the "
            "loaded estimator may behave differently. Refit, or load it under "
            "the versions that saved it.",
            InconsistentVersionWarning,
            stacklevel=3,
        )


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
    ValueError
        When the file is not a skae file, is truncated or corrupted, or holds
        a model Keras refuses to load safely.

    Warns
    -----
    InconsistentVersionWarning
        When the file was written under other versions of skae, Keras or
        scikit-learn.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No skae file at {str(path)!r}.")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = _read_meta(path, archive)
            with tempfile.TemporaryDirectory() as tmp:
                model = None
                if meta["fitted"] is not None:
                    archive.extract(_MODEL, tmp)
                    model = keras.saving.load_model(
                        Path(tmp) / _MODEL, compile=True, safe_mode=True
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a valid skae file (truncated or corrupted: {exc})."
        ) from exc
    except KeyError as exc:
        raise ValueError(f"{str(path)!r} is incomplete: it lacks {exc}.") from exc
    except ValueError as exc:
        if str(exc).startswith(repr(str(path))):
            raise
        raise ValueError(
            f"{str(path)!r}: Keras could not load the model safely ({exc})."
        ) from exc
    _check_versions(path, meta.get("versions", {}))
    estimator = _classes()[meta["class"]](**_params_from_json(meta["params"]))
    if model is not None:
        from ._models import check_precision, input_dtype, random_states

        check_precision(input_dtype(model))
        for name, value in _from_json(meta["fitted"]).items():
            setattr(estimator, name, value)
        values = _from_json(meta.get("random_states", []))
        for variable, value in zip(random_states(model), values, strict=True):
            variable.assign(value)
        estimator._set_model(model)
        from ._devices import resolve

        # Where this machine can run it: a GPU-fitted model loads on a CPU.
        estimator.device_ = resolve(estimator.device, strict=False)
    return estimator
