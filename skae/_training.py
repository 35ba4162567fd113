"""The one training routine, and the whole of a training session.

Both ``fit`` and ``partial_fit`` train through :func:`train`; nothing else in
skae trains a model. Its epochs run in skae's compiled loop on TensorFlow
(``_pipeline.run_epochs``) or in Keras's ``Model.fit``, which is called only
here; the two train bitwise the same model. A call is one session: it takes the
checkpoint's lock and resumes or starts it, trains a copy under a
``distribution`` and takes the result back, keeps the state of the last good
epoch so that a diverging loss, a ``KeyboardInterrupt`` or a killed process
(with a checkpoint) never costs a trained model, and clears the checkpoint at
the end. What the estimator asks of training is a frozen
:class:`TrainingConfig`, built once per call.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import keras

from ._data import training_batches
from ._memmap import streams
from ._models import input_dtype
from ._pipeline import compiled_loop_applies, evaluate, fit_input, run_epochs
from ._state import (
    Compilation,
    ModelState,
    model_from_plain,
    model_to_plain,
    set_seeds,
)

#: ``jit_compile="auto"`` on TensorFlow: XLA when a network has at least
#: :data:`XLA_MIN_WEIGHTS` trainable weights and the time its steps are
#: expected to save exceeds :data:`XLA_COMPILE_SECONDS`. Measured on two CPU
#: cores at batch 256, per step without and with XLA: 1.9 and 2.4 ms at
#: 112,000 weights, 2.7 and 3.1 ms at 190,000 (slower), 4.8 and 4.0 ms at
#: 306,000, 8.5 and 6.1 ms at 528,000: about :data:`XLA_SAVING_PER_WEIGHT`
#: seconds per step and per weight above :data:`XLA_NO_GAIN_WEIGHTS`.
#: Compiling the training and validation steps took 1-1.5 s per model.
#: A memory map that skae streams (``_memmap.streams``) is not compiled by
#: "auto": one epoch on a 4 GB uint8 memmap raised peak RSS by 724-746 MB
#: through XLA (anonymous +271-300 MB) against 601 MB (+135 MB) without.
XLA_MIN_WEIGHTS = 300_000
XLA_NO_GAIN_WEIGHTS = 200_000
XLA_SAVING_PER_WEIGHT = 7.5e-9
XLA_COMPILE_SECONDS = 1.5


def use_xla(setting, model, planned_steps, *, distributed=False, streamed=False):
    """Whether a session trains through XLA; None leaves it to Keras.

    Parameters
    ----------
    setting : bool or "auto"
        The estimator's ``jit_compile`` (``"auto"`` already False for your
        own networks).
    model : keras.Model
    planned_steps : int
        Training steps the session plans: epochs times batches per epoch.
    distributed : bool
        Whether the session trains under a ``distribution``.
    streamed : bool
        Whether the data is a memory map read with bounded memory.

    Returns
    -------
    xla : bool or None
    """
    if setting != "auto":
        return bool(setting)
    if keras.backend.backend() != "tensorflow":
        return None  # Keras's own "auto": XLA on JAX, not on PyTorch
    weights = sum(math.prod(v.shape) for v in model.trainable_weights)
    saving = planned_steps * (weights - XLA_NO_GAIN_WEIGHTS) * XLA_SAVING_PER_WEIGHT
    return (
        not (distributed or streamed)
        and weights >= XLA_MIN_WEIGHTS
        and saving >= XLA_COMPILE_SECONDS
    )


@dataclass(frozen=True)
class TrainingConfig:
    """What one ``fit`` or ``partial_fit`` asks of training.

    Parameters
    ----------
    epochs, batch_size : int
        Passes over the data and rows per gradient step.
    compilation : _state.Compilation
        How the model is compiled (for the copy a ``distribution`` trains).
    early_stopping : bool
        Hold out ``validation_fraction`` of the rows, stop after
        ``n_iter_no_change`` epochs without an improvement of the validation
        loss by more than ``tol``, and put back the best state: the model as
        the session started (epoch 0) when no epoch beats it.
    noise, noise_level, noise_clip
        Corruption of the training inputs (see ``_noise.corrupt``).
    noise_range : tuple (low, high) of ndarray or None
        Per-feature extremes of the training data, for salt and pepper.
    callbacks : tuple of keras.callbacks.Callback
        Extra Keras callbacks.
    verbose : int
        Keras's verbosity.
    targets : callable or None
        ``targets(x) -> y`` builds the targets of a multi-output model from a
        clean batch; None trains to reconstruct ``x``.
    distribution : tf.distribute.Strategy, keras Distribution or None
        Train a copy of the model under ``distribution.scope()``.
    checkpoint_dir : path-like or None
        Save the state at every epoch's end and resume from a saved one.
    settings : dict
        The estimator's settings, for the checkpoint's fingerprint.
    jit_compile : bool or "auto"
        Train through XLA (see :func:`use_xla`).
    """

    epochs: int
    batch_size: int
    compilation: Compilation
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int = 10
    tol: float = 0.0
    noise: str | None = None
    noise_level: float = 0.0
    noise_clip: tuple | None = None
    noise_range: tuple | None = None
    callbacks: tuple = ()
    verbose: int = 0
    targets: object = None
    distribution: object = None
    checkpoint_dir: object = None
    settings: dict = field(default_factory=dict)
    jit_compile: bool | str = False


@dataclass
class TrainingResult:
    """What one call to :func:`train` did, as plain Python data.

    ``history`` and ``epochs_run`` count the good epochs of this call, those
    of a resumed checkpoint included; ``diverged`` and ``interrupted`` say why
    training stopped before ``epochs`` (the model then has the state of the
    last good epoch). ``seed`` is the seed the model was trained with: a
    resumed checkpoint's. With early stopping, ``best_loss`` is the
    validation loss of the state kept (the starting state's, when no epoch
    beat it).
    """

    seed: int
    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    stopped_early: bool = False
    best_loss: float | None = None
    diverged: bool = False
    interrupted: bool = False


class _Guard(keras.callbacks.Callback):
    """Epoch bookkeeping around Keras's loop.

    Sets the epoch of the training batches (shuffling and noise), keeps the
    logs and the state of every epoch whose loss, weights and optimizer
    state are all finite, saves them to the checkpoint, and stops training at
    the end of an epoch where one of them is NaN or infinite.
    """

    def __init__(self, batches, first_epoch, checkpoint=None):
        super().__init__()
        self.batches = batches
        self.first_epoch = first_epoch
        self.checkpoint = checkpoint
        self.epoch_logs = [] if checkpoint is None else checkpoint.history()
        self.started = False
        self.diverged = False
        self.good = None

    def on_epoch_begin(self, epoch, logs=None):
        if not self.started:
            # After every on_train_begin: a resumed checkpoint is loaded.
            self.started = True
            self.epoch_logs = self.epoch_logs[:epoch]
            if epoch > 0 and self.checkpoint is not None:
                set_seeds(self.model, self.checkpoint.random_states())
            self.good = ModelState.capture(self.model)
        self.batches.set_epoch(self.first_epoch + epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        state = ModelState.capture(self.model)
        # A finite loss does not make finite weights: an overflowing gradient
        # can turn weights NaN while the epoch's mean loss stays finite.
        if not (all(math.isfinite(v) for v in logs.values()) and state.is_finite()):
            self.diverged = True
            self.model.stop_training = True
            return
        self.epoch_logs.append(logs)
        self.good = state
        if self.checkpoint is not None:
            self.checkpoint.save_epoch(self.epoch_logs, list(state.seeds))

    def restore_good(self):
        """Put back the state of the last good epoch."""
        if self.good is not None:
            self.good.restore(self.model)


class _EarlyStopping(keras.callbacks.Callback):
    """Keep the state with the best validation loss, the starting one included.

    Keras's ``EarlyStopping`` can only restore an epoch it has seen end; the
    model a session starts from (the PCA of an ``init="pca"`` model, or the
    model a warm start goes on from) is often the best there is on small
    data, and must be kept when no epoch improves on it by more than ``tol``.

    Parameters
    ----------
    patience : int
        Epochs without an improvement before training stops.
    tol : float
        Smallest decrease of the validation loss that counts.
    initial_loss : float
        Validation loss of the starting state. Dropped when the session
        resumes a checkpoint (its starting state is then not the model's).
    """

    def __init__(self, patience, tol, initial_loss):
        super().__init__()
        self.patience, self.tol = patience, tol
        self.best = initial_loss
        self.best_state = None
        self.wait = 0
        self.stopped = False
        self.started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.started:
            self.started = True
            if epoch > 0:  # resumed from a checkpoint
                self.best = math.inf
            else:
                self.best_state = ModelState.capture(self.model)

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get("val_loss")
        if current is None or not math.isfinite(current):
            return
        if current < self.best - self.tol:
            state = ModelState.capture(self.model)
            if state.is_finite():
                self.best, self.best_state = current, state
                self.wait = 0
                return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped = True
            self.model.stop_training = True

    def restore_best(self):
        """Put back the best state seen."""
        if self.best_state is not None:
            self.best_state.restore(self.model)


def _checkpoint(config, X, *, seed, first_epoch, resume):
    """Return the context of the checkpoint of this call (None without one)."""
    if config.checkpoint_dir is None:
        return contextlib.nullcontext()
    from ._checkpoint import Checkpoint

    return Checkpoint.for_fit(
        config.checkpoint_dir,
        config.settings,
        X,
        first_epoch=first_epoch,
        seed=seed if resume else None,
    )


def _distributed_copy(model, config):
    """Return ``model`` copied (weights, optimizer state) under the distribution.

    The distribution mirrors or shards the copy's variables; the estimator's
    own model stays a plain model that predicts, pickles and loads anywhere.
    """
    plain = model_to_plain(model)
    with config.distribution.scope():
        return model_from_plain(plain, config.compilation)


def train(model, X, config, *, seed, first_epoch=0, sample_weight=None, resume=False):
    """Train the compiled autoencoder ``model`` to reconstruct ``X``.

    Parameters
    ----------
    model : keras.Model
        A compiled model, trained in place.
    X : array-like of shape (n_samples, n_features)
        Training data in any numeric dtype; converted one batch at a time.
    config : TrainingConfig
        What to train for, and how.
    seed : int
        Seeds the shuffling, the validation split and the noise. A new
        checkpoint records it; a resumed one replaces it with its own.
    first_epoch : int
        Epochs this model has already been trained for (shuffling differs).
    sample_weight : ndarray of shape (n_samples,) or None
        Per-sample weights of the loss.
    resume : bool
        Whether ``model`` goes on from earlier calls (a warm start): its
        checkpoint, if any, must have been started with ``seed``.

    Returns
    -------
    result : TrainingResult
    """
    with _checkpoint(
        config, X, seed=seed, first_epoch=first_epoch, resume=resume
    ) as checkpoint:
        if checkpoint is not None:
            seed = checkpoint.resume_or_start(seed)
        trained = model
        if config.distribution is not None:
            trained = _distributed_copy(model, config)
        result = _fit(trained, X, config, seed, first_epoch, sample_weight, checkpoint)
        if trained is not model:
            ModelState.capture(trained).restore(model)
        if checkpoint is not None and not result.interrupted:
            checkpoint.clear()
    return result


def _fit(model, X, config, seed, first_epoch, sample_weight, checkpoint):
    """Run the epochs of one session over ``X``.

    On TensorFlow skae's compiled loop runs them (``_pipeline.run_epochs``),
    unless the session needs Keras's ``Model.fit``
    (``_pipeline.compiled_loop_applies``); both train the same model.
    """
    batches, val_batches = training_batches(
        X,
        sample_weight,
        config,
        dtype=input_dtype(model),
        seed=seed,
        first_epoch=first_epoch,
    )
    xla = use_xla(
        config.jit_compile,
        model,
        len(batches) * config.epochs,
        distributed=config.distribution is not None,
        streamed=streams(X),
    )
    if xla is not None and model.jit_compile != xla:
        model.jit_compile = xla  # Keras refuses it for layers that cannot
        model.train_function = model.test_function = None
    guard = _Guard(batches, first_epoch, checkpoint)
    # The guard runs first at every epoch's end, so a diverged epoch stops
    # before it reaches the backup or early stopping.
    callbacks = [guard, *config.callbacks]
    if checkpoint is not None:
        # skae removes the backup itself, file by file (never Keras's rmtree).
        callbacks.append(
            keras.callbacks.BackupAndRestore(
                checkpoint.keras_dir, save_freq="epoch", delete_checkpoint=False
            )
        )
    compiled = compiled_loop_applies(config, callbacks)
    stopper = None
    if val_batches is not None:
        if compiled:
            initial = evaluate(model, val_batches)
        else:
            initial = model.evaluate(
                fit_input(val_batches), verbose=0, return_dict=True
            )
        stopper = _EarlyStopping(config.n_iter_no_change, config.tol, initial["loss"])
        callbacks.append(stopper)
    result = TrainingResult(seed)
    try:
        if compiled:
            run_epochs(
                model, batches, val_batches, epochs=config.epochs, callbacks=callbacks
            )
        else:
            model.fit(
                fit_input(batches),
                validation_data=None if val_batches is None else fit_input(val_batches),
                epochs=config.epochs,
                verbose=config.verbose,
                callbacks=callbacks,
                shuffle=False,
            )
    except KeyboardInterrupt:
        result.interrupted = True
        guard.restore_good()
    if guard.diverged:
        result.diverged = True
        guard.restore_good()
    elif stopper is not None and not result.interrupted:
        stopper.restore_best()
    keys = guard.epoch_logs[0].keys() if guard.epoch_logs else ("loss",)
    result.history = {key: [logs[key] for logs in guard.epoch_logs] for key in keys}
    result.epochs_run = len(guard.epoch_logs)
    if stopper is not None:
        result.stopped_early = stopper.stopped
        if math.isfinite(stopper.best):
            result.best_loss = float(stopper.best)
    return result
