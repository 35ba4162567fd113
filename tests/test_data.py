import numpy as np
from numpy.testing import assert_array_equal

from skae._data import Batches, map_batches
from skae._noise import corrupt


def masking(x, rng):
    return corrupt(x, "masking", 0.5, rng)


def test_batches_cover_every_row_once_and_reshuffle_each_epoch():
    X = np.arange(20, dtype=np.uint8).reshape(10, 2)
    b = Batches(X, np.arange(10), 4, dtype="float32", seed=0)
    assert len(b) == 3

    def epoch():
        return np.concatenate([b[i][0] for i in range(len(b))])

    first = epoch()
    assert first.dtype == np.float32
    assert sorted(first[:, 0]) == list(range(0, 20, 2))
    b.set_epoch(1)
    second = epoch()
    assert sorted(second[:, 0]) == sorted(first[:, 0])
    assert not np.array_equal(first, second)


def test_batches_in_order_without_seed():
    X = np.arange(10.0).reshape(5, 2)
    b = Batches(X, np.array([1, 3, 4]), 2, dtype="float64")
    assert_array_equal(b[0][0], X[[1, 3]])
    assert_array_equal(b[1][1], X[[4]])


def test_corruption_touches_inputs_only_fresh_each_epoch():
    X = np.ones((8, 50), dtype=np.float32)
    b = Batches(X, np.arange(8), 8, dtype="float32", seed=0, corrupt=masking)
    x_in, target = b[0]
    assert_array_equal(target, X)
    assert (x_in == 0).any() and (x_in == 1).any()
    b.set_epoch(1)
    assert not np.array_equal(b[0][0], x_in)


def test_validation_corruption_is_fixed_across_epochs():
    X = np.ones((8, 50), dtype=np.float32)
    b = Batches(
        X, np.arange(8), 8, dtype="float32", seed=0, shuffle=False, corrupt=masking
    )
    x_in = b[0][0]
    b.set_epoch(1)
    assert_array_equal(b[0][0], x_in)


def test_sample_weights_follow_their_rows():
    X = np.arange(12.0).reshape(6, 2)
    w = np.arange(6.0)
    b = Batches(X, np.arange(6), 6, dtype="float32", sample_weight=w, seed=1)
    x, _, sw = b[0]
    assert_array_equal(sw, x[:, 0] / 2)


def test_map_batches_converts_per_batch_and_keeps_order():
    X = np.arange(30, dtype=np.int64).reshape(10, 3)
    seen = []

    def fn(x):
        seen.append((x.dtype, len(x)))
        return x[:, :1] * 2

    out = map_batches(fn, X, 1, in_dtype="float32", batch_size=4)
    assert_array_equal(out[:, 0], X[:, 0] * 2)
    assert out.dtype == np.float32
    assert seen == [(np.float32, 4), (np.float32, 4), (np.float32, 2)]


def test_sparse_batches_are_densified_one_at_a_time():
    from scipy import sparse

    X = sparse.random(20, 6, density=0.3, format="csr", random_state=0)
    b = Batches(X, np.arange(20), 8, dtype="float32")
    x, target = b[1]
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    assert_array_equal(x, X[8:16].toarray().astype(np.float32))
    out = map_batches(lambda x: x[:, :2], X, 2, in_dtype="float64", batch_size=7)
    assert_array_equal(out, X.toarray()[:, :2].astype(np.float32))
