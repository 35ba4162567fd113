"""Keras callbacks for skae estimators.

Import this module explicitly (``from skae.callbacks import TensorBoardImages``):
it imports Keras, which ``import skae`` does not.
"""

from __future__ import annotations

import math
import weakref
from numbers import Integral

import keras
import numpy as np

from .plotting import _check_image_shape

__all__ = ["TensorBoardImages"]

# Values of TensorFlow's ``SummaryMetadata.data_class`` enum (summary.proto).
_DATA_CLASS_SCALAR = 1
_DATA_CLASS_BLOB_SEQUENCE = 3


def _metadata(plugin_name, data_class):
    """Build the metadata that routes a summary to a TensorBoard plugin."""
    import tensorflow as tf

    return tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name=plugin_name),
        data_class=data_class,
    )


class TensorBoardImages(keras.callbacks.Callback):
    """Write losses, original images and their reconstructions to TensorBoard.

    At the end of every ``every_n_epochs``-th epoch the callback writes to the
    event files in ``log_dir``:

    - every value Keras logged for the epoch as a scalar (``loss``, and
      ``val_loss`` with early stopping);
    - an image summary ``"originals"`` with the first ``n_images`` rows of
      ``images``;
    - an image summary ``"reconstructions"`` with the model's reconstructions
      of those rows.

    Both image summaries are scaled to [0, 1] with the minimum and maximum of
    the originals, so that they compare. Pass the callback to an estimator's
    ``callbacks``; it is attached to the whole autoencoder, whose input and
    output are flat rows. The summary step counts the epochs this callback
    has seen on the same model from 0, so ``partial_fit`` calls and
    ``warm_start`` fits continue the curves; a fresh model starts at 0 again.

    This callback works with the TensorFlow backend of Keras only: it writes
    through ``tf.summary``. TensorBoard itself is needed to view the logs,
    not to write them.

    Parameters
    ----------
    log_dir : str or path-like
        Directory of the event files, as given to ``tensorboard --logdir``.
    images : array-like of shape (n_samples, n_features)
        Flat images to reconstruct, ``n_features = prod(image_shape)`` values
        each, e.g. a few rows of the validation data.
    image_shape : tuple of int
        ``(height, width)``, or ``(height, width, channels)`` with 1, 3 or 4
        channels, of one image.
    n_images : int, default=10
        Number of rows of ``images`` to show.
    every_n_epochs : int, default=1
        Write at the end of every ``every_n_epochs``-th epoch.

    See Also
    --------
    keras.callbacks.TensorBoard : Losses, weights and graphs for TensorBoard.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.callbacks import TensorBoardImages
    >>> X = np.random.default_rng(0).uniform(size=(100, 64))
    >>> ae = AutoencoderTransformer(  # doctest: +SKIP
    ...     n_components=8,
    ...     callbacks=[TensorBoardImages("logs", X[:10], (8, 8))],
    ... ).fit(X)
    """

    def __init__(self, log_dir, images, image_shape, *, n_images=10, every_n_epochs=1):
        super().__init__()
        self.log_dir = log_dir
        self.images = images
        self.image_shape = image_shape
        self.n_images = n_images
        self.every_n_epochs = every_n_epochs
        self._check_params()
        self._writer = None
        self._x = None
        self._epoch = 0
        self._last_model = None

    def __getstate__(self):
        """Copy and pickle the parameters, not the model or the open writer."""
        state = self.__dict__.copy()
        state.update(_model=None, _writer=None, _x=None, _last_model=None)
        return state

    def _check_params(self):
        shape = _check_image_shape(self.image_shape)
        shape_of_images = np.shape(self.images)
        if len(shape_of_images) != 2 or shape_of_images[0] == 0:
            raise ValueError(
                "images must be a non-empty 2-D array of flat images (n_samples, "
                f"n_features). Got an array of shape {shape_of_images} instead."
            )
        if shape_of_images[1] != math.prod(shape):
            raise ValueError(
                f"images has {shape_of_images[1]} features per sample, but "
                f"image_shape={self.image_shape!r} asks for {math.prod(shape)}."
            )
        for name in ("n_images", "every_n_epochs"):
            value = getattr(self, name)
            if not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Got {value!r}.")

    def on_train_begin(self, logs=None):
        """Open the summary writer and prepare the images.

        Parameters
        ----------
        logs : dict, default=None
            Unused.
        """
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise RuntimeError(
                "TensorBoardImages writes through tf.summary and needs the "
                f"TensorFlow backend of Keras, but the backend is {backend!r}. "
                "Set KERAS_BACKEND=tensorflow before importing Keras, or drop "
                "this callback."
            )
        import tensorflow as tf

        model = self.model
        if self._last_model is None or self._last_model() is not model:
            self._epoch = 0
        self._last_model = weakref.ref(model)

        n_features = model.inputs[0].shape[-1]
        x = np.asarray(self.images)[: self.n_images]
        if n_features is not None and x.shape[1] != n_features:
            raise ValueError(
                f"images has {x.shape[1]} features per sample, but the model "
                f"reconstructs {n_features}."
            )
        self._x = x.astype(model.inputs[0].dtype)
        self._low = float(np.min(x))
        high = float(np.max(x))
        self._range = high - self._low if high > self._low else 1.0
        self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, epoch, logs=None):
        """Write the scalars and images of an epoch.

        Parameters
        ----------
        epoch : int
            Index of the epoch within this call to ``fit`` (unused: the step
            counts all epochs seen on the model).
        logs : dict, default=None
            The epoch's logs (``loss``, ``val_loss``, ...).
        """
        step = self._epoch
        self._epoch += 1
        if self._writer is None or (step + 1) % self.every_n_epochs:
            return
        import tensorflow as tf

        reconstructions = keras.ops.convert_to_numpy(
            self.model(self._x, training=False)
        )
        scalars = _metadata("scalars", _DATA_CLASS_SCALAR)
        with self._writer.as_default(step=step):
            for name, value in (logs or {}).items():
                if np.ndim(value) == 0:
                    tf.summary.write(
                        name, tf.constant(float(value), tf.float32), metadata=scalars
                    )
            self._write_images("originals", self._x)
            self._write_images("reconstructions", reconstructions)

    def _write_images(self, tag, rows):
        """Write ``rows`` as an image summary in TensorBoard's format.

        The same record as ``tf.summary.image``, which needs the
        ``tensorboard`` package: the width, the height, then one PNG per image.
        """
        import tensorflow as tf

        height, width = self.image_shape[:2]
        channels = self.image_shape[2] if len(self.image_shape) == 3 else 1
        scaled = np.clip(
            (np.asarray(rows, dtype=float) - self._low) / self._range, 0, 1
        )
        pixels = np.round(scaled * 255).astype(np.uint8)
        pixels = pixels.reshape(-1, height, width, channels)
        tensor = tf.constant(
            [str(width).encode(), str(height).encode()]
            + [tf.io.encode_png(image).numpy() for image in pixels]
        )
        tf.summary.write(
            tag, tensor, metadata=_metadata("images", _DATA_CLASS_BLOB_SEQUENCE)
        )

    def on_train_end(self, logs=None):
        """Flush and close the summary writer.

        Parameters
        ----------
        logs : dict, default=None
            Unused.
        """
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._x = None
