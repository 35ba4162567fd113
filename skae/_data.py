"""Feeding data to Keras models one batch at a time.

Input arrays are converted to the model's dtype one batch at a time, so a
float64, integer, memory-mapped or sparse ``X`` is never copied whole. Batch
order is drawn from a seed owned by the estimator, never from a global random
state.

The pages of a memory-mapped ``X`` that batches read are released as they go
(``_memmap.Pages``), so that an epoch over a file larger than memory does not
keep it all mapped.
"""

from __future__ import annotations

import math
from functools import partial

import keras
import numpy as np
from scipy import sparse

from ._memmap import Pages
from ._models import OUTPUT_DTYPE
from ._noise import corrupt
from ._random import (
    NOISE_STREAM,
    SPLIT_STREAM,
    VALIDATION_NOISE_STREAM,
    epoch_rng,
)

#: Rows per call when a fitted model is applied to data (transform, score).
INFERENCE_BATCH = 4096


def as_dtype(x, dtype) -> np.ndarray:
    """Return ``x`` as a dense C-contiguous array of ``dtype``.

    No copy when it already is one; a sparse batch is densified here, one
    batch at a time.
    """
    if sparse.issparse(x):
        x = x.toarray()
    return np.ascontiguousarray(x, dtype=dtype)


class Batches(keras.utils.PyDataset):
    """Mini-batches ``(inputs, targets[, sample_weight])`` over rows of ``X``.

    Targets are the clean rows (or ``targets(rows)``); inputs are the same
    rows, corrupted when a ``corrupt`` function is given.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Any 2-D array indexable by rows (ndarray or memmap), in any numeric dtype.
    indices : ndarray of int
        The rows of ``X`` that make up this dataset.
    batch_size : int
        Rows per batch; the last batch may be smaller.
    sample_weight : ndarray of shape (n_samples,) or None
        Per-row weights, indexed like ``X``.
    dtype : str
        The dtype the model computes in; batches are converted to it.
    seed : int or None
        Seeds the shuffling and the corruption. When None, rows are served in
        order and ``corrupt`` must be None.
    shuffle : bool
        Shuffle the rows anew at each epoch, and draw fresh corruption each
        epoch. When False (a validation set), rows keep their order and the
        corruption is the same at every epoch.
    corrupt : callable or None
        ``corrupt(x, rng=rng) -> x_noisy`` applied to the inputs only; the
        targets stay clean (denoising).
    stream : int
        Which random stream the corruption draws from, so that a training and a
        validation set with the same seed get independent noise.
    first_epoch : int
        The epoch of the model's life the rows are first served for; see
        :meth:`set_epoch`.
    targets : callable or None
        ``targets(x) -> y`` makes the training targets of a model with
        several outputs (the variational autoencoder) from the clean rows;
        None uses the rows themselves.
    """

    def __init__(
        self,
        X,
        indices,
        batch_size,
        *,
        dtype,
        sample_weight=None,
        seed=None,
        shuffle=True,
        corrupt=None,
        stream=NOISE_STREAM,
        first_epoch=0,
        targets=None,
    ):
        super().__init__()
        self.targets = targets
        self.dtype = dtype
        self.shuffle = shuffle
        self.corrupt = corrupt
        self.stream = stream
        self.X = X
        self.indices = np.asarray(indices)
        self.batch_size = batch_size
        self.sample_weight = sample_weight
        self.seed = seed
        self._pages = None  # set up by the first batch: see _take
        # The epoch and its row order, replaced together: batches may be built
        # on other threads (a tf.data pipeline) while ``set_epoch`` runs.
        self._state = (first_epoch, self._draw_order(first_epoch))

    @property
    def epoch(self):
        """The epoch whose rows (and noise) are served."""
        return self._state[0]

    def _draw_order(self, epoch):
        if self.seed is None or not self.shuffle:
            return self.indices
        return epoch_rng(self.seed, epoch).permutation(self.indices)

    def __len__(self):
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, i):
        epoch, order = self._state
        rows = order[i * self.batch_size : (i + 1) * self.batch_size]
        x = as_dtype(self._take(rows), self.dtype)
        x_in = x
        if self.corrupt is not None:
            rng = epoch_rng(self.seed, epoch, self.stream, batch=i)
            x_in = self.corrupt(x, rng=rng)
        y = x if self.targets is None else self.targets(x)
        if self.sample_weight is None:
            return x_in, y
        return x_in, y, as_dtype(self.sample_weight[rows], self.dtype)

    def _take(self, rows):
        """Read ``X[rows]``; from a memory map, releasing its pages as it goes.

        Building the batches reads nothing of ``X``; the first batch sets up
        the page accounting (``_memmap.Pages``). Batches built on several
        threads at once may each set one up: the spare is dropped, and pages
        are still released.
        """
        if not isinstance(self.X, np.ndarray):
            return self.X[rows]
        if self._pages is None:
            self._pages = Pages(self.X, random_rows=self.shuffle)
        return self._pages.take(self.X, rows)

    def set_epoch(self, epoch):
        """Serve the rows of ``epoch`` (counted over the model's whole life).

        Training calls this at the start of every epoch, so each epoch of a
        model's life, across ``partial_fit`` calls and resumed fits, has its
        own order and noise. A validation set (``shuffle=False``) keeps its
        order and its noise.
        """
        if self.shuffle and epoch != self.epoch:
            self._state = (epoch, self._draw_order(epoch))


def same_places(flat) -> list[int]:
    """For each place of ``flat``, the first place that holds the same object.

    A batch that holds one array twice (the clean rows as input and target)
    is sent to TensorFlow with that array once.
    """
    return [next(k for k in range(j + 1) if flat[k] is a) for j, a in enumerate(flat)]


def map_batches(
    fn, X, n_outputs, *, in_dtype, out_dtype=OUTPUT_DTYPE, batch_size=INFERENCE_BATCH
) -> np.ndarray:
    """Apply ``fn`` to row batches of ``X`` converted to ``in_dtype``; gather.

    Only one converted batch is alive at a time besides the output (and, for
    a memory-mapped ``X``, at most ``MAPPED_BUDGET`` bytes of mapped pages).
    """
    n_samples = X.shape[0]
    out = np.empty((n_samples, n_outputs), dtype=out_dtype)
    pages = Pages(X, random_rows=False) if isinstance(X, np.ndarray) else None
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        out[start:stop] = fn(as_dtype(X[start:stop], in_dtype))
        if pages is not None:
            pages.read(stop - start)
    return out


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
    order = epoch_rng(seed, 0, SPLIT_STREAM).permutation(n_samples)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def corruption(config, dtype):
    """Return the batch corruption function of ``config.noise``, or None.

    Salt and pepper sets values to their feature's extremes in the training
    data, ``config.noise_range`` (recorded by validation: no second pass).
    """
    if config.noise is None:
        return None
    low = high = None
    if config.noise == "salt_and_pepper":
        low, high = (np.asarray(v, dtype=dtype) for v in config.noise_range)
    return partial(
        corrupt, kind=config.noise, level=config.noise_level, low=low, high=high,
        clip=config.noise_clip,
    )  # fmt: skip


def training_rows(n_samples, config, seed):
    """Return ``(train_idx, val_idx)``: the rows a session trains and validates on.

    ``val_idx`` is None without early stopping. The split depends only on
    ``n_samples``, ``config`` and ``seed``, so the PCA an ``init="pca"``
    model starts from sees exactly the rows training will.
    """
    if not config.early_stopping:
        return np.arange(n_samples), None
    return split_validation(n_samples, config.validation_fraction, seed)


def training_batches(X, sample_weight, config, *, dtype, seed, first_epoch):
    """Return the training and validation :class:`Batches` of one session.

    ``config`` (a ``_training.TrainingConfig``) gives the batch size, the
    noise, the targets and, with early stopping, the share of rows held out
    (their batches are None without it). Sample weights are scaled to mean 1
    over the training rows, so that the loss is the weighted mean: the same
    as training on rows repeated ``sample_weight`` times.
    """
    noisy = corruption(config, dtype)
    train_idx, val_idx = training_rows(X.shape[0], config, seed)
    val_batches = None
    common = dict(
        dtype=dtype, sample_weight=sample_weight, seed=seed, corrupt=noisy,
        targets=config.targets,
    )  # fmt: skip
    if val_idx is not None:
        val_batches = Batches(
            X, val_idx, config.batch_size, shuffle=False,
            stream=VALIDATION_NOISE_STREAM, **common,
        )  # fmt: skip
    if sample_weight is not None:
        total = float(np.sum(sample_weight[train_idx], dtype=np.float64))
        if total <= 0:
            raise ValueError(
                "sample_weight sums to zero over the training samples; at "
                "least one sample needs a positive weight."
            )
        common["sample_weight"] = sample_weight * (len(train_idx) / total)
    batches = Batches(
        X, train_idx, min(config.batch_size, len(train_idx)),
        first_epoch=first_epoch, **common,
    )  # fmt: skip
    return batches, val_batches
