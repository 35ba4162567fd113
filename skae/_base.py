"""The scikit-learn side of skae's autoencoders.

``BaseAutoencoder`` speaks scikit-learn's protocol and nothing else: ``fit``
and ``partial_fit`` (one path, :meth:`BaseAutoencoder._fit`),
``transform`` / ``inverse_transform`` / ``score``, rollback of failed calls,
pickling and tags. Each concern it relies on has its own module: validation
(``_validation``), device placement (``_devices``), the model's state and
compilation (``_state``), the one training routine (``_training``). A
subclass declares its parameters and builds its Keras model in
``_build_model``. Keras is imported inside the methods that need it, so
``import skae`` stays free of TensorFlow.
"""

from __future__ import annotations

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
from sklearn.utils.validation import check_is_fitted

from . import _devices
from ._compat import _fit_context
from ._random import draw_seed
from ._validation import (
    check_codes,
    check_sample_weight,
    check_settings,
    check_unchanged,
    check_X,
    describe_setting,
    external_stacklevel,
)
from .exceptions import DivergenceError

#: Rows from which ``early_stopping="auto"`` stops early (see the parameter).
AUTO_EARLY_STOPPING_ROWS = 2000

#: ``epochs="auto"``: without and with early stopping (see the parameter).
AUTO_EPOCHS = (50, 200)

#: Parameters that play no part in what a checkpoint resumes.
_NOT_IN_CHECKPOINT = frozenset(
    {"callbacks", "verbose", "checkpoint_dir", "on_divergence"}
)


@contextmanager
def _rollback_on_error(estimator):
    """Leave ``estimator`` exactly as it was if the body raises.

    Attributes are restored, and so is the state of a model that the body was
    training further (``warm_start``, ``partial_fit``).
    """
    saved = dict(estimator.__dict__)
    model = saved.get("model_")
    state = None
    if model is not None:
        from ._state import ModelState

        state = ModelState.capture(model)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        if state is not None:
            state.restore(model)
        raise


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of skae's autoencoders (not for direct use).

    Subclasses set ``_parameter_constraints``, store their parameters in
    ``__init__`` and build the model in ``_build_model``.
    """

    #: Parameters the model is built with: changing one of them after a fit
    #: needs a new model (a cold ``fit``), see ``_validation.check_unchanged``.
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
            Weight of each sample in the loss: weights ``w`` train the model
            that rows repeated ``w`` times would.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train for one epoch over ``X``, keeping the weights between calls.

        The first call builds the model; early stopping does not apply.
        Later calls train that model further, so the settings it was built
        with must not change in between (a changed one raises a
        ``ValueError``; see ``warm_start``); a changed ``learning_rate`` of a
        named optimizer applies.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The rows of this step: a chunk of a data set too large for one
            ``fit``, or new data as it arrives.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each of these rows in this epoch's loss.

        Returns
        -------
        self : object
            The estimator, trained for one more epoch.
        """
        return self._fit(X, sample_weight, incremental=True)

    def _fit(self, X, sample_weight, incremental):
        """Train a new model, or this one further: the one training path."""
        from . import _training

        check_settings(self)
        with _rollback_on_error(self):
            first = not self.__sklearn_is_fitted__() or not (
                incremental or self.warm_start
            )
            if not first:
                check_unchanged(self, getattr(self, "_model_settings", None))
            dtype = self._compute_dtype(new_model=first)
            X = check_X(self, X, reset=first, training=True, dtype=dtype)
            sample_weight = check_sample_weight(sample_weight, X)
            if first:
                self.device_ = _devices.choose(self.device, self.distribution)
            config = self._training_config(incremental, X.shape[0])
            with _devices.placement(self.device_):
                if first:
                    self._initialize(X, sample_weight, config)
                else:
                    from ._state import set_learning_rate

                    set_learning_rate(self.model_, config.compilation)
                result = _training.train(
                    self.model_, X, config, seed=self._seed,
                    first_epoch=self.n_iter_, sample_weight=sample_weight,
                    resume=not first,
                )  # fmt: skip
            self._record(result)
        self._report(result)
        if not (incremental or result.interrupted or result.diverged):
            self._warn_if_not_converged(result)
        return self

    def _compute_dtype(self, new_model=False):
        """Return the float type the (fitted, or a new) model computes in."""
        from ._models import compute_dtype

        if new_model or not self.__sklearn_is_fitted__():
            return compute_dtype(self.precision)
        return compute_dtype(self.encoder_)

    def _compilation(self):
        """Return how the model is compiled (``_state.Compilation``)."""
        from ._state import Compilation

        return Compilation(
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            loss_scale=self.precision == "mixed_float16",
            **self._compile_args(),
        )

    def _early_stopping(self, n_samples):
        """Whether a ``fit`` on ``n_samples`` rows stops early."""
        if self.early_stopping == "auto":
            return n_samples >= AUTO_EARLY_STOPPING_ROWS
        return bool(self.early_stopping)

    def _epochs(self, early_stopping):
        """``epochs``, with ``"auto"`` resolved (see the parameter)."""
        if self.epochs == "auto":
            return AUTO_EPOCHS[bool(early_stopping)]
        return int(self.epochs)

    def _training_config(self, incremental, n_samples):
        """Return what this call asks of training (``_training.TrainingConfig``)."""
        from ._training import TrainingConfig

        checkpoint_dir = None if incremental else self.checkpoint_dir
        settings = {}
        if checkpoint_dir is not None:
            settings = {
                k: describe_setting(v)
                for k, v in self.get_params(deep=False).items()
                if k not in _NOT_IN_CHECKPOINT
            }
        early_stopping = self._early_stopping(n_samples) and not incremental
        return TrainingConfig(
            epochs=1 if incremental else self._epochs(early_stopping),
            batch_size=int(self.batch_size),
            compilation=self._compilation(),
            early_stopping=early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=int(self.n_iter_no_change),
            tol=self.tol,
            noise=self.noise,
            noise_level=self.noise_level,
            noise_clip=self.noise_clip,
            noise_range=(self._data_min, self._data_max),
            callbacks=tuple(self.callbacks or ()),
            verbose=int(self.verbose),
            targets=self._targets(),
            distribution=self.distribution,
            checkpoint_dir=checkpoint_dir,
            settings=settings,
            jit_compile=self._jit_compile(),
        )

    def _jit_compile(self):
        """``jit_compile``; ``"auto"`` never compiles your own networks."""
        custom = getattr(self, "encoder", None) is not None or (
            getattr(self, "decoder", None) is not None
        )
        return False if self.jit_compile == "auto" and custom else self.jit_compile

    def _initialize(self, X, sample_weight, config):
        """Build and compile a fresh model for ``n_features_in_`` inputs.

        ``X``, ``sample_weight`` and ``config`` are those of the call that
        trains it; a model that starts from the data (``init="pca"``) sees
        only the rows that training will (``_data.training_rows``).
        """
        from . import _data, _models, _state

        _models.check_precision(self.precision)
        self._seed = draw_seed(self.random_state)
        rows, _ = _data.training_rows(X.shape[0], config, self._seed)
        model = self._build_model(
            np.random.default_rng(self._seed),
            data=(X, rows, sample_weight),
        )
        self._set_model(_state.compile_model(model, self._compilation()))
        params = self.get_params(deep=False)
        self._model_settings = {
            name: describe_setting(params[name]) for name in self._built_from
        }
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.history_ = {}
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _build_model(self, rng, data):
        """Return the uncompiled Keras autoencoder; subclasses define it.

        It must contain the two halves as layers named ``"encoder"`` and
        ``"decoder"``, and draw every random seed from ``rng``. ``data`` is
        ``(X, rows, sample_weight)``: the training data and the rows of it
        training uses, for a model that starts from the data.
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
        """Attach a built (or loaded) model and its halves."""
        from . import _models

        self.model_ = model
        self.encoder_, self.decoder_ = _models.halves(model)

    @property
    def _n_features_out(self):
        """The width of the codes: what ``transform`` returns per row."""
        return int(self.encoder_.output_shape[-1])

    def _record(self, result):
        """Record what training did.

        A call that ends without a single good epoch of a model that had none
        raises here (and is rolled back); otherwise the good epochs are kept
        and :meth:`_report` says what went wrong.
        """
        self._seed = result.seed
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
        if result.history.get("val_loss"):
            self.validation_scores_ = [-v for v in result.history["val_loss"]]
            if result.best_loss is not None:
                self.best_validation_score_ = -result.best_loss

    def _divergence_message(self, kept):
        return (
            f"Training diverged: the loss or the weights became NaN or "
            f"infinite after {self.n_iter_ if kept else 0} good epoch(s)"
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
                stacklevel=external_stacklevel(),
            )
        if result.diverged:
            message = self._divergence_message(kept=True)
            if self.on_divergence == "raise":
                raise DivergenceError(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=external_stacklevel())

    def _warn_if_not_converged(self, result):
        stopping = "val_loss" in result.history
        key = "val_loss" if stopping else "loss"
        curve = result.history.get(key, [])
        if (
            not result.stopped_early
            and result.epochs_run >= self._epochs(stopping)  # not a callback's stop
            and len(curve) > 1
            and curve[-2] - curve[-1] > self.tol
        ):
            warnings.warn(
                f"{type(self).__name__}: the maximum number of epochs "
                f"({self._epochs(stopping)}) was reached while the "
                f"{key.replace('_', ' ')} "
                f"was still improving by more than tol={self.tol}. Increase "
                "epochs" + ("." if stopping else ", or set early_stopping=True."),
                ConvergenceWarning,
                stacklevel=external_stacklevel(),
            )

    # -- using a fitted model --------------------------------------------------

    def _apply(self, fn, X, n_outputs, model, **kwargs):
        """Map ``fn`` over row batches of ``X`` on the model's device."""
        from . import _data, _models

        with _devices.placement(self.device_):
            return _data.map_batches(
                fn, X, n_outputs, in_dtype=_models.input_dtype(model), **kwargs
            )

    def transform(self, X):
        """Encode ``X`` into ``n_components`` values per sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode, scaled like the training data (values far outside
            the training range get an ``OutOfRangeWarning``).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), dtype float32
            The codes.
        """
        from ._pipeline import apply

        check_is_fitted(self)
        X = check_X(self, X, reset=False, dtype=self._compute_dtype())
        encode = partial(apply, self.encoder_)
        return self._apply(encode, X, self._n_features_out, self.encoder_)

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
        from ._pipeline import apply

        check_is_fitted(self)
        Z = check_codes(
            self, X, width=self._n_features_out, dtype=self._compute_dtype()
        )
        decode = partial(apply, self.decoder_)
        return self._apply(decode, Z, self.n_features_in_, self.decoder_)

    def score_samples(self, X):
        """Score each sample by how well the autoencoder reconstructs it.

        :class:`AutoencoderTransformer` returns minus the mean squared
        reconstruction error, ``-mean((X - inverse_transform(transform(X)))
        ** 2, axis=1)``; :class:`VariationalAutoencoderTransformer` returns
        minus its training objective at the posterior mean,
        ``-(loss(x, decode(mean)) + beta * KL(q(z|x) || N(0, I)) /
        n_features)``, with the training ``loss``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to reconstruct.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            One score per row; higher is better.
        """
        check_is_fitted(self)
        X = check_X(self, X, reset=False, dtype=self._compute_dtype())
        losses = self._apply(
            lambda x: self._row_losses(x)[:, None], X, 1, self.model_,
            out_dtype=np.float64,
        )  # fmt: skip
        return -losses[:, 0]

    def _row_losses(self, x):
        """Per-row loss of one converted batch ``x``, as float64 (score_samples)."""
        from ._pipeline import apply

        diff = apply(self.model_, x, dtype=np.float64) - x
        return np.mean(diff**2, axis=1)

    def reconstruction_error(self, X, *, per_feature=False):
        """Squared error of the reconstruction of each row (or of each value).

        The reconstruction is ``inverse_transform(transform(X))``: for
        :class:`VariationalAutoencoderTransformer`, the decoding of the
        posterior mean. Large errors mark rows (and, with
        ``per_feature=True``, the features of a row) that the model has not
        learned to rebuild: a row unlike the training data, or a feature of
        it that breaks the pattern the other features follow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data, scaled like the training data.
        per_feature : bool, default=False
            Return one error per row and feature instead of one per row.

        Returns
        -------
        errors : ndarray of shape (n_samples,) or (n_samples, n_features), \
dtype float64
            ``(X - X_hat) ** 2`` per value with ``per_feature=True``; else its
            mean over the features, the row's mean squared error (minus
            :meth:`AutoencoderTransformer.score_samples`).
        """
        from ._pipeline import apply

        check_is_fitted(self)
        if not isinstance(per_feature, (bool, np.bool_)):
            raise TypeError(f"per_feature must be True or False; got {per_feature!r}.")
        X = check_X(self, X, reset=False, dtype=self._compute_dtype())

        def errors(x):
            codes = apply(self.encoder_, x, dtype=x.dtype)
            x_hat = apply(self.decoder_, codes, dtype=np.float64)
            squared = (x_hat - x) ** 2
            return squared if per_feature else np.mean(squared, axis=1)[:, None]

        width = self.n_features_in_ if per_feature else 1
        out = self._apply(errors, X, width, self.encoder_, out_dtype=np.float64)
        return out if per_feature else out[:, 0]

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
            Weighted mean of :meth:`score_samples`: for
            :class:`AutoencoderTransformer`, minus the mean squared
            reconstruction error.
        """
        return float(np.average(self.score_samples(X), weights=sample_weight))

    def export(self, path, *, part="encoder", format="tf_saved_model"):
        """Export part of the fitted network for serving, without skae.

        The export holds the network's inference call and its weights only:
        it runs in TensorFlow Serving or ONNX Runtime with no skae,
        scikit-learn or Python data preparation, and gives the numbers of
        the matching method (the loaded export's output, cast to float32):

        ========================  ==========================================
        ``part``                  takes -> returns, like
        ========================  ==========================================
        ``"encoder"``             rows -> codes, like :meth:`transform`
        ``"decoder"``             codes -> rows, like :meth:`inverse_transform`
        ``"autoencoder"``         rows -> reconstructions, like
                                  ``inverse_transform(transform(X))``
        ========================  ==========================================

        Inputs must be converted as :meth:`transform` converts them: to the
        network's compute dtype (float32 unless ``precision`` says
        otherwise), dense, scaled like the training data. A variational
        autoencoder's ``"autoencoder"`` also outputs each row's KL term, and
        it also exports ``part="sampler"``: its decoder, to be fed draws from
        N(0, I) as :meth:`VariationalAutoencoderTransformer.sample` does.

        Parameters
        ----------
        path : str or path-like
            For ``"tf_saved_model"``, a directory to create: load it with
            ``tf.saved_model.load(path)`` and call its ``serve`` method. For
            ``"onnx"``, a file: run it with
            ``onnxruntime.InferenceSession(path)``.
        part : {"encoder", "decoder", "autoencoder"}, default="encoder"
            Which network to export (a variational autoencoder also takes
            ``"sampler"``).
        format : {"tf_saved_model", "onnx"}, default="tf_saved_model"
            A TensorFlow SavedModel (needs TensorFlow, also on Keras's other
            backends), or ONNX (needs the ``onnx`` extra:
            ``pip install "skae[onnx]"``).

        Returns
        -------
        path : pathlib.Path
            Where the export was written.

        See Also
        --------
        skae.save : Save the whole estimator, to go on using or training it.
        skae.onnx.register : Convert whole scikit-learn pipelines with skl2onnx.
        """
        from ._export import FORMATS, export_model

        check_is_fitted(self)
        parts = self._exportable()
        if part not in parts:
            raise ValueError(f"part must be one of {sorted(parts)}; got {part!r}.")
        if format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}; got {format!r}.")
        return export_model(parts[part], path, format)

    def _exportable(self):
        """Return the networks :meth:`export` writes, by name."""
        return {
            "encoder": self.encoder_,
            "decoder": self.decoder_,
            "autoencoder": self.model_,
        }

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
        """Pickle the Keras model as its config and state."""
        state = dict(super().__getstate__())
        if state.get("distribution") is not None:
            # Strategies hold this process's devices and do not pickle.
            state["distribution"] = None
        if "model_" in state:
            from ._state import model_to_plain

            state["model_"] = model_to_plain(state["model_"])
            del state["encoder_"], state["decoder_"]
        return state

    def __setstate__(self, state):
        """Rebuild the Keras model from its config and state."""
        state = dict(state)
        plain = state.pop("model_", None)
        state.pop("_n_features_out", None)  # stored by earlier versions
        super().__setstate__(state)
        if plain is not None:
            from ._state import model_from_plain

            self.device_ = _devices.restore(getattr(self, "device_", None), self.device)
            with _devices.placement(self.device_):
                self._set_model(model_from_plain(plain, self._compilation()))
