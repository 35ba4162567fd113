"""Shared machinery of skae's autoencoder estimators.

The scikit-learn side of every estimator: validation, the fit / partial_fit
flow around the one training routine, transform / inverse_transform / score,
rollback of failed calls, checkpoints, pickling and tags. A subclass declares
its parameters and builds its Keras model in ``_build_model``. Keras is
imported inside the methods that need it, so ``import skae`` stays free of
TensorFlow.
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from functools import partial

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from ._compat import _check_sample_weight, _fit_context, validate_data
from ._memmap import column_range as _column_range
from ._validation import (
    check_settings,
    check_unchanged,
    describe_setting,
    warn_if_loss_cannot_fit,
)
from .exceptions import DivergenceError, OutOfRangeWarning


def _refuse_booleans(X, name):
    """Booleans are not numbers to reconstruct: say how to convert them."""
    dtypes = getattr(X, "dtypes", None)  # a DataFrame: check every column
    dtypes = [getattr(X, "dtype", None)] if dtypes is None else list(dtypes)
    if any(getattr(d, "kind", None) == "b" or str(d) == "boolean" for d in dtypes):
        raise TypeError(
            f"{name} holds booleans. An autoencoder reconstructs numbers; if "
            f"they are 0/1 features, convert them first with "
            f"{name}.astype(np.float32)."
        )


def _as_numbers(X, name):
    """Convert what validation let through as objects (e.g. categories) or fail."""
    if X.dtype == bool:
        _refuse_booleans(X, name)
    if X.dtype.kind == "O":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} holds values that are not numbers ({exc}). Encode "
                "categories first, e.g. with OneHotEncoder or OrdinalEncoder."
            ) from exc
    return X


def _external_stacklevel():
    """Stack level of the first caller outside skae and scikit-learn.

    Warnings then point at the user's line whichever public method (and
    scikit-learn wrapper) led to them.
    """
    import os
    import sys

    import sklearn

    inside = (os.path.dirname(__file__), os.path.dirname(sklearn.__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _describe(value):
    """Describe a parameter the same way in every process.

    Builder functions and Keras objects print with their memory address;
    they are named by their qualified name and class instead.
    """
    if getattr(value, "get_config", None) is not None and hasattr(value, "name"):
        return f"{type(value).__module__}.{type(value).__qualname__}:{value.name}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return value


def _draw_seed(random_state):
    """One int seed for everything random in a model's life.

    ``None`` draws fresh entropy from the OS instead of NumPy's global
    generator, so fitting never advances global random state.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


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


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of skae's autoencoders (not for direct use).

    Subclasses set ``_parameter_constraints``, store their parameters in
    ``__init__`` and build the model in ``_build_model``.
    """

    #: Parameters the model is built with: changing one of them after a fit
    #: needs a new model (a cold ``fit``), see :meth:`_check_unchanged`.
    _built_from: tuple = ()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Any numeric dtype, a NumPy memmap, or a scipy sparse
            matrix; it is converted to the model's ``precision`` (and
            densified) one batch at a time, never copied whole.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_settings(self)
        with _rollback_on_error(self):
            warm = self.warm_start and self.__sklearn_is_fitted__()
            if warm:
                self._check_unchanged()
            X = self._validate_X(X, reset=not warm, training=True)
            sample_weight = self._validate_sample_weight(sample_weight, X)
            if not warm:
                self._resolve_device()
            # The checkpoint's lock is held from before it is read until after
            # it is removed, and released however the fit ends.
            with self._on_device(), self._checkpoint(X, warm) as checkpoint:
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
                if checkpoint is not None and not result.interrupted:
                    checkpoint.clear()
        self._report(result)
        if not (result.interrupted or result.diverged):
            self._warn_if_not_converged(result)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train for one epoch over ``X``, keeping the weights between calls.

        The first call builds the model; early stopping does not apply.
        Later calls train that model further, so the settings it was built
        with must not change in between (a changed one raises a
        ``ValueError``; see ``warm_start``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        check_settings(self)
        with _rollback_on_error(self):
            first = not self.__sklearn_is_fitted__()
            if not first:
                self._check_unchanged()
            X = self._validate_X(X, reset=first, training=True)
            sample_weight = self._validate_sample_weight(sample_weight, X)
            if first:
                self._resolve_device()
            with self._on_device():
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
        _refuse_booleans(X, "X")
        X = validate_data(self, X, reset=reset, dtype="numeric", accept_sparse="csr")
        X = _as_numbers(X, "X")
        low, high = _column_range(X)
        self._check_magnitude(low, high, "X")
        if training:
            warn_if_loss_cannot_fit(self.loss, low, high, _external_stacklevel())
            if reset or not hasattr(self, "_data_min"):
                self._data_min, self._data_max = low, high
            else:
                self._data_min = np.minimum(self._data_min, low)
                self._data_max = np.maximum(self._data_max, high)
        elif hasattr(self, "_data_min"):
            self._warn_out_of_range(low, high)
        return X

    def _check_magnitude(self, low, high, name):
        """Refuse values the model cannot compute with in its float type."""
        dtype = self._compute_dtype()
        # bfloat16 has float32's exponent, hence its range.
        limit = np.sqrt(np.finfo("float32" if dtype == "bfloat16" else dtype).max)
        if low.size and (low.min() < -limit or high.max() > limit):
            raise ValueError(
                f"{name} has values of magnitude above {limit:.3g}, beyond which "
                f"a {dtype} network overflows. Scale the data first, e.g. with "
                "StandardScaler, or use precision='float64'."
            )

    def _compute_dtype(self):
        """Return the float type the model's first layers compute in."""
        from ._models import compute_dtype

        if self.__sklearn_is_fitted__():
            return compute_dtype(self.encoder_)
        return compute_dtype(self.precision)

    def _resolve_device(self):
        """Pick the device for a new model and record it in ``device_``."""
        from . import _devices

        if self.distribution is not None:
            if self.checkpoint_dir is not None:
                raise ValueError(
                    "checkpoint_dir and distribution cannot be combined yet: "
                    "resuming a distributed fit is not supported. Drop one."
                )
            self.device_ = _devices.describe(self.distribution)
        else:
            self.device_ = _devices.resolve(self.device)

    def _on_device(self):
        """Return a context placing Keras work on ``device_``.

        With a ``distribution`` the estimator's own model lives on the
        default device; only training runs under the distribution.
        """
        import contextlib

        import keras

        device = getattr(self, "device_", "cpu")
        if self.distribution is not None or device.startswith("distributed"):
            return contextlib.nullcontext()
        return keras.device(device)

    def _distributed_model(self):
        """Copy ``model_`` (weights, optimizer state) under ``distribution``.

        Training runs on the copy, whose variables the distribution mirrors or
        shards; :meth:`_take_state` copies the result back, so that
        ``model_`` stays a plain model that predicts, pickles and loads
        anywhere.
        """
        from . import _models, _training

        state = _models.get_state(self.model_)
        with self.distribution.scope():
            model = _models.from_state(state)
            _training.compile_model(
                model,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate,
                loss_scale=self.precision == "mixed_float16",
                **self._compile_args(),
            )
            _models.restore_optimizer(model, state["optimizer"])
        return model

    def _take_state(self, trained):
        """Copy weights, random and optimizer state of ``trained`` into ``model_``."""
        from ._training import restore, snapshot

        optimizer = self.model_.optimizer
        if not optimizer.built:
            optimizer.build(self.model_.trainable_variables)
        restore(self.model_, snapshot(trained))

    def _warn_out_of_range(self, low, high):
        # A feature that was constant in training (an image border) is judged
        # by the widest feature's range instead of its own, which is zero.
        span = self._data_max - self._data_min
        span = np.maximum(span, span.max(initial=0.0)) if span.size else span
        far = (low < self._data_min - span) | (high > self._data_max + span)
        if far.any():
            warnings.warn(
                f"X has values far outside the range seen in training (beyond "
                f"it by more than the training range's width) in "
                f"{int(far.sum())} feature(s); the autoencoder extrapolates "
                "there. Check that X is scaled like the training data.",
                OutOfRangeWarning,
                stacklevel=_external_stacklevel(),
            )

    def _validate_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        return _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )

    def _checkpoint(self, X, warm):
        """Return the checkpoint of this fit: a context that holds its lock.

        Without ``checkpoint_dir`` the context gives None. A new fit starts
        at epoch 0 (even on an estimator stopped by Ctrl-C, which then
        resumes); a warm start's checkpoint is checked with its seed.
        """
        import contextlib

        from ._checkpoint import Checkpoint, data_fingerprint

        if not self.checkpoint_dir:
            return contextlib.nullcontext()
        ignored = {"callbacks", "verbose", "checkpoint_dir", "on_divergence"}
        params = {
            k: _describe(v) for k, v in self.get_params().items() if k not in ignored
        }
        fingerprint = {
            **params,
            "n_samples": X.shape[0],
            "n_features": X.shape[1],
            "data": data_fingerprint(X),
            "first_epoch": self.n_iter_ if warm else 0,
        }
        # Through JSON once, so that it compares equal to what is read back.
        fingerprint = json.loads(json.dumps(fingerprint, default=repr))
        seed = self._seed if warm else None
        return Checkpoint(self.checkpoint_dir, fingerprint, seed=seed)

    def _initialize(self, seed=None):
        """Build and compile a fresh model for ``n_features_in_`` inputs."""
        from . import _models, _training

        _models.check_precision(self.precision)
        self._seed = _draw_seed(self.random_state) if seed is None else seed
        model = self._build_model(np.random.default_rng(self._seed))
        _training.compile_model(
            model,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            loss_scale=self.precision == "mixed_float16",
            **self._compile_args(),
        )
        self._set_model(model)
        params = self.get_params(deep=False)
        self._model_settings = {
            name: describe_setting(params[name]) for name in self._built_from
        }
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.history_ = {}
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _check_unchanged(self):
        """Refuse to train further a model whose build settings changed.

        Used by ``warm_start`` fits and ``partial_fit``.
        """
        check_unchanged(self, getattr(self, "_model_settings", None), self._built_from)

    def _build_model(self, rng):
        """Return the uncompiled Keras autoencoder; subclasses define it.

        It must contain the two halves as layers named ``"encoder"`` and
        ``"decoder"``, and draw every random seed from ``rng``.
        """
        raise NotImplementedError

    def _compile_args(self):
        """Return the ``loss`` (and ``loss_weights``) the model is compiled with."""
        return {"loss": self.loss}

    def _targets(self):
        """Return ``targets(x) -> y`` for a model with several outputs, or None.

        The default, None, trains the model to output its clean input.
        """
        return None

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

        distributed = self.distribution is not None
        model = self._distributed_model() if distributed else self.model_
        result = _training.train(
            model,
            X,
            epochs=int(epochs),
            batch_size=int(self.batch_size),
            seed=self._seed,
            first_epoch=self.n_iter_,
            sample_weight=sample_weight,
            early_stopping=early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=int(self.n_iter_no_change),
            tol=self.tol,
            noise=self.noise,
            noise_level=self.noise_level,
            noise_clip=self.noise_clip,
            callbacks=self.callbacks,
            verbose=int(self.verbose),
            checkpoint=checkpoint,
            targets=self._targets(),
        )
        if distributed:
            self._take_state(model)
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
            f"Training diverged: the loss or the weights became NaN or "
            f"infinite after "
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
                stacklevel=_external_stacklevel(),
            )
        if result.diverged:
            message = self._divergence_message(kept=True)
            if self.on_divergence == "raise":
                raise DivergenceError(message)
            warnings.warn(
                message, ConvergenceWarning, stacklevel=_external_stacklevel()
            )

    def _warn_if_not_converged(self, result):
        key = "val_loss" if self.early_stopping else "loss"
        curve = result.history.get(key, [])
        if (
            not result.stopped_early
            and len(curve) > 1
            and curve[-2] - curve[-1] > self.tol
        ):
            warnings.warn(
                f"{type(self).__name__}: the maximum number of epochs "
                f"({self.epochs}) was reached while the {key.replace('_', ' ')} "
                f"was still improving by more than tol={self.tol}. Increase "
                "epochs"
                + ("." if self.early_stopping else ", or set early_stopping=True."),
                ConvergenceWarning,
                stacklevel=_external_stacklevel(),
            )

    # -- using a fitted model --------------------------------------------------

    def transform(self, X):
        """Encode ``X`` into ``n_components`` values per sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), dtype float32
            The codes.
        """
        from . import _data, _models

        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        with self._on_device():
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
        _refuse_booleans(X, "X")
        Z = _as_numbers(check_array(X, dtype="numeric", estimator=self), "X")
        self._check_magnitude(*_column_range(Z), "The codes X")
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but inverse_transform expects codes "
                f"of width n_components={self._n_features_out}, as returned by "
                "transform."
            )
        with self._on_device():
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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        with self._on_device():
            losses = _data.map_batches(
                lambda x: self._row_losses(x)[:, None],
                X,
                1,
                in_dtype=_models.input_dtype(self.model_),
                out_dtype=np.float64,
            )
        return -losses[:, 0]

    def _row_losses(self, x):
        """Per-row loss of one converted batch ``x``, as float64 (score_samples)."""
        from . import _models

        diff = _models.apply(self.model_, x, dtype=np.float64) - x
        return np.mean(diff**2, axis=1)

    def score(self, X, y=None, sample_weight=None):
        """Minus the mean squared reconstruction error (higher is better).

        Lets :class:`~sklearn.model_selection.GridSearchCV` tune the
        autoencoder on its own, with no ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        tags.input_tags.sparse = True
        tags.target_tags.required = False
        return tags

    def __getstate__(self):
        """Pickle the Keras model as its config and weights."""
        state = dict(super().__getstate__())
        if state.get("distribution") is not None:
            # Strategies hold this process's devices and do not pickle.
            state["distribution"] = None
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
            from . import _devices, _models, _training

            # A model fitted on a GPU loads on a machine without one.
            saved = getattr(self, "device_", "auto")
            if saved.startswith("distributed"):
                saved = self.device
            self.device_ = _devices.resolve(saved, strict=False)
            with self._on_device():
                model = _models.from_state(model_state)
                _training.compile_model(
                    model,
                    optimizer=self.optimizer,
                    learning_rate=self.learning_rate,
                    loss_scale=self.precision == "mixed_float16",
                    **self._compile_args(),
                )
                _models.restore_optimizer(model, model_state["optimizer"])
            self._set_model(model)
