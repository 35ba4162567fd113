"""The scikit-learn estimator: parameters, validation, fit/transform glue.

No layer code and no epoch loop live here: models come from ``_models``, batches
from ``_data`` and training from ``_training``. Those modules import Keras, so
they are imported inside the methods that need them and ``import skae`` stays
free of TensorFlow.
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from ._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    validate_data,
)
from ._noise import NOISE_KINDS, check_level
from .exceptions import DivergenceError, OutOfRangeWarning

ACTIVATIONS = frozenset(
    {"elu", "gelu", "leaky_relu", "linear", "relu", "selu", "sigmoid", "softplus",
     "swish", "tanh"}
)  # fmt: skip
_OPTIMIZERS = frozenset({"adagrad", "adam", "adamw", "nadam", "rmsprop", "sgd"})
_LOSSES = frozenset({"binary_crossentropy", "huber", "log_cosh", "mae", "mse"})


def _draw_seed(random_state):
    """One int seed for everything random in a model's life.

    ``None`` draws fresh entropy from the OS instead of NumPy's global
    generator, so fitting never advances global random state.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _check_hidden_layer_sizes(sizes):
    sizes = tuple(np.atleast_1d(np.asarray(sizes, dtype=object)).tolist())
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0
               for s in sizes):  # fmt: skip
        raise ValueError(
            "The 'hidden_layer_sizes' parameter of AutoencoderTransformer must "
            f"be a sequence of positive integers. Got {sizes!r} instead."
        )
    return tuple(int(s) for s in sizes)


@contextmanager
def _rollback_on_error(estimator):
    """Leave ``estimator`` exactly as it was if the body raises.

    Attributes are restored, and so are the weights and optimizer state of a
    model that the body was training further (``warm_start``, ``partial_fit``).
    """
    saved = dict(estimator.__dict__)
    model = saved.get("model_")
    state = None
    if model is not None:
        from ._training import snapshot

        state = snapshot(model)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        if model is not None:
            from ._training import restore

            restore(model, state)
        raise


class AutoencoderTransformer(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
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
        ``()`` gives a linear-code autoencoder with no hidden layer.
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
        function ``loss(y_true, y_pred)``.
    optimizer : {"adam", "nadam", "sgd", "rmsprop", "adamw", "adagrad"} or \
keras.optimizers.Optimizer, default="adam"
        A name, used with ``learning_rate``, or an optimizer instance; an
        instance is copied at each fit (with its own learning rate), never
        trained itself.
    learning_rate : float, default=1e-3
        Step size of a named optimizer.
    alpha : float, default=0.0
        L2 penalty ``alpha * sum(w ** 2)`` on every kernel (Keras's
        ``L2`` regularizer).
    dropout : float, default=0.0
        Dropout rate after every hidden layer, in [0, 1).
    batch_size : int, default=256
        Rows per gradient step (capped at the number of training rows).
    epochs : int, default=50
        Passes over the data made by ``fit``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the
        validation loss has not improved by more than ``tol`` for
        ``n_iter_no_change`` epochs, and restore the best weights.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Smallest loss improvement that counts, for early stopping and for the
        :class:`~sklearn.exceptions.ConvergenceWarning`.
    noise : {"gaussian", "masking", "salt_and_pepper"} or None, default=None
        Train a denoising autoencoder: the inputs of each training batch are
        corrupted afresh every epoch (seeded from ``random_state``) while the
        targets stay clean. ``"gaussian"`` adds N(0, noise_level**2);
        ``"masking"`` zeroes a ``noise_level`` share of the values;
        ``"salt_and_pepper"`` sets a ``noise_level`` share of the values to
        their feature's minimum or maximum in the training data. ``transform``
        and ``inverse_transform`` never add noise. :func:`skae.add_noise`
        corrupts a data set the same way.
    noise_level : float, default=0.1
        Standard deviation (gaussian) or share of values corrupted (masking,
        salt and pepper; at most 1).
    noise_clip : tuple (low, high) or None, default=None
        Clip the corrupted training inputs to this range, e.g. ``(0, 1)`` for
        images, so that they look like test images corrupted with
        ``add_noise(..., clip=(0, 1))``.
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training (e.g. ``TensorBoard``). They are
        attached to the model being trained.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, shuffling and the validation split. An int
        gives bitwise-reproducible results on CPU. ``None`` draws fresh entropy
        from the operating system (NumPy's global generator is not touched).
    checkpoint_dir : str, path-like or None, default=None
        Make ``fit`` resumable: the weights, optimizer state and losses are
        saved there at the end of every epoch (with Keras's
        ``BackupAndRestore``). If the process dies, calling ``fit`` again with
        the same settings, data shape and directory resumes after the last
        finished epoch; a finished ``fit`` removes the checkpoint. Use an int
        or None ``random_state`` (None's seed is saved in the checkpoint).
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when the loss becomes NaN or infinite: training stops at
        the end of that epoch, the weights of the last epoch with a finite
        loss are put back, and a :class:`~skae.exceptions.DivergenceError` is
        raised (``"raise"``) or a ``ConvergenceWarning`` is issued
        (``"warn"``).
    precision : {"float32", "float64"}, default="float32"
        The dtype the model's weights and computations use. ``"float64"`` is
        slower (by up to 2x on large models) and makes results independent of
        how rows are batched to the last float32 bit. Outputs are float32
        either way.
    verbose : int, default=0
        0 silent, 1 Keras's progress bar, 2 one line per epoch.
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit`` instead of
        starting afresh. The model keeps its loss and optimizer (with its
        state); a changed ``learning_rate`` of a named optimizer applies.

    Attributes
    ----------
    model_ : keras.Model
        The whole autoencoder (``encoder_`` followed by ``decoder_``).
    encoder_ : keras.Model
        Maps ``(n, n_features_in_)`` to ``(n, n_components)``.
    decoder_ : keras.Model
        Maps codes back to ``(n, n_features_in_)``.
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
        ``early_stopping=True``; otherwise None.
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

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(ACTIVATIONS)],
        "output_activation": [StrOptions(ACTIVATIONS | {"auto"})],
        "loss": [StrOptions(_LOSSES), callable],
        "optimizer": [
            StrOptions(_OPTIMIZERS),
            HasMethods(["apply_gradients", "get_config"]),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
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
        "precision": [StrOptions({"float32", "float64"})],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        n_components=32,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        output_activation="auto",
        loss="mse",
        optimizer="adam",
        learning_rate=1e-3,
        alpha=0.0,
        dropout=0.0,
        batch_size=256,
        epochs=50,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        noise=None,
        noise_level=0.1,
        noise_clip=None,
        callbacks=None,
        random_state=None,
        checkpoint_dir=None,
        on_divergence="raise",
        precision="float32",
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.dropout = dropout
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
        self.verbose = verbose
        self.warm_start = warm_start

    # -- fitting ---------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Any numeric dtype; it is converted to the model's
            ``precision`` one batch at a time.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : AutoencoderTransformer
            The fitted estimator.
        """
        check_level(self.noise, self.noise_level, "noise_level")
        with _rollback_on_error(self):
            warm = self.warm_start and self.__sklearn_is_fitted__()
            X = self._validate_X(X, reset=not warm, training=True)
            sample_weight = self._validate_sample_weight(sample_weight, X)
            checkpoint = self._checkpoint(X) if self.checkpoint_dir else None
            if not warm:
                seed = None if checkpoint is None else checkpoint.load()
                self._initialize(seed)
                if checkpoint is not None and seed is None:
                    checkpoint.start(self._seed)
            elif isinstance(self.optimizer, str):
                # A warm start keeps the optimizer and its state; a new
                # learning_rate still applies.
                self.model_.optimizer.learning_rate.assign(self.learning_rate)
            result = self._train(
                X, sample_weight, self.epochs, self.early_stopping, checkpoint
            )
        self._report(result)
        if checkpoint is not None and not result.interrupted:
            checkpoint.clear()
        if not (result.interrupted or result.diverged):
            self._warn_if_not_converged(result)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train for one epoch over ``X``, keeping the weights between calls.

        The first call builds the model; early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : AutoencoderTransformer
            The updated estimator.
        """
        check_level(self.noise, self.noise_level, "noise_level")
        with _rollback_on_error(self):
            first = not self.__sklearn_is_fitted__()
            X = self._validate_X(X, reset=first, training=True)
            sample_weight = self._validate_sample_weight(sample_weight, X)
            if first:
                self._initialize()
            result = self._train(X, sample_weight, epochs=1, early_stopping=False)
        self._report(result)
        return self

    def _validate_X(self, X, *, reset, training=False):
        """Check ``X`` like scikit-learn does, plus what a float model needs.

        Booleans are refused rather than guessed at; values a float32 model
        cannot hold are an error; at transform time, values far outside the
        range seen in training get a warning. Training records that range.
        """
        X = validate_data(self, X, reset=reset, dtype="numeric")
        if X.dtype == bool:
            raise TypeError(
                "X has dtype bool. AutoencoderTransformer reconstructs numbers; "
                "if the booleans are 0/1 features, pass X.astype(np.float32)."
            )
        low, high = X.min(axis=0), X.max(axis=0)
        limit = np.finfo(self._compute_dtype()).max
        if X.dtype.kind in "fiu" and (low.min() < -limit or high.max() > limit):
            raise ValueError(
                f"X has values beyond what {self._compute_dtype()} holds "
                f"(|x| > {limit:.3g}). Scale the data first, e.g. with "
                "StandardScaler, or use precision='float64'."
            )
        if training:
            if reset or not hasattr(self, "_data_min"):
                self._data_min, self._data_max = low, high
            else:
                self._data_min = np.minimum(self._data_min, low)
                self._data_max = np.maximum(self._data_max, high)
        elif hasattr(self, "_data_min"):
            self._warn_out_of_range(low, high)
        return X

    def _compute_dtype(self):
        if self.__sklearn_is_fitted__():
            from ._models import input_dtype

            return input_dtype(self.model_)
        return self.precision

    def _warn_out_of_range(self, low, high):
        span = np.maximum(self._data_max - self._data_min, 1e-12)
        far = (low < self._data_min - span) | (high > self._data_max + span)
        if far.any():
            warnings.warn(
                f"X has values far outside the range seen in training (more "
                f"than the training range's width beyond it) in {int(far.sum())}"
                " feature(s); the autoencoder extrapolates there. Check that X "
                "is scaled like the training data.",
                OutOfRangeWarning,
                stacklevel=3,
            )

    def _validate_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        return _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )

    def _output_activation(self):
        if self.output_activation != "auto":
            return self.output_activation
        return "sigmoid" if self.loss == "binary_crossentropy" else "linear"

    def _checkpoint(self, X):
        from ._checkpoint import Checkpoint

        ignored = {"callbacks", "verbose", "checkpoint_dir", "on_divergence"}
        params = {k: v for k, v in self.get_params().items() if k not in ignored}
        fingerprint = {
            **params,
            "n_samples": X.shape[0],
            "n_features": X.shape[1],
            "first_epoch": getattr(self, "n_iter_", 0),
        }
        # Through JSON once, so that it compares equal to what is read back.
        fingerprint = json.loads(json.dumps(fingerprint, default=repr))
        return Checkpoint(self.checkpoint_dir, fingerprint)

    def _initialize(self, seed=None):
        """Build and compile a fresh model for ``n_features_in_`` inputs."""
        from . import _models, _training

        self._seed = _draw_seed(self.random_state) if seed is None else seed
        model = _models.build_dense_autoencoder(
            self.n_features_in_,
            self.n_components,
            hidden_layer_sizes=_check_hidden_layer_sizes(self.hidden_layer_sizes),
            activation=self.activation,
            output_activation=self._output_activation(),
            dropout=self.dropout,
            alpha=self.alpha,
            rng=np.random.default_rng(self._seed),
            dtype=self.precision,
        )
        _training.compile_model(
            model,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            loss=self.loss,
        )
        self._set_model(model)
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.history_ = {}
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _set_model(self, model):
        from . import _models

        self.model_ = model
        self.encoder_, self.decoder_ = _models.halves(model)
        self._n_features_out = self.encoder_.output_shape[-1]

    def _train(self, X, sample_weight, epochs, early_stopping, checkpoint=None):
        """Train through the one training routine; record what it did.

        A run that ends without a single good epoch of a model that had none
        raises here (and is rolled back); otherwise the good epochs are kept
        and :meth:`_report` says what went wrong.
        """
        from . import _training

        result = _training.train(
            self.model_,
            X,
            epochs=epochs,
            batch_size=self.batch_size,
            seed=self._seed,
            first_epoch=self.n_iter_,
            sample_weight=sample_weight,
            early_stopping=early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            noise=self.noise,
            noise_level=self.noise_level,
            noise_clip=self.noise_clip,
            callbacks=self.callbacks,
            verbose=self.verbose,
            checkpoint=checkpoint,
        )
        if self.n_iter_ + result.epochs_run == 0:
            if result.interrupted:
                raise KeyboardInterrupt
            if result.diverged:
                raise DivergenceError(self._divergence_message(0))
        self.n_iter_ += result.epochs_run
        self.loss_curve_ = self.loss_curve_ + result.history["loss"]
        self.history_ = {
            key: self.history_.get(key, []) + values
            for key, values in result.history.items()
        }
        if early_stopping and result.history.get("val_loss"):
            self.validation_scores_ = [-v for v in result.history["val_loss"]]
            best = min(result.best_epoch or 0, len(self.validation_scores_) - 1)
            self.best_validation_score_ = self.validation_scores_[best]
        return result

    def _divergence_message(self, kept):
        return (
            f"Training diverged: the loss became NaN or infinite after "
            f"{self.n_iter_ if kept else 0} good epoch(s)"
            + (f"; the weights of epoch {self.n_iter_} are kept" if kept else "")
            + f". Lower learning_rate (now {self.learning_rate}), scale the data "
            "(e.g. StandardScaler or MinMaxScaler), or add alpha regularization."
        )

    def _report(self, result):
        """Warn about an interrupted run; raise (or warn) about divergence."""
        if result.interrupted:
            warnings.warn(
                f"Training was interrupted; the weights of the last completed "
                f"epoch are kept (n_iter_={self.n_iter_}).",
                UserWarning,
                stacklevel=4,
            )
        if result.diverged:
            message = self._divergence_message(kept=True)
            if self.on_divergence == "raise":
                raise DivergenceError(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=4)

    def _warn_if_not_converged(self, result):
        key = "val_loss" if self.early_stopping else "loss"
        curve = result.history.get(key, [])
        if (
            not result.stopped_early
            and len(curve) > 1
            and curve[-2] - curve[-1] > self.tol
        ):
            warnings.warn(
                f"AutoencoderTransformer: the maximum number of epochs "
                f"({self.epochs}) was reached while the {key.replace('_', ' ')} "
                f"was still improving by more than tol={self.tol}. Increase "
                "epochs, or set early_stopping=True.",
                ConvergenceWarning,
                stacklevel=4,
            )

    # -- using a fitted model --------------------------------------------------

    def transform(self, X):
        """Encode ``X`` into ``n_components`` values per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), dtype float32
            The codes.
        """
        from . import _data, _models

        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return _data.map_batches(
            partial(_models.apply, self.encoder_),
            X,
            self._n_features_out,
            in_dtype=_models.input_dtype(self.encoder_),
        )

    def inverse_transform(self, X):
        """Decode codes back into the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`), dtype float32
            The reconstruction.
        """
        from . import _data, _models

        check_is_fitted(self)
        Z = check_array(X, dtype="numeric")
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but inverse_transform expects codes "
                f"of width n_components={self._n_features_out}, as returned by "
                "transform."
            )
        return _data.map_batches(
            partial(_models.apply, self.decoder_),
            Z,
            self.n_features_in_,
            in_dtype=_models.input_dtype(self.decoder_),
        )

    def score_samples(self, X):
        """Minus the mean squared reconstruction error of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-mean((X - inverse_transform(transform(X))) ** 2, axis=1)``;
            higher is better.
        """
        from . import _data, _models

        check_is_fitted(self)
        X = self._validate_X(X, reset=False)

        def row_errors(x):
            diff = _models.apply(self.model_, x, dtype=np.float64) - x
            return np.mean(diff**2, axis=1, keepdims=True)

        errors = _data.map_batches(
            row_errors,
            X,
            1,
            in_dtype=_models.input_dtype(self.model_),
            out_dtype=np.float64,
        )
        return -errors[:, 0]

    def score(self, X, y=None, sample_weight=None):
        """Minus the mean squared reconstruction error (higher is better).

        Lets :class:`~sklearn.model_selection.GridSearchCV` tune the
        autoencoder on its own, with no ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean.

        Returns
        -------
        score : float
            Weighted mean of :meth:`score_samples`.
        """
        return float(np.average(self.score_samples(X), weights=sample_weight))

    # -- scikit-learn protocol -------------------------------------------------

    def __sklearn_is_fitted__(self):
        """Whether a model has been built and trained."""
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = False
        return tags

    def __getstate__(self):
        """Pickle the Keras model as its config and weights."""
        state = dict(super().__getstate__())
        if "model_" in state:
            from . import _models

            state["model_"] = _models.get_state(state["model_"])
            del state["encoder_"], state["decoder_"]
        return state

    def __setstate__(self, state):
        """Rebuild the Keras model from its config and weights."""
        state = dict(state)
        model_state = state.pop("model_", None)
        super().__setstate__(state)
        if model_state is not None:
            from . import _models, _training

            model = _models.from_state(model_state)
            _training.compile_model(
                model,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate,
                loss=self.loss,
            )
            _models.restore_optimizer(model, model_state["optimizer"])
            self._set_model(model)
