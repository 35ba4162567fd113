"""A safe file format for skae estimators: ``skae.save`` and ``skae.load``.

Unlike pickle, loading runs no code from the file. A ``.skae`` file is a zip
archive holding

- ``skae.json``: the format version, the estimator's class (one of skae's own,
  looked up by name, never imported from the file), its parameters and fitted
  attributes as JSON, the state of the model's random generators, and the
  versions of skae, Keras, scikit-learn and NumPy that wrote it;
- ``model.keras``: the Keras model (with its optimizer state) in Keras's native
  format, loaded with ``safe_mode=True``, which refuses to deserialize code
  such as ``Lambda`` layers.

``load`` trusts nothing in ``skae.json``: ``_persistence_checks`` says what
the file may hold, and refuses anything else with a ``ValueError`` naming the
file. ``save`` writes beside the target and moves the file into place only
once it is complete, so a failed save leaves no partial file and an existing
file untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from . import _persistence_checks as checks
from ._compat import validate_params
from ._validation import external_stacklevel
from .exceptions import InconsistentVersionWarning


def _versions():
    import keras
    import sklearn

    from . import __version__

    return {
        "skae": __version__,
        "keras": keras.__version__,
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


def _param_to_json(name, value):
    import keras

    if name == "callbacks" and value:
        warnings.warn(
            "skae.save does not save callbacks; the loaded estimator has "
            "callbacks=None.",
            UserWarning,
            stacklevel=external_stacklevel(),
        )
    if name in ("callbacks", "distribution"):
        return None  # a distribution is bound to this process's devices
    if name == "random_state" and not (
        value is None or isinstance(value, int | np.integer)
    ):
        raise TypeError(
            "skae.save stores random_state as an int or None; got "
            f"{type(value).__name__}. Set an int random_state before saving."
        )
    if name in ("encoder", "decoder") and isinstance(value, keras.Layer):
        warnings.warn(
            f"skae.save stores the architecture of {name}={value.name!r} but not "
            "its weights: the fitted model is saved whole, but refitting the "
            "loaded estimator starts that half from fresh weights. Use joblib to "
            "keep them, or a builder function.",
            UserWarning,
            stacklevel=external_stacklevel(),
        )
    if name in checks.KERAS_PARAMS and not (value is None or isinstance(value, str)):
        return _keras_param(name, value)
    stored = _to_json(os.fspath(value) if isinstance(value, os.PathLike) else value)
    try:
        json.dumps(stored)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"skae.save stores parameters as JSON and cannot store "
            f"{name}={value!r} ({exc}). Give it as a number, a string, a "
            "bool, None or a list of those."
        ) from exc
    return stored


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
    kind, classes = type(estimator).__name__, checks.classes()
    if kind not in classes:
        raise TypeError(
            f"skae.save saves skae estimators ({', '.join(classes)}); got {kind}. "
            "For a Pipeline, save its skae step with skae.save and the other "
            "steps separately (see skae.save's docstring)."
        )
    name, path = os.fspath(path), Path(path)
    _check_destination(name, path)
    try:
        checks.validate(estimator)
    except (TypeError, ValueError) as exc:
        # Not scikit-learn's InvalidParameterError, which validate_params
        # would reword as a parameter of save.
        error = ValueError if isinstance(exc, ValueError) else TypeError
        raise error(f"skae.save cannot save this {kind}: {exc}") from exc
    params = estimator.get_params(deep=False)
    meta = {
        "format": checks.FORMAT,
        "format_version": checks.FORMAT_VERSION,
        "class": kind,
        "versions": _versions(),
        "params": {k: _param_to_json(k, v) for k, v in params.items()},
        "fitted": None,
    }
    fitted = estimator.__sklearn_is_fitted__()
    if fitted:
        from ._state import ModelState

        meta["fitted"] = {
            n: _to_json(getattr(estimator, n))
            for n in checks.FITTED
            if hasattr(estimator, n)
        }
        seeds = ModelState.capture(estimator.model_).seeds
        meta["random_states"] = [_to_json(v) for v in seeds]
    payload = json.dumps(meta)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / checks.MODEL if fitted else None
        if fitted:
            estimator.model_.save(model)
        _write(name, path, payload, model)


def _check_destination(name, path):
    """Refuse a path that no file can be written to, before any work."""
    folder = path.parent
    if path.is_dir():
        raise IsADirectoryError(
            f"skae.save cannot write {name!r}: it is a folder. Give a file "
            f"path, e.g. {os.path.join(name, 'model.skae')!r}."
        )
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
            archive.writestr(checks.META, payload)
            if model is not None:
                archive.write(model, checks.MODEL)
        partial.replace(path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        if not isinstance(exc, OSError):
            raise
        # Name the user's path, not the temporary file's.
        message = f"skae.save could not write {name!r}: {exc.strerror or exc}"
        args = (message,) if exc.errno is None else (exc.errno, message)
        raise type(exc)(*args) from exc


def _check_versions(path, saved):
    differ = [
        f"{name} {saved.get(name)} -> {version}"
        for name, version in _versions().items()
        if name != "numpy" and saved.get(name) != version
    ]
    if differ:
        warnings.warn(
            f"{path!r} was saved with other versions ({', '.join(differ)}); the "
            "loaded estimator may behave differently. Refit, or load it under "
            "the versions that saved it.",
            InconsistentVersionWarning,
            stacklevel=external_stacklevel(),
        )


def _load_model(path, archive, folder):
    """Extract and load the Keras model, refusing code and damaged files."""
    import keras

    if checks.MODEL not in archive.namelist():
        raise checks.invalid(
            path, f"it is incomplete: it lacks {checks.MODEL}, the fitted model"
        )
    file = archive.extract(checks.MODEL, folder)
    unsafe = "Keras could not load the model safely"
    if not zipfile.is_zipfile(file):
        raise checks.invalid(path, f"{unsafe} ({checks.MODEL} is not a .keras archive)")
    try:  # Keras raises any of several types for a damaged or unsafe model.
        return keras.saving.load_model(file, compile=True, safe_mode=True)
    except Exception as exc:
        raise checks.invalid(path, f"{unsafe} ({exc})") from exc


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
        Its model runs where it was fitted when this machine has that device,
        else where ``device="auto"`` puts it (as for a pickle).

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
    from ._devices import placement, restore
    from ._state import random_states, set_seeds

    name, path = os.fspath(path), Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No skae file at {name!r}.")
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
            meta = checks.read_meta(name, archive)
            _check_versions(name, meta["versions"])
            cls = checks.classes()[meta["class"]]
            estimator = checks.params_from_json(name, cls, meta["params"])
            if meta["fitted"] is not None:
                fitted = checks.fitted_from_json(name, cls, meta["fitted"])
                # The one rule for where a loaded model runs, as for pickles.
                device_ = restore(fitted.pop("device_", None), estimator.device)
                with placement(device_):
                    model = _load_model(name, archive, tmp)
                    checks.check_model(name, estimator, model, fitted)
                    seeds = checks.check_seeds(
                        name, random_states(model), meta["random_states"]
                    )
                    set_seeds(model, seeds)
                for attribute, value in fitted.items():
                    setattr(estimator, attribute, value)
                estimator.device_ = device_
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{name!r} is not a valid skae file (truncated or corrupted: {exc})."
        ) from exc
    return estimator
