"""AutoencoderTransformer: a dense autoencoder behind scikit-learn's API.

Only what is particular to this estimator lives here: its parameters and the
model it builds. The fit / transform machinery is in ``_base``, the layers in
``_models``, training in ``_training``.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np

from ._base import BaseAutoencoder
from ._compat import HasMethods, Interval, StrOptions
from ._noise import NOISE_KINDS
from ._validation import ACTIVATIONS, LOSSES, OPTIMIZERS


def _positive_ints(values, name, estimator):
    """Return ``values`` as a tuple of positive ints, or raise naming ``name``."""
    values = tuple(np.atleast_1d(np.asarray(values, dtype=object)).tolist())
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0
               for v in values):  # fmt: skip
        raise ValueError(
            f"The {name!r} parameter of {type(estimator).__name__} must be a "
            f"sequence of positive integers. Got {values!r} instead."
        )
    return tuple(int(v) for v in values)


class AutoencoderTransformer(BaseAutoencoder):
    """Dimensionality reduction with a dense Keras autoencoder.

    The encoder maps ``n_features`` inputs through ``hidden_layer_sizes`` to a
    linear code of ``n_components`` values; the decoder mirrors it back.
    ``transform`` returns the code, ``inverse_transform`` the reconstruction,
    so the estimator stands wherever :class:`~sklearn.decomposition.PCA` does.

    TensorFlow/Keras are imported on the first fit or transform, not when
    skae is imported.

    Parameters
    ----------
    n_components : int, default=32
        Width of the code (the output of ``transform``).
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Units of the encoder's hidden layers; the decoder uses them in reverse.
        ``()`` gives a linear-code autoencoder with no hidden layer. Used by
        ``architecture="dense"``.
    architecture : {"dense", "conv"}, default="dense"
        The halves skae builds: ``"dense"``, fully connected layers of
        ``hidden_layer_sizes``; ``"conv"``, for images (needs
        ``image_shape``): 3x3 convolutions of stride 2 with ``filters``
        channels, a linear code layer, and the mirror image in transposed
        convolutions. See "Choosing an architecture" in the user guide.
    image_shape : tuple (height, width, channels) or None, default=None
        Read each row of ``X`` as an image of this shape (``(height, width)``
        means one channel), C-order like ``images.reshape(n, -1)``. ``X``
        stays 2-D for scikit-learn; the model reshapes inside. Its product
        must equal the number of features.
    filters : tuple of int, default=(32, 64)
        Channels of the encoder's convolutions (``architecture="conv"``),
        each of which halves the image's height and width. The decoder
        mirrors them: transposed convolutions that double the height and
        width, back through the same channel counts to the image's.
    encoder : keras.Model, callable or None, default=None
        Your own encoder in place of the built-in one: a Keras model (or
        layer) mapping rows (images with ``image_shape``) to codes of width
        ``n_components``, or a builder ``encoder(n_features, n_components)
        -> keras.Model`` (``image_shape`` is passed in place of
        ``n_features`` when set; a ``seed`` keyword, when the builder takes
        one, gets an int drawn from ``random_state``). A model is copied at
        each fit, architecture and weights: the object you give is never
        trained. Builders are what ``clone`` and ``GridSearchCV`` handle
        best. Subclassed layers must be registered with
        ``keras.saving.register_keras_serializable`` to load in another
        process.
    decoder : keras.Model, callable or None, default=None
        Your own decoder, mapping codes of width ``n_components`` to rows of
        ``n_features`` (or to images of ``image_shape``); as ``encoder``.
    init : {"auto", "pca", "random"}, default="auto"
        How the model starts. ``"pca"`` anchors it on a PCA of the training
        data: the encoder's code is the PCA projection
        ``(x - mean_) @ components_.T`` plus a nonlinear residual branch (the
        layers of ``architecture``), the decoder's reconstruction is
        ``z @ components_ + mean_`` plus a residual branch, and the last
        layer of each branch starts at zero. Before training the model *is*
        the PCA of ``n_components``; training moves it to a lower loss, and
        with ``early_stopping`` the state kept is never worse than the PCA on
        the validation rows (epoch 0 is kept when no epoch beats it). The
        PCA is fitted in float64, weighted by ``sample_weight``, on the rows
        training uses (not the validation rows), streamed one block of rows
        at a time; ``partial_fit`` fits it on its first batch. Codes beyond
        the rank of the data start at zero. ``"random"`` starts from Keras's
        Glorot initialization, with no linear path. ``"auto"`` is ``"pca"``
        when skae builds both halves and the output activation is linear
        (``"mse"``, ``"mae"``, ``"huber"``, ``"log_cosh"`` losses), else
        ``"random"``; an explicit ``"pca"`` with your own ``encoder`` /
        ``decoder`` or a nonlinear output activation is an error.
    activation : {"relu", "leaky_relu", "elu", "selu", "gelu", "swish", \
"softplus", "sigmoid", "tanh", "linear"}, default="relu"
        Activation of the hidden layers.
    output_activation : "auto" or an activation name, default="auto"
        Activation of the reconstruction layer. ``"auto"`` means ``"sigmoid"``
        with ``loss="binary_crossentropy"`` (data in [0, 1]) and ``"linear"``
        otherwise.
    loss : {"mse", "mae", "huber", "log_cosh", "binary_crossentropy"} or \
callable, default="mse"
        Training loss: a Keras loss name, a ``keras.losses.Loss`` instance or a
        function ``loss(y_true, y_pred)``. ``"binary_crossentropy"`` is for
        data in [0, 1]; training data outside it gets a warning.
    optimizer : {"adam", "nadam", "sgd", "rmsprop", "adamw", "adagrad"} or \
keras.optimizers.Optimizer, default="adam"
        A name, used with ``learning_rate``, or an optimizer instance (not a
        class); an instance is copied at each fit (with its own learning
        rate), never trained itself.
    learning_rate : float, default=1e-3
        Step size of a named optimizer.
    alpha : float, default=0.0
        L2 penalty ``alpha * sum(w ** 2)`` on every kernel skae builds
        (Keras's ``L2`` regularizer).
    activity_l1 : float, default=0.0
        L1 penalty ``activity_l1 * sum(|code|)`` on the code, per sample,
        added to the loss: a sparse autoencoder, whose codes have more
        values near zero.
    dropout : float, default=0.0
        Dropout rate after every hidden layer skae builds, in [0, 1).
    batch_norm : bool, default=False
        Batch normalization before the activation of every hidden layer
        skae builds.
    batch_size : int, default=256
        Rows per gradient step (capped at the number of training rows).
    epochs : int or "auto", default="auto"
        Passes over the data made by ``fit``; with early stopping, the most
        it makes. ``"auto"`` is 200 when early stopping is on and 50 when it
        is off (measured on ``benchmarks/basket.py``: on tables of 2,000
        rows and more, early stopping ended most fits between 40 and 150
        epochs, and those that ran longer reconstructed better; without it,
        100 epochs overfit tables of a few hundred rows where 50 did not).
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the data, stop when the
        validation loss has not improved by more than ``tol`` for
        ``n_iter_no_change`` epochs, and put back the best state (weights
        and optimizer): that of the best epoch, or the model as the call
        started when no epoch beats it (the PCA with ``init="pca"``).
        ``"auto"`` turns it on for a ``fit`` on at least
        ``AUTO_EARLY_STOPPING_ROWS`` (2,000) rows, whose validation rows are
        then enough to judge by, as scikit-learn's histogram gradient
        boosting does above 10,000 (measured on the quality basket of
        ``benchmarks/basket.py``: on tables of 133 to 1,347 training rows,
        holding out rows cost more than it saved; on larger ones it kept the
        model from fitting noise). ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-5
        Smallest loss improvement that counts, for early stopping and for the
        :class:`~sklearn.exceptions.ConvergenceWarning`. Ten times below
        scikit-learn's ``MLPRegressor``: reconstruction losses of scaled
        data are often 1e-3 to 1e-2, where 1e-4 stopped training that was
        still improving (measured on ``benchmarks/basket.py``: on musk,
        k=83, 1e-4 stopped after 46 epochs at 0.41x PCA's error, 1e-5 after
        126 at 0.30x).
    noise : {"gaussian", "masking", "salt_and_pepper"} or None, default=None
        Train a denoising autoencoder: the inputs of each training batch are
        corrupted afresh every epoch (seeded from ``random_state``) while the
        targets stay clean. ``"gaussian"`` adds N(0, noise_level**2);
        ``"masking"`` zeroes a ``noise_level`` share of the values;
        ``"salt_and_pepper"`` sets a ``noise_level`` share of the values to
        their feature's minimum or maximum in the training data (seen so
        far, over ``partial_fit`` calls and warm starts). ``transform``
        and ``inverse_transform`` never add noise. :func:`skae.add_noise`
        corrupts a data set the same way.
    noise_level : float, default=0.1
        Standard deviation (gaussian) or share of values corrupted (masking,
        salt and pepper; at most 1).
    noise_clip : tuple (low, high) or None, default=None
        Clip the corrupted training inputs to this range (two finite numbers,
        ``low < high``), e.g. ``(0, 1)`` for images, so that they look like
        test images corrupted with ``add_noise(..., clip=(0, 1))``.
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training (e.g. ``TensorBoard``), as
        instances. They are attached to the model being trained.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, shuffling and the validation split. An int
        gives bitwise-reproducible results on CPU. ``None`` draws fresh entropy
        from the operating system (NumPy's global generator is not touched).
    checkpoint_dir : str, path-like or None, default=None
        Make ``fit`` resumable: the weights, optimizer state and losses are
        saved there at the end of every epoch (with Keras's
        ``BackupAndRestore``). If the process dies or ``fit`` is stopped with
        Ctrl-C, calling ``fit`` again with the same settings, data and
        directory resumes after the last finished epoch (the data is
        recognized by its shape, dtype and a hash of a sample of its rows);
        a checkpoint of another fit or other data is an error. The folder is
        skae's own: it must be new, empty, or hold only skae's files (marked
        by ``skae.lock``); a folder with other files, or a path that is a
        file, is refused before training, and nothing skae did not write is
        ever deleted or overwritten. One fit at a time holds the folder's
        lock; a second fit on it is an error. A finished ``fit`` removes
        skae's files, and the folder too if skae created it. Use an int or
        None ``random_state`` (None's seed is saved in the checkpoint).
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when the loss, the weights or the optimizer's state
        become NaN or infinite (checked at every epoch's end): training stops
        there, the last epoch whose loss, weights and optimizer state were
        all finite is put back, and a
        :class:`~skae.exceptions.DivergenceError` is raised (``"raise"``) or
        a ``ConvergenceWarning`` is issued (``"warn"``). A call that had no
        finite epoch raises either way and leaves the estimator as it was.
    precision : {"float32", "float64", "mixed_float16", "mixed_bfloat16"}, \
default="float32"
        The dtype the model's weights and computations use, as a Keras dtype
        policy of the layers skae builds (never the global policy).
        ``"float64"`` is slower (by up to 2x on large models) and makes
        results independent of how rows are batched to the last float32 bit.
        ``"mixed_float16"`` / ``"mixed_bfloat16"`` compute in 16 bits with
        float32 weights, inputs and reconstruction layer, for GPUs with fast
        16-bit units (``"mixed_float16"`` adds Keras's dynamic loss scaling);
        on CPUs they are slower. Outputs are float32 either way.
    device : str, default="auto"
        Where the model is built, trained and applied: ``"auto"`` (the first
        GPU when the Keras backend sees one, else the CPU), ``"cpu"``,
        ``"gpu"`` or ``"gpu:N"``. A GPU that is not there is an error, not a
        silent CPU run. The device used is ``device_``; a model fitted on a
        GPU loads and transforms on a machine without one.
    distribution : tf.distribute.Strategy, keras.distribution.Distribution \
or None, default=None
        Train data-parallel over several devices: a TensorFlow strategy
        (e.g. ``tf.distribute.MirroredStrategy()`` for the GPUs of one
        machine) or, on the JAX backend,
        ``keras.distribution.DataParallel()``. Training runs on a copy of
        the model made under ``distribution.scope()``; the fitted
        ``model_`` is a plain model again, which transforms on one device,
        pickles and loads anywhere. ``batch_size`` is the global batch,
        split across the devices. Takes precedence over ``device``. Not
        pickled with the estimator (a loaded one has ``distribution=None``)
        and not combinable with ``checkpoint_dir``.
    jit_compile : {"auto"} or bool, default="auto"
        Train through XLA, which compiles each training step into a few
        fused kernels, as Keras's ``compile(jit_compile=...)`` does. On
        TensorFlow, ``"auto"`` turns it on for a network skae builds with at
        least 300,000 trainable weights, without a ``distribution``, when the
        time the planned steps (``epochs`` times the batches of an epoch) are
        expected to save exceeds the 1.5 s compiling costs. Measured on two
        CPU cores at batch 256, a step saved about 7.5 ms per million weights
        above 200,000; below that XLA's steps were slower. An epoch on 30,000
        MNIST rows (784-256-128-32, 528,000 weights) took 0.7x the time
        without it. On other backends ``"auto"`` is Keras's own choice (XLA on
        JAX). Results stay bitwise reproducible with an int
        ``random_state``, but differ in the last bits from a fit without
        XLA. ``"auto"`` never compiles your own ``encoder``/``decoder`` (set
        True to, or False if their operations cannot be compiled), nor a fit
        on a memory map larger than 256 MB, whose memory skae keeps bounded:
        through XLA, one epoch on a 4 GB memmap raised peak memory by
        724-746 MB instead of 601 MB.
    verbose : int, default=0
        0 silent, 1 Keras's progress bar, 2 one line per epoch.
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit`` instead of
        starting afresh. The model keeps its loss and optimizer (with its
        state); a changed ``learning_rate`` of a named optimizer applies, and
        so do the training settings (``epochs``, ``batch_size``, noise,
        early stopping, ``callbacks``...). The settings the model is built
        with (``n_components``, the architecture and its layers' options,
        ``loss``, ``optimizer``, ``precision``, ``device`` and
        ``random_state``) cannot change under a warm start or between
        ``partial_fit`` calls: a changed one raises a ``ValueError`` that
        names it, as scikit-learn's warm-startable estimators refuse data
        their fitted state cannot take. Set ``warm_start=False`` to fit a new
        model with them.

    Attributes
    ----------
    model_ : keras.Model
        The whole autoencoder (``encoder_`` followed by ``decoder_``).
        Options that apply to "the layers skae builds" (``alpha``,
        ``dropout``, ``batch_norm``, ``precision``) leave your own
        ``encoder``/``decoder`` as they are.
    encoder_ : keras.Model
        Maps ``(n, n_features_in_)`` to ``(n, n_components)``.
    decoder_ : keras.Model
        Maps codes back to ``(n, n_features_in_)``.
    device_ : str
        The Keras device the model lives on (``"cpu"``, ``"gpu:0"``...).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs trained so far, over all ``fit``/``partial_fit`` calls.
    loss_curve_ : list of float
        Training loss at the end of each epoch.
    validation_scores_ : list of float or None
        Negated validation loss at each epoch (higher is better), when
        early stopping is on; otherwise None.
    best_validation_score_ : float or None
        The validation score of the epoch whose weights were restored: the
        last one that improved on the best before it by more than ``tol``.
    history_ : dict of str to list of float
        Everything Keras logged per epoch (``loss``, ``val_loss``, ...).

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    sklearn.neural_network.MLPRegressor : Dense networks in scikit-learn.

    Notes
    -----
    ``score`` and ``score_samples`` use the mean squared reconstruction error
    whatever the training ``loss``, so that scores compare across losses and
    against other reducers.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X = load_digits().data[:200] / 16
    >>> ae = AutoencoderTransformer(n_components=8, hidden_layer_sizes=(32,),
    ...                             epochs=3, random_state=0)
    >>> ae.fit_transform(X).shape
    (200, 8)
    >>> ae.inverse_transform(ae.transform(X[:2])).shape
    (2, 64)
    """

    #: Build a variational model (the subclass sets it).
    _variational = False

    _built_from = (
        "n_components", "hidden_layer_sizes", "architecture", "image_shape",
        "filters", "encoder", "decoder", "init", "activation", "output_activation",
        "loss",
        "optimizer", "alpha", "activity_l1", "dropout", "batch_norm", "precision",
        "device", "random_state",
    )  # fmt: skip

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "architecture": [StrOptions({"dense", "conv"})],
        "image_shape": [tuple, None],
        "filters": ["array-like"],
        "encoder": [callable, None],
        "decoder": [callable, None],
        "init": [StrOptions({"auto", "pca", "random"})],
        "activation": [StrOptions(ACTIVATIONS)],
        "output_activation": [StrOptions(ACTIVATIONS | {"auto"})],
        "loss": [StrOptions(LOSSES), callable],
        "optimizer": [
            StrOptions(set(OPTIMIZERS)),
            HasMethods(["apply_gradients", "get_config"]),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "activity_l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "noise": [StrOptions(set(NOISE_KINDS)), None],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "noise_clip": [tuple, None],
        "callbacks": [list, tuple, None],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "on_divergence": [StrOptions({"raise", "warn"})],
        "precision": [
            StrOptions({"float32", "float64", "mixed_float16", "mixed_bfloat16"})
        ],
        "device": [str],
        "distribution": [HasMethods(["scope"]), None],
        "jit_compile": [StrOptions({"auto"}), "boolean"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        n_components=32,
        *,
        hidden_layer_sizes=(256, 128),
        architecture="dense",
        image_shape=None,
        filters=(32, 64),
        encoder=None,
        decoder=None,
        init="auto",
        activation="relu",
        output_activation="auto",
        loss="mse",
        optimizer="adam",
        learning_rate=1e-3,
        alpha=0.0,
        activity_l1=0.0,
        dropout=0.0,
        batch_norm=False,
        batch_size=256,
        epochs="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-5,
        noise=None,
        noise_level=0.1,
        noise_clip=None,
        callbacks=None,
        random_state=None,
        checkpoint_dir=None,
        on_divergence="raise",
        precision="float32",
        device="auto",
        distribution=None,
        jit_compile="auto",
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.architecture = architecture
        self.image_shape = image_shape
        self.filters = filters
        self.encoder = encoder
        self.decoder = decoder
        self.init = init
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.activity_l1 = activity_l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.noise = noise
        self.noise_level = noise_level
        self.noise_clip = noise_clip
        self.callbacks = callbacks
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.on_divergence = on_divergence
        self.precision = precision
        self.device = device
        self.distribution = distribution
        self.jit_compile = jit_compile
        self.verbose = verbose
        self.warm_start = warm_start

    # -- fitting ---------------------------------------------------------------

    def _output_activation(self):
        if self.output_activation != "auto":
            return self.output_activation
        return "sigmoid" if self.loss == "binary_crossentropy" else "linear"

    def _image_shape(self):
        """``image_shape`` as (height, width, channels), checked against X."""
        if self.image_shape is None:
            return None
        shape = _positive_ints(self.image_shape, "image_shape", self)
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3:
            raise ValueError(
                f"image_shape must be (height, width) or (height, width, "
                f"channels); got {self.image_shape!r}."
            )
        if int(np.prod(shape)) != self.n_features_in_:
            raise ValueError(
                f"image_shape={self.image_shape!r} holds {int(np.prod(shape))} "
                f"values per image, but X has {self.n_features_in_} features "
                "per row. Rows must be images flattened in C order, e.g. "
                "images.reshape(len(images), -1)."
            )
        return shape

    def _architecture(self):
        from ._models import Architecture

        if self.architecture == "conv" and not _positive_ints(
            self.filters, "filters", self
        ):
            raise ValueError(
                "architecture='conv' needs at least one convolution: filters "
                f"is {self.filters!r}. Give e.g. filters=(32, 64)."
            )
        return Architecture(
            kind=self.architecture,
            hidden_layer_sizes=_positive_ints(
                self.hidden_layer_sizes, "hidden_layer_sizes", self
            ),
            filters=_positive_ints(self.filters, "filters", self),
            activation=self.activation,
            output_activation=self._output_activation(),
            dropout=self.dropout,
            alpha=self.alpha,
            batch_norm=self.batch_norm,
            dtype=self.precision,
        )

    def _code_width(self):
        """Return the width of the code the model is built with."""
        return int(self.n_components)

    def _resolved_init(self):
        """Return ``"pca"`` or ``"random"``: what ``init`` means for these settings."""
        own = [
            name for name in ("encoder", "decoder") if getattr(self, name) is not None
        ]
        nonlinear = self._output_activation() != "linear"
        if self.init == "random" or (self.init == "auto" and (own or nonlinear)):
            return "random"
        if own:
            raise ValueError(
                f"init='pca' builds a linear PCA path into the halves skae "
                f"builds; it cannot be added to your own {' and '.join(own)}. "
                "Use init='random' (or 'auto')."
            )
        if nonlinear:
            raise ValueError(
                f"init='pca' needs a linear output activation (a PCA "
                f"reconstruction is linear); the output activation is "
                f"{self._output_activation()!r}. Use init='random' (or 'auto'), "
                "or output_activation='linear' with a loss such as 'mse'."
            )
        return "pca"

    def _linear_path(self, data, rng):
        """Fit the PCA a ``init="pca"`` model starts from, or return None."""
        if self._resolved_init() != "pca":
            return None
        from ._pca import fit_pca
        from ._random import seed_from

        X, rows, sample_weight = data
        return fit_pca(
            X, rows, self._code_width(), sample_weight=sample_weight,
            seed=seed_from(rng),
        )  # fmt: skip

    def _build_model(self, rng, data):
        from . import _models

        linear = self._linear_path(data, rng)
        return _models.build_autoencoder(
            self.n_features_in_,
            self._code_width(),
            architecture=self._architecture(),
            rng=rng,
            encoder=self.encoder,
            decoder=self.decoder,
            image_shape=self._image_shape(),
            activity_l1=self.activity_l1,
            variational=self._variational,
            linear=linear,
        )
