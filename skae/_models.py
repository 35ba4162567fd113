"""Keras model builders.

Pure functions: they return Keras models and never train them. Every random
initializer and dropout layer gets an explicit seed drawn from the generator it
is handed, so building twice from equal generators gives equal models and no
global Keras or TensorFlow seed is ever read or written.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import keras
import numpy as np

from . import _layers
from ._random import seed_from

#: dtype of everything skae returns, whatever precision the model computes in.
OUTPUT_DTYPE = "float32"


@dataclass(frozen=True)
class Architecture:
    """The hyper-parameters of the layers skae builds itself.

    ``kind`` is ``"dense"`` (fully connected layers of ``hidden_layer_sizes``
    units) or ``"conv"`` (stride-2 convolutions with ``filters`` channels,
    mirrored by transposed convolutions). ``dtype`` is the dtype (or Keras
    dtype policy name) of every layer skae creates.
    """

    kind: str = "dense"
    hidden_layer_sizes: tuple = (256, 128)
    filters: tuple = (32, 64)
    kernel_size: int = 3
    activation: str = "relu"
    output_activation: str = "linear"
    dropout: float = 0.0
    alpha: float = 0.0
    batch_norm: bool = False
    dtype: str = "float32"

    @property
    def io_dtype(self):
        """The dtype of inputs and outputs: float32 under mixed precision."""
        return keras.DTypePolicy(self.dtype).variable_dtype

    def _regularizer(self):
        return keras.regularizers.L2(self.alpha) if self.alpha > 0 else None

    def _init(self, rng):
        return keras.initializers.GlorotUniform(seed=seed_from(rng))

    def _hidden(self, x, layer_class, *args, rng, name, **kwargs):
        """One hidden layer, then batch normalization, activation and dropout."""
        x = layer_class(
            *args,
            activation=None if self.batch_norm else self.activation,
            use_bias=not self.batch_norm,
            kernel_initializer=self._init(rng),
            kernel_regularizer=self._regularizer(),
            dtype=self.dtype,
            name=name,
            **kwargs,
        )(x)
        if self.batch_norm:
            x = keras.layers.BatchNormalization(dtype=self.dtype, name=f"{name}_bn")(x)
            x = keras.layers.Activation(
                self.activation, dtype=self.dtype, name=f"{name}_act"
            )(x)
        if self.dropout > 0:
            x = keras.layers.Dropout(
                self.dropout,
                seed=seed_from(rng),
                dtype=self.dtype,
                name=f"{name}_dropout",
            )(x)
        return x

    def dense(self, x, units, *, rng, name, activation=None, dtype=None, zero=False):
        """Apply a plain Dense layer (a code or output layer) with skae's settings.

        ``zero=True`` starts its kernel at zero (the last layer of a residual
        branch that must add nothing at first); a seed is drawn either way,
        so that the layers after it get the same seeds.
        """
        init = self._init(rng)
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer="zeros" if zero else init,
            kernel_regularizer=self._regularizer(),
            dtype=self.dtype if dtype is None else dtype,
            name=name,
        )(x)

    def encoder_body(self, x, *, rng):
        """Map an input tensor to a flat hidden representation (before the code)."""
        if self.kind == "conv":
            for i, filters in enumerate(self.filters):
                x = self._hidden(
                    x, keras.layers.Conv2D, filters, self.kernel_size, strides=2,
                    padding="same", rng=rng, name=f"encoder_conv_{i}",
                )  # fmt: skip
        if len(x.shape) > 2:
            x = keras.layers.Flatten(dtype=self.dtype, name="encoder_flatten")(x)
        for i, units in enumerate(
            self.hidden_layer_sizes if self.kind == "dense" else ()
        ):
            x = self._hidden(
                x, keras.layers.Dense, units, rng=rng, name=f"encoder_dense_{i}"
            )
        return x

    def decoder(self, z, output_shape, *, rng, zero=False):
        """Map a code tensor to a reconstruction of ``output_shape`` per sample.

        ``output_shape`` is ``(n_features,)`` or ``(height, width, channels)``;
        a convolutional decoder needs the latter. ``zero=True`` starts the
        reconstruction layer's kernel at zero (a residual branch).
        """
        if self.kind == "dense":
            x = z
            for i, units in enumerate(self.hidden_layer_sizes[::-1]):
                x = self._hidden(
                    x, keras.layers.Dense, units, rng=rng, name=f"decoder_dense_{i}"
                )
            n_out = int(np.prod(output_shape))
            return self.dense(
                x,
                n_out,
                rng=rng,
                name="reconstruction",
                activation=self.output_activation,
                dtype=self.io_dtype,
                zero=zero,
            )
        height, width, channels = output_shape
        steps = 2 ** len(self.filters)
        h0, w0 = -(-height // steps), -(-width // steps)
        x = self._hidden(
            z, keras.layers.Dense, h0 * w0 * self.filters[-1], rng=rng,
            name="decoder_dense",
        )  # fmt: skip
        x = keras.layers.Reshape(
            (h0, w0, self.filters[-1]), dtype=self.dtype, name="decoder_reshape"
        )(x)
        # The mirror of the encoder: each transposed convolution doubles the
        # height and width and outputs the channels the encoder had there.
        for i, filters in enumerate(self.filters[-2::-1]):
            x = self._hidden(
                x, keras.layers.Conv2DTranspose, filters, self.kernel_size,
                strides=2, padding="same", rng=rng, name=f"decoder_deconv_{i}",
            )  # fmt: skip
        init = self._init(rng)
        x = keras.layers.Conv2DTranspose(
            channels,
            self.kernel_size,
            strides=2,
            padding="same",
            activation=self.output_activation,
            kernel_initializer="zeros" if zero else init,
            kernel_regularizer=self._regularizer(),
            dtype=self.io_dtype,
            name="reconstruction",
        )(x)
        extra_h, extra_w = h0 * steps - height, w0 * steps - width
        if extra_h or extra_w:
            x = keras.layers.Cropping2D(
                ((0, extra_h), (0, extra_w)), dtype=self.io_dtype, name="decoder_crop"
            )(x)
        return x


def _shape(shape):
    return "(n_samples, " + ", ".join(str(d) for d in tuple(shape)[1:]) + ")"


def _copy_half(half):
    """Return a new, unbuilt Keras object with the architecture of ``half``.

    Nested models are copied too (``recursive=True``), so that training the
    copy can never train a part of the user's object.
    """
    try:
        if isinstance(half, keras.Model):
            return keras.models.clone_model(half, recursive=True)
        config = keras.saving.serialize_keras_object(half)
        return keras.saving.deserialize_keras_object(
            config, custom_objects={type(half).__name__: type(half)}
        )
    except (NotImplementedError, TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot copy the Keras object {half.name!r} ({type(half).__name__}): "
            f"{exc}. skae trains a copy and never the object given; give a "
            "Functional or Sequential model, a subclass whose get_config "
            "returns its constructor arguments, or a builder function instead."
        ) from exc


def _call_builder(builder, args, seed, role):
    """Call a builder ``(n_features, n_components[, seed=])``; check the result."""
    try:
        accepts_seed = "seed" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepts_seed = False
    half = builder(*args, seed=seed) if accepts_seed else builder(*args)
    if not isinstance(half, keras.layers.Layer):
        raise TypeError(
            f"The {role} builder must return a keras.Model (or Layer); "
            f"{builder!r} returned {type(half).__name__}."
        )
    return half


def _apply_half(half, given, x, role, expected):
    """Apply the user's ``half`` (a copy of ``given``) to ``x``; check shapes."""
    try:
        y = half(x)
    except Exception as exc:  # Keras raises many kinds for a shape mismatch
        raise ValueError(
            f"The {role} could not be applied to inputs of shape "
            f"{_shape(x.shape)} ({expected}): {exc}"
        ) from exc
    if isinstance(y, (list, tuple, dict)):
        raise ValueError(
            f"The {role} must return one tensor, got {type(y).__name__} of "
            f"{len(y)} from inputs of shape {_shape(x.shape)}."
        )
    if given is not None and given.built and given.weights:
        try:
            half.set_weights(given.get_weights())
        except ValueError as exc:
            raise ValueError(
                f"The {role} given was built for other inputs than "
                f"{_shape(x.shape)} ({expected}); its weights do not fit: {exc}"
            ) from exc
    return y


def _user_half(spec, args, *, rng, role):
    """Return ``(half, given)``: a fresh Keras half made from ``spec``.

    ``given`` is the object whose weights the half starts from: the model
    given, or None for a builder.
    """
    if isinstance(spec, keras.layers.Layer):
        return _copy_half(spec), spec
    return _call_builder(spec, args, seed_from(rng), role), None


def build_autoencoder(
    n_features: int,
    n_components: int,
    *,
    architecture: Architecture,
    rng: np.random.Generator,
    encoder=None,
    decoder=None,
    image_shape: tuple | None = None,
    activity_l1: float = 0.0,
    variational: bool = False,
    linear=None,
) -> keras.Model:
    """Build the Keras autoencoder of an estimator.

    Parameters
    ----------
    n_features, n_components : int
        Width of the (flat) input and of the code.
    architecture : Architecture
        Settings of the halves skae builds.
    rng : numpy.random.Generator
        Source of every seed.
    encoder, decoder : keras.Model, callable or None
        The user's halves: a Keras model (copied, weights included) or a
        builder ``(n_features, n_components) -> keras.Model`` (called with
        ``image_shape`` in place of ``n_features`` when it is set, and with a
        ``seed`` keyword when it accepts one). None builds ``architecture``'s.
    image_shape : tuple (height, width, channels) or None
        Reshape the flat rows into images before the encoder; the decoder
        may output images or flat rows.
    activity_l1 : float
        L1 penalty on the code, added to the loss (a sparse autoencoder).
    variational : bool
        Build a variational autoencoder: the encoder's hidden representation
        feeds two Dense heads, the code's mean and log-variance; training
        samples the code with :class:`~skae._layers.GaussianSample` and the
        model outputs ``{"reconstruction": ..., "kl": ...}``.
    linear : _pca.LinearPath or None
        Anchor the halves skae builds on this PCA (``init="pca"``): the
        encoder's code is ``(x - mean) @ components.T`` plus a residual
        branch (``architecture``'s layers), the decoder's reconstruction
        ``z @ components + mean`` plus a residual branch, and the last layer
        of each branch starts at zero, so that the new model *is* the PCA.
        The linear paths train too. Needs both halves built by skae, a linear
        output activation, and no ``variational``.

    Returns
    -------
    model : keras.Model
        The autoencoder, named ``"autoencoder"``, whose layers ``"encoder"``
        and ``"decoder"`` are the two halves as Keras models. The encoder
        maps flat rows to codes (to ``[mean, log_var]`` when variational);
        the decoder maps codes to flat rows.
    """
    arch = architecture
    in_shape = tuple(image_shape) if image_shape else (n_features,)
    if arch.kind == "conv" and not image_shape and (encoder is None or decoder is None):
        raise ValueError(
            "architecture='conv' needs image_shape=(height, width, channels) "
            "to see the rows as images."
        )
    if linear is not None and (
        encoder is not None or decoder is not None or variational
        or arch.output_activation != "linear"
    ):  # fmt: skip
        raise ValueError(
            "A PCA linear path needs both halves built by skae, a linear "
            "output activation and a non-variational model."
        )
    halves = dict(arch=arch, n_features=n_features, n_components=n_components,
                  in_shape=in_shape, image_shape=image_shape, rng=rng,
                  linear=linear)  # fmt: skip
    encoder_model = _encoder(
        encoder, activity_l1=activity_l1, variational=variational, **halves
    )
    decoder_model = _decoder(decoder, **halves)

    inputs = keras.Input((n_features,), dtype=arch.io_dtype, name="input")
    if not variational:
        return keras.Model(
            inputs, decoder_model(encoder_model(inputs)), name="autoencoder"
        )
    mean, log_var = encoder_model(inputs)
    z = _layers.GaussianSample(seed=seed_from(rng), dtype=arch.io_dtype, name="sample")(
        [mean, log_var]
    )
    kl = _layers.GaussianKL(dtype=arch.io_dtype, name="kl_divergence")([mean, log_var])
    return keras.Model(
        inputs,
        {"reconstruction": decoder_model(z), "kl": kl},
        name="variational_autoencoder",
    )


def _linear_layer(x, kernel, bias, *, arch, name):
    """Apply a Dense layer (no activation) that starts at ``kernel``, ``bias``.

    It computes in the inputs' precision (float32 under a mixed policy): the
    PCA path stays exact where the residual branch computes in 16 bits.
    """
    layer = keras.layers.Dense(
        kernel.shape[1], kernel_regularizer=arch._regularizer(),
        dtype=arch.io_dtype, name=name,
        # Overwritten below; a seedless default initializer would draw its
        # seed from Python's global random state.
        kernel_initializer="zeros",
    )  # fmt: skip
    y = layer(x)
    layer.set_weights([kernel, bias])
    return y


def _sum(a, b, *, arch, name):
    return keras.layers.Add(dtype=arch.io_dtype, name=name)([a, b])


def _encoder(
    spec, *, arch, n_features, n_components, in_shape, image_shape, rng,
    activity_l1, variational, linear,
):  # fmt: skip
    """Build the encoder: flat rows to codes (``[mean, log_var]`` if variational)."""
    enc_in = keras.Input((n_features,), dtype=arch.io_dtype, name="encoder_input")
    x = enc_in
    if image_shape:
        x = keras.layers.Reshape(in_shape, dtype=arch.dtype, name="to_image")(x)
    if spec is None:
        h = arch.encoder_body(x, rng=rng)
        if not variational:
            h = arch.dense(
                h, n_components, rng=rng, name="code", zero=linear is not None
            )
        if linear is not None:
            pca = _linear_layer(
                enc_in, linear.components.T, -linear.mean @ linear.components.T,
                arch=arch, name="code_pca",
            )  # fmt: skip
            h = _sum(pca, h, arch=arch, name="code_sum")
    else:
        builder_arg = in_shape if image_shape else n_features
        half, given = _user_half(
            spec, (builder_arg, n_components), rng=rng, role="encoder"
        )
        expected = f"the rows as {_shape((None, *in_shape))}"
        h = _apply_half(half, given, x, "encoder", expected)
    if variational:
        if len(h.shape) != 2:
            raise ValueError(
                f"The encoder of a variational autoencoder must output a flat "
                f"hidden representation (n_samples, n_units); it outputs "
                f"{_shape(h.shape)}. End it with keras.layers.Flatten()."
            )
        # The Gaussian's parameters in full precision (exp of a float16
        # log-variance overflows early).
        code = arch.dense(
            h, n_components, rng=rng, name="code_mean", dtype=arch.io_dtype
        )
        log_var = arch.dense(
            h, n_components, rng=rng, name="code_log_var",
            activation=_layers.bounded_log_var, dtype=arch.io_dtype,
        )  # fmt: skip
    else:
        code = h
        if len(code.shape) != 2 or code.shape[-1] != n_components:
            raise ValueError(
                f"The encoder outputs codes of shape {_shape(code.shape)}, but "
                f"n_components={n_components} asks for (n_samples, {n_components}). "
                "Set n_components to the encoder's output width, or end the "
                "encoder with a Flatten and a Dense(n_components) layer."
            )
    if activity_l1 > 0:
        code = keras.layers.ActivityRegularization(
            l1=activity_l1, dtype=arch.dtype, name="code_l1"
        )(code)
    return keras.Model(enc_in, [code, log_var] if variational else code, name="encoder")


def _decoder(
    spec, *, arch, n_features, n_components, in_shape, image_shape, rng, linear
):  # fmt: skip
    """Build the decoder: codes to flat rows of ``n_features``."""
    dec_in = keras.Input((n_components,), dtype=arch.io_dtype, name="decoder_input")
    if spec is None:
        out_shape = in_shape if arch.kind == "conv" else (n_features,)
        out = arch.decoder(dec_in, out_shape, rng=rng, zero=linear is not None)
    else:
        builder_arg = in_shape if image_shape else n_features
        half, given = _user_half(
            spec, (builder_arg, n_components), rng=rng, role="decoder"
        )
        out = _apply_half(
            half, given, dec_in, "decoder", f"codes of width {n_components}"
        )
    if tuple(out.shape[1:]) not in {(n_features,), in_shape}:
        raise ValueError(
            f"The decoder maps codes of shape (n_samples, {n_components}) to "
            f"{_shape(out.shape)}, but the data has shape "
            f"{_shape((None, *in_shape))}"
            + (f" (rows of {n_features} features)" if image_shape else "")
            + ". The decoder must output one reconstruction per row, of that shape."
        )
    if len(out.shape) > 2:
        out = keras.layers.Reshape((n_features,), dtype=arch.io_dtype, name="to_rows")(
            out
        )
    if linear is not None:
        pca = _linear_layer(
            dec_in, linear.components, linear.mean, arch=arch,
            name="reconstruction_pca",
        )  # fmt: skip
        out = _sum(pca, out, arch=arch, name="reconstruction_sum")
    return keras.Model(dec_in, out, name="decoder")


def compute_dtype(spec) -> str:
    """Return the dtype computations start in, for a precision or a model.

    For a model, the compute dtype of its first layer with weights (float16
    under ``"mixed_float16"``, whose inputs are float32).
    """
    if isinstance(spec, str):
        return keras.DTypePolicy(spec).compute_dtype
    for layer in spec.layers:
        if isinstance(layer, keras.Model):
            return compute_dtype(layer)
        if layer.weights:
            return layer.compute_dtype
    return input_dtype(spec)


def check_precision(dtype: str) -> None:
    """Refuse a float dtype the Keras backend would silently compute in float32.

    JAX truncates float64 to float32 unless its process-wide 64-bit mode is
    on; skae leaves that switch to the user rather than flip it.
    """
    if str(dtype) == "float64" and keras.backend.backend() == "jax":
        import jax

        if not jax.config.read("jax_enable_x64"):
            raise ValueError(
                "precision='float64' needs JAX's 64-bit mode, which is off: JAX "
                "would compute in float32. Set the environment variable "
                "JAX_ENABLE_X64=1, or call jax.config.update('jax_enable_x64', "
                "True) before any JAX computation, or use precision='float32'."
            )


def halves(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """Return the ``(encoder, decoder)`` sub-models of an autoencoder."""
    return model.get_layer("encoder"), model.get_layer("decoder")


def input_dtype(model: keras.Model) -> str:
    """Return the dtype ``model`` expects as input (its compute precision)."""
    return model.inputs[0].dtype
