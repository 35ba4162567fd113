"""The one training routine.

Both ``fit`` and ``partial_fit`` train through :func:`train`; nothing else in
skae calls ``Model.fit``. Besides Keras's loop it keeps the weights of the
last good epoch, so that a diverging loss, a ``KeyboardInterrupt`` or a killed
process (with a checkpoint) never costs a trained model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import keras
import numpy as np

from ._data import VALIDATION_NOISE_STREAM, Batches, epoch_rng
from ._memmap import column_range, release
from ._models import input_dtype, random_states
from ._noise import corrupt
from ._pipeline import fit_input

#: Optimizer names accepted by the estimators, mapped to Keras classes.
OPTIMIZERS = {
    "adagrad": "Adagrad",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "rmsprop": "RMSprop",
    "sgd": "SGD",
}

#: Loss names accepted by the estimators (Keras's own identifiers).
LOSSES = ("binary_crossentropy", "huber", "log_cosh", "mae", "mse")

_SPLIT_STREAM = 1


def make_optimizer(optimizer, learning_rate):
    """Return a new Keras optimizer from a name or a copy of a given instance.

    A given instance is copied through its config, so the user's object is
    never built or trained; its own learning rate then applies.
    """
    if isinstance(optimizer, str):
        return getattr(keras.optimizers, OPTIMIZERS[optimizer])(
            learning_rate=learning_rate
        )
    return optimizer.__class__.from_config(optimizer.get_config())


def compile_model(
    model, *, optimizer, learning_rate, loss, loss_weights=None, loss_scale=False
):
    """Compile ``model`` for training with the estimator's settings.

    ``loss`` and ``loss_weights`` may be dicts keyed by output name, for a
    model with several outputs. ``loss_scale`` wraps the optimizer in Keras's
    dynamic ``LossScaleOptimizer``, which float16 computations need so that
    small gradients do not underflow.
    """
    optimizer = make_optimizer(optimizer, learning_rate)
    if loss_scale and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights)


def split_validation(n_samples, validation_fraction, seed):
    """Split ``range(n_samples)`` into shuffled train and validation indices."""
    n_val = max(1, round(n_samples * validation_fraction))
    if n_samples - n_val < 1:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{validation_fraction} of the samples, which leaves no sample to "
            f"train on with n_samples={n_samples}. Provide more samples or set "
            "early_stopping=False."
        )
    order = epoch_rng(seed, 0, _SPLIT_STREAM).permutation(n_samples)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _corruption(X, noise, noise_level, noise_clip, dtype):
    """Return the batch corruption function for ``noise``, or None."""
    if noise is None:
        return None
    low = high = None
    if noise == "salt_and_pepper":
        # Per-feature extremes of the training data, computed without a copy.
        low, high = (np.asarray(v, dtype=dtype) for v in column_range(X))
    return partial(
        corrupt, kind=noise, level=noise_level, low=low, high=high, clip=noise_clip
    )


@dataclass
class TrainingResult:
    """What one call to :func:`train` did, as plain Python data.

    ``history`` and ``epochs_run`` count the good epochs of this call, those
    of a resumed checkpoint included; ``diverged`` and ``interrupted`` say why
    training stopped before ``epochs`` (the model then has the weights of the
    last good epoch).
    """

    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    stopped_early: bool = False
    best_epoch: int | None = None
    resumed_at: int = 0
    diverged: bool = False
    interrupted: bool = False


def _assign(variables, values):
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def snapshot(model):
    """Copy the weights, random-generator and optimizer state of ``model``."""
    optimizer = model.optimizer
    state = None
    if optimizer is not None and optimizer.built:
        state = [v.numpy() for v in optimizer.variables]
    seeds = [v.numpy() for v in random_states(model)]
    return model.get_weights(), seeds, state


def _finite(state):
    """Whether the weights and optimizer state of a snapshot are all finite."""
    weights, _, optimizer_state = state
    return all(np.isfinite(v).all() for v in (*weights, *(optimizer_state or ())))


def restore(model, state):
    """Put back what :func:`snapshot` copied."""
    weights, seeds, optimizer_state = state
    model.set_weights(weights)
    _assign(random_states(model), seeds)
    if optimizer_state is not None:
        _assign(model.optimizer.variables, optimizer_state)


class _Guard(keras.callbacks.Callback):
    """Epoch bookkeeping around Keras's loop.

    Sets the epoch of the training batches (shuffling and noise), keeps the
    logs and a copy of the weights of every epoch that ended with finite
    losses, saves the logs to the checkpoint, and stops training at the end
    of an epoch whose loss is NaN or infinite.
    """

    def __init__(self, batches, first_epoch, checkpoint=None):
        super().__init__()
        self.batches = batches
        self.first_epoch = first_epoch
        self.checkpoint = checkpoint
        self.epoch_logs = [] if checkpoint is None else checkpoint.history()
        self.resumed_at = None
        self.diverged = False
        self.good = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.resumed_at is None:
            # After every on_train_begin: a resumed checkpoint is loaded.
            self.resumed_at = epoch
            self.epoch_logs = self.epoch_logs[:epoch]
            if epoch > 0 and self.checkpoint is not None:
                _assign(random_states(self.model), self.checkpoint.random_states())
            self.good = snapshot(self.model)
        self.batches.set_epoch(self.first_epoch + epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        state = snapshot(self.model)
        # A finite loss does not make finite weights: an overflowing gradient
        # can turn weights NaN while the epoch's mean loss stays finite.
        if not (all(math.isfinite(v) for v in logs.values()) and _finite(state)):
            self.diverged = True
            self.model.stop_training = True
            return
        self.epoch_logs.append(logs)
        self.good = state
        if self.checkpoint is not None:
            seeds = [v.numpy() for v in random_states(self.model)]
            self.checkpoint.save_epoch(self.epoch_logs, seeds)

    def restore_good(self):
        """Put back the weights of the last good epoch."""
        if self.good is not None:
            restore(self.model, self.good)


def train(
    model,
    X,
    *,
    epochs,
    batch_size,
    seed,
    first_epoch=0,
    sample_weight=None,
    early_stopping=False,
    validation_fraction=0.1,
    n_iter_no_change=10,
    tol=0.0,
    noise=None,
    noise_level=0.0,
    noise_clip=None,
    callbacks=None,
    verbose=0,
    checkpoint=None,
    targets=None,
):
    """Train the compiled autoencoder ``model`` to reconstruct ``X``.

    Parameters
    ----------
    model : keras.Model
        A compiled model, trained in place.
    X : array-like of shape (n_samples, n_features)
        Training data in any numeric dtype; converted one batch at a time.
    epochs, batch_size : int
        Passes over the data and rows per gradient step.
    seed : int
        Seeds the shuffling and the validation split.
    first_epoch : int
        Epochs this model has already been trained for (shuffling differs).
    sample_weight : ndarray of shape (n_samples,) or None
        Per-sample weights of the loss.
    early_stopping : bool
        Hold out ``validation_fraction`` of ``X``, stop after
        ``n_iter_no_change`` epochs without an improvement of the validation
        loss by more than ``tol``, and restore the best weights.
    noise : {"gaussian", "masking", "salt_and_pepper"} or None
        Corrupt the inputs (not the targets) of every training batch, afresh
        each epoch; the validation inputs are corrupted once, identically at
        every epoch.
    noise_level : float
        Strength of the noise (see ``_noise.corrupt``).
    noise_clip : tuple (low, high) or None
        Range the corrupted inputs are clipped to.
    callbacks : list of keras.callbacks.Callback or None
        Extra Keras callbacks.
    verbose : int
        Keras's verbosity: 0 silent, 1 progress bar, 2 one line per epoch.
    checkpoint : _checkpoint.Checkpoint or None
        Save the state at every epoch's end and resume from a saved one.
    targets : callable or None
        ``targets(x) -> y`` builds the targets of a multi-output model from a
        clean batch (see ``_data.Batches``); None trains to reconstruct ``x``.

    Returns
    -------
    result : TrainingResult
    """
    n_samples = X.shape[0]
    dtype = input_dtype(model)
    noisy = _corruption(X, noise, noise_level, noise_clip, dtype)
    # What validating a memory-mapped X read stays mapped until released.
    release(X)
    train_idx, val_data = np.arange(n_samples), None
    callbacks = list(callbacks or ())
    stopper = None
    if early_stopping:
        train_idx, val_idx = split_validation(n_samples, validation_fraction, seed)
        val_data = Batches(
            X,
            val_idx,
            batch_size,
            dtype=dtype,
            sample_weight=sample_weight,
            seed=seed,
            shuffle=False,
            corrupt=noisy,
            stream=VALIDATION_NOISE_STREAM,
            targets=targets,
        )
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss",
            mode="min",
            patience=n_iter_no_change,
            min_delta=tol,
            restore_best_weights=True,
        )
    if sample_weight is not None:
        # Mean 1 over the training rows: the loss is then the weighted mean,
        # the same as training on rows repeated ``sample_weight`` times.
        total = float(np.sum(sample_weight[train_idx], dtype=np.float64))
        if total <= 0:
            raise ValueError(
                "sample_weight sums to zero over the training samples; at "
                "least one sample needs a positive weight."
            )
        sample_weight = sample_weight * (len(train_idx) / total)
    batches = Batches(
        X,
        train_idx,
        min(batch_size, len(train_idx)),
        dtype=dtype,
        sample_weight=sample_weight,
        seed=seed,
        corrupt=noisy,
        first_epoch=first_epoch,
        targets=targets,
    )
    guard = _Guard(batches, first_epoch, checkpoint)
    # The guard runs first at every epoch's end, so a diverged epoch stops
    # before it reaches the backup or early stopping.
    callbacks = [guard, *callbacks]
    if checkpoint is not None:
        # skae removes the backup itself, file by file (never Keras's rmtree).
        backup = keras.callbacks.BackupAndRestore(
            checkpoint.keras_dir, save_freq="epoch", delete_checkpoint=False
        )
        callbacks.append(backup)
    if stopper is not None:
        callbacks.append(stopper)
    result = TrainingResult()
    try:
        model.fit(
            fit_input(batches),
            validation_data=None if val_data is None else fit_input(val_data),
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            shuffle=False,
        )
    except KeyboardInterrupt:
        result.interrupted = True
        guard.restore_good()
    if guard.diverged:
        result.diverged = True
        guard.restore_good()
        if checkpoint is not None:
            checkpoint.clear()
    keys = guard.epoch_logs[0].keys() if guard.epoch_logs else ("loss",)
    result.history = {key: [logs[key] for logs in guard.epoch_logs] for key in keys}
    result.epochs_run = len(guard.epoch_logs)
    result.resumed_at = guard.resumed_at or 0
    if stopper is not None:
        result.stopped_early = stopper.stopped_epoch > 0
        result.best_epoch = stopper.best_epoch
    return result
