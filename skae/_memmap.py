"""Memory-mapped input: keep the pages a pass reads from piling up.

The pages of a memory map that a process has read stay mapped into it, and
count in its resident memory, until it unmaps them: one pass over a 4 GB file
adds 4 GB. On Linux 6 a page fault on a file map maps the whole page-cache
folio (up to 2 MiB) and more around it, so even a batch of 256 rows read at
random maps hundreds of MB. :class:`Pages` releases a shared map
(``madvise(MADV_DONTNEED)``) as rows are read; the pages stay in the kernel's
page cache, so what is read again costs a minor fault, not a disk read.

No Keras here: scikit-learn-side validation (``_validation``) can use
:func:`column_range` without loading TensorFlow.
"""

from __future__ import annotations

import math
import mmap

import numpy as np
from scipy import sparse

#: Bytes of a memory map read between two releases of its mapped pages.
MAPPED_BUDGET = 256 * 2**20

#: Bytes one row read at random is counted as mapping. A page fault on a file
#: map maps the whole page-cache folio, up to 2 MiB on Linux 6 (ext4, xfs),
#: and measured more: parts of 128 random rows (2 MiB each, one budget) left
#: about 400 MB of the file mapped at the peak of an epoch on a 4 GB memmap,
#: about 3 MB a row; counted as 4 MiB, parts of 64 rows, the peak fell to the
#: budget that in-order passes keep (``benchmarks/results/memmap_4gb.json``).
MAPPED_PER_ROW = 4 * 2**20

#: Rows per chunk of :func:`column_range`.
RANGE_CHUNK = 4096


def _shared_mapping(X):
    """Return the ``mmap.mmap`` under ``X`` if it maps a file shared, else None.

    ``X`` may be a view of a ``np.memmap`` (scikit-learn's validation returns
    one). A copy-on-write map (``mode="c"``) is never released: that would
    drop the changes made to it.
    """
    if not hasattr(mmap.mmap, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    base = X
    while base is not None:
        if isinstance(base, np.memmap) and base.mode == "c":
            return None
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None)
    return None


def _streamed_mapping(X):
    """Return the shared map under ``X`` if larger than :data:`MAPPED_BUDGET`."""
    mapping = _shared_mapping(X)
    return mapping if mapping is not None and len(mapping) > MAPPED_BUDGET else None


def streams(X) -> bool:
    """Whether skae reads ``X`` releasing its pages (see :class:`Pages`)."""
    return _streamed_mapping(X) is not None


class Pages:
    """Releases the mapped pages of a memory-mapped ``X`` as rows are read.

    Call :meth:`read` with the rows read; every ``MAPPED_BUDGET`` bytes (a
    row read at random counts as ``MAPPED_PER_ROW`` bytes; rows read in
    order count the stretch of the file they span, gaps included) the whole
    map is released (``madvise(MADV_DONTNEED)``). The pages stay in the
    kernel's page cache, so rows read again are found there. Does nothing
    for an ``X`` that is not a shared memory map, or one no larger than the
    budget.

    Shuffled batches of 256 rows are read in parts of 64 rows
    (:meth:`take`), with a release after each: a release cost about 0.6 ms
    (measured on a 1 GB uint8 memmap in the page cache, 2 CPUs), and an
    epoch on a 4 GB memmap took no longer read in parts (184-187 s, against
    204 s). Without releases, an epoch maps the whole file.
    """

    def __init__(self, X, *, random_rows):
        self.mapping = _streamed_mapping(X)  # None when all of it fits the budget
        self.row_bytes = X.dtype.itemsize * math.prod(X.shape[1:])
        self.random = random_rows
        self.row_cost = self.row_bytes
        if random_rows:
            self.row_cost = max(self.row_cost, MAPPED_PER_ROW)
        self.since = 0

    def take(self, X, rows):
        """Return ``X[rows]``, counted as read, keeping to the budget within it.

        ``rows`` are read in parts that each map at most ``MAPPED_BUDGET``
        bytes, counted (and released) one part at a time. Read whole, a
        batch of 256 rows at random mapped several budgets before its
        release: one epoch on a 4 GB memory map raised peak resident memory
        by 630 MB; in parts, by 397 MB (``benchmarks/perf_memmap.py``).
        """
        part = max(1, MAPPED_BUDGET // self.row_cost)
        if self.mapping is None or len(rows) <= part:
            out = X[rows]
            self.read(len(rows), span=_span(rows))
            return out
        out = np.empty((len(rows), *X.shape[1:]), dtype=X.dtype)
        for start in range(0, len(rows), part):
            some = rows[start : start + part]
            out[start : start + len(some)] = X[some]
            self.read(len(some), span=_span(some))
        return out

    def read(self, n_rows, span=None):
        """Count ``n_rows`` rows as read; release the map when over budget.

        ``span``, when given, is the number of rows from the first row read
        to the last: rows read in order map that whole stretch (a sorted
        subset, such as the validation rows, maps the gaps between them
        too), and rows read at random map no more than it.
        """
        if self.mapping is None:
            return
        cost = n_rows * self.row_cost
        if span is not None:
            extent = span * self.row_bytes
            cost = min(cost, extent) if self.random else max(cost, extent)
        self.since += cost
        if self.since >= MAPPED_BUDGET:
            self.since = 0
            try:
                self.mapping.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):  # closed, or refused: keep going
                self.mapping = None


def _span(rows):
    """Return the number of rows from the first of ``rows`` to the last."""
    return int(rows.max() - rows.min()) + 1 if len(rows) else 0


def column_range(X):
    """Per-column minimum and maximum of a dense or sparse ``X``, without a copy.

    Both are float64 whatever the dtype of ``X``, so that arithmetic on them
    (a range's width) cannot wrap around as it would in an integer dtype.
    A memory-mapped ``X`` is read in chunks of rows whose pages are released
    as the pass goes, so that the pass does not map the whole file, and
    what stays mapped at the end is released too.
    """
    pages = Pages(X, random_rows=False) if isinstance(X, np.ndarray) else None
    if pages is None or pages.mapping is None or X.ndim != 2 or not len(X):
        low, high = X.min(axis=0), X.max(axis=0)
        if sparse.issparse(low):
            low, high = low.toarray(), high.toarray()
    else:
        low, high = X[0].copy(), X[0].copy()
        for start in range(0, len(X), RANGE_CHUNK):
            chunk = X[start : start + RANGE_CHUNK]
            np.minimum(low, chunk.min(axis=0), out=low)
            np.maximum(high, chunk.max(axis=0), out=high)
            pages.read(len(chunk))
    if isinstance(X, np.ndarray):
        release(X)
    return np.ravel(low).astype(np.float64), np.ravel(high).astype(np.float64)


def float64_blocks(X, rows, weights, block_rows=RANGE_CHUNK):
    """Yield ``(X[rows_block], weights_block)`` as dense float64, block by block.

    ``rows`` (sorted, for a memory map) are read ``block_rows`` at a time; a
    sparse block is densified, one block at a time. The mapped pages of a
    memory-mapped ``X`` are released as the pass goes, and at its end.
    """
    pages = Pages(X, random_rows=False) if isinstance(X, np.ndarray) else None
    for start in range(0, len(rows), block_rows):
        chunk = rows[start : start + block_rows]
        block = X[chunk] if pages is None else pages.take(X, chunk)
        block = block.toarray() if sparse.issparse(block) else block
        yield np.asarray(block, dtype=np.float64), weights[start : start + block_rows]
    if isinstance(X, np.ndarray):
        release(X)


def release(X):
    """Release now what a shared memory map under ``X`` has mapped."""
    mapping = _shared_mapping(X)
    if mapping is not None:
        try:
            mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass
