import mmap

import numpy as np
from numpy.testing import assert_array_equal
from scipy import sparse

from skae import _memmap
from skae._data import Batches


class Released:
    """Stands in for an mmap: counts the releases."""

    def __init__(self):
        self.calls = []

    def madvise(self, option):
        self.calls.append(option)


def memmap(tmp_path, mode, shape=(64, 32)):
    path = tmp_path / f"X-{mode}.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape).flush()
    return np.load(path, mmap_mode=mode)


def test_pages_of_a_large_memmap_are_released_as_rows_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    X = memmap(tmp_path, "r")
    # scikit-learn's validation hands over a view of the memmap.
    pages = _memmap.Pages(np.asarray(X), random_rows=False)
    assert pages.mapping is not None and pages.row_cost == 32
    pages.mapping = released = Released()
    pages.read(31)
    assert released.calls == []
    pages.read(1)
    assert released.calls == [mmap.MADV_DONTNEED]
    # Rows read at random count the folio a page fault maps.
    assert _memmap.Pages(X, random_rows=True).row_cost == _memmap.MAPPED_PER_ROW


def test_pages_count_the_stretch_of_file_rows_span(tmp_path, monkeypatch):
    # Validation rows are a sorted subset: reading them maps the gaps too.
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    X = memmap(tmp_path, "r")
    in_order = _memmap.Pages(X, random_rows=False)
    in_order.mapping = released = Released()
    in_order.read(2, span=31)
    assert released.calls == []
    in_order.read(1, span=1)
    assert released.calls == [mmap.MADV_DONTNEED]
    # Rows at random map at most the stretch they span.
    at_random = _memmap.Pages(X, random_rows=True)
    at_random.mapping = released = Released()
    at_random.read(3, span=3)
    assert released.calls == []


def test_validation_batches_of_a_memmap_release_its_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    X = memmap(tmp_path, "r")
    # Every fourth row, in order, in batches of 2 rows: each batch spans 5
    # rows of 32 bytes, so the map is released every 7th batch.
    b = Batches(X, np.arange(0, 64, 4), 2, dtype="float32", shuffle=False)
    b[0]
    b._pages.mapping = released = Released()
    for i in range(1, 8):
        b[i]
    assert released.calls == [mmap.MADV_DONTNEED]


def test_pages_leave_arrays_copy_on_write_and_small_maps_alone(tmp_path, monkeypatch):
    assert _memmap.Pages(np.ones((4, 2)), random_rows=True).mapping is None
    assert _memmap.Pages(memmap(tmp_path, "r"), random_rows=True).mapping is None
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    assert _memmap.Pages(memmap(tmp_path, "c"), random_rows=True).mapping is None
    assert _memmap.Pages(memmap(tmp_path, "r+"), random_rows=True).mapping is not None


def test_what_streams_is_a_shared_map_above_the_budget(tmp_path, monkeypatch):
    assert not _memmap.streams(np.ones((4, 2)))
    assert not _memmap.streams(memmap(tmp_path, "r"))  # 2 kB: below the budget
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    assert _memmap.streams(np.asarray(memmap(tmp_path, "r")))
    assert not _memmap.streams(memmap(tmp_path, "c"))


def test_batches_of_a_released_memmap_are_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    path = tmp_path / "X.npy"
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(200, 8))
    m[:] = np.arange(1600).reshape(200, 8) % 251
    m.flush()
    X = np.load(path, mmap_mode="r")
    b = Batches(np.asarray(X), np.arange(200), 7, dtype="float32", seed=0)
    ref = Batches(np.array(X), np.arange(200), 7, dtype="float32", seed=0)
    for i in range(len(b)):
        assert_array_equal(b[i][0], ref[i][0])
    assert b._pages.mapping is not None  # set up by the first batch


def test_column_range_of_a_memmap_reads_in_released_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    monkeypatch.setattr(_memmap, "RANGE_CHUNK", 7)
    path = tmp_path / "X.npy"
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(300, 6))
    m[:] = np.random.default_rng(0).integers(0, 256, size=m.shape)
    m.flush()
    X = np.asarray(np.load(path, mmap_mode="r"))
    low, high = _memmap.column_range(X)
    assert low.dtype == np.float64  # whatever the dtype of X: no wrap-around
    assert_array_equal(low, np.array(X).min(axis=0))
    assert_array_equal(high, np.array(X).max(axis=0))
    _memmap.release(X)  # and reading after a release still works
    assert_array_equal(_memmap.column_range(X)[1], high)


def test_column_range_of_arrays_and_sparse():
    X = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert_array_equal(np.stack(_memmap.column_range(X)), [[1, -2], [3, 0.5]])
    low, high = _memmap.column_range(sparse.csr_matrix(X))
    assert_array_equal(low, [1, -2])
    assert_array_equal(high, [3, 0.5])


def test_a_random_batch_is_read_in_parts_that_keep_to_the_budget(tmp_path, monkeypatch):
    # Rows at random count 64 bytes each here: a batch of 10 rows maps up to
    # 640 bytes, so with a 256-byte budget it is read 4 rows at a time, and
    # the map is released after each full part, not once after all 10 rows.
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 256)
    monkeypatch.setattr(_memmap, "MAPPED_PER_ROW", 64)
    X = memmap(tmp_path, "r+")
    X[:] = np.arange(X.size).reshape(X.shape) % 251
    rows = np.random.default_rng(0).permutation(64)[:10]
    pages = _memmap.Pages(X, random_rows=True)
    pages.mapping = released = Released()
    reads, read = [], pages.read

    def counted(n_rows, span=None):
        reads.append(n_rows)
        read(n_rows, span)

    monkeypatch.setattr(pages, "read", counted)
    assert_array_equal(pages.take(X, rows), np.array(X)[rows])
    assert reads == [4, 4, 2]
    assert released.calls == [mmap.MADV_DONTNEED] * 2
    # Without a map to release, one read.
    assert_array_equal(_memmap.Pages(np.array(X), random_rows=True).take(X, rows),
                       np.array(X)[rows])  # fmt: skip


def test_float64_blocks_of_a_memmap_count_their_span_and_release(tmp_path, monkeypatch):
    monkeypatch.setattr(_memmap, "MAPPED_BUDGET", 1024)
    X = memmap(tmp_path, "r+")
    X[:] = np.arange(X.size).reshape(X.shape) % 251
    released = Released()
    monkeypatch.setattr(_memmap, "_streamed_mapping", lambda X: released)
    # Every other row, 8 per block: each block spans 15 rows of 32 bytes
    # (480 bytes), so the map is released once, after the third block.
    rows = np.arange(0, 64, 2)
    blocks = list(_memmap.float64_blocks(X, rows, np.ones(len(rows)), block_rows=8))
    got = np.vstack([block for block, _ in blocks])
    assert got.dtype == np.float64
    assert_array_equal(got, np.array(X)[rows])
    assert released.calls == [mmap.MADV_DONTNEED]
