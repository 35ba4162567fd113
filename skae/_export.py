"""Exporting a fitted model for serving without skae or scikit-learn.

One function, :func:`export_model`, on Keras's ``Model.export``: a
TensorFlow SavedModel (served by TensorFlow Serving, or loaded with
``tf.saved_model.load``; its ``serve`` endpoint is the model's inference
call) or an ONNX file (Keras converts through ``tf2onnx`` on TensorFlow; run
it with ONNX Runtime). :func:`onnx_model` gives the ONNX graph in memory, for
the skl2onnx converters of :mod:`skae.onnx`.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path

#: What ``format=`` accepts.
FORMATS = ("tf_saved_model", "onnx")

#: What the ``onnx`` extra installs; named in the error when one is missing.
_ONNX_EXTRA = 'pip install "skae[onnx]" (tf2onnx, onnx, onnxruntime, skl2onnx)'


def export_model(model, path, format) -> Path:
    """Write ``model``'s inference call to ``path`` in ``format``; return the path.

    Parameters
    ----------
    model : keras.Model
    path : str or path-like
        A directory for ``"tf_saved_model"`` (created; must not hold another
        export), a file for ``"onnx"``.
    format : {"tf_saved_model", "onnx"}

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(os.fspath(path))
    kwargs = {}
    if "verbose" in inspect.signature(model.export).parameters:
        kwargs["verbose"] = False  # Keras prints the endpoints otherwise
    try:
        model.export(str(path), format=format, **kwargs)
    except ImportError as exc:
        raise ImportError(
            f"Exporting to {format!r} needs a package that is not installed "
            f"({exc}). Install it with {_ONNX_EXTRA}."
        ) from exc
    except ValueError as exc:
        if "format" not in str(exc):
            raise
        import keras

        raise ValueError(
            f"Keras {keras.__version__} cannot export format={format!r} ({exc}); "
            "ONNX export needs Keras 3.8 or newer."
        ) from exc
    return path


def onnx_model(model):
    """Return ``model`` converted to ONNX, as an ``onnx.ModelProto``."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="skae-onnx-") as tmp:
        path = export_model(model, Path(tmp) / "model.onnx", "onnx")
        return onnx.load(str(path))
