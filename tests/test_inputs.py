"""Bad input: every method works or raises a clear ValueError or TypeError.

One table of input kinds x methods, then property-based tests over shapes and
dtypes. In every case a fitted estimator is left exactly as it was: weights,
optimizer state, random-generator state and attributes. docs/bad_input.rst
shows the same table to users.
"""

import copy
import itertools
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays, from_dtype
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.exceptions import OutOfRangeWarning

N_FEATURES, N_COMPONENTS = 10, 3
TRAINING = ("fit", "partial_fit")
X_METHODS = ("fit", "partial_fit", "transform", "score")
KERAS_ATTRIBUTES = frozenset({"model_", "encoder_", "decoder_"})


def _X_train():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(60, N_FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    """The one fitted estimator of this module; warm_start makes fit train it."""
    ae = AutoencoderTransformer(
        n_components=N_COMPONENTS, hidden_layer_sizes=(8,), epochs=1,
        random_state=0, warm_start=True,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ae.fit(_X_train())


# -- the state that a failed call must leave alone ----------------------------


def _random_states(model):
    """Variables of the model's random generators (dropout seeds)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _state(est):
    model = est.model_
    return {
        "weights": model.get_weights(),
        "optimizer": [v.numpy() for v in model.optimizer.variables],
        "random": [v.numpy() for v in _random_states(model)],
        "attributes": dict(est.__dict__),
        "values": copy.deepcopy(
            {k: v for k, v in est.__dict__.items() if k not in KERAS_ATTRIBUTES}
        ),
    }


def _assert_same_value(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _assert_same_value(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_value(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where  # NaN equals NaN here


def assert_state_kept(est, before):
    """Assert that ``est`` is exactly as :func:`_state` recorded it."""
    after = _state(est)
    for key in ("weights", "optimizer", "random"):
        assert len(after[key]) == len(before[key]), key
        for a, b in zip(before[key], after[key], strict=True):
            assert_array_equal(a, b, strict=True, err_msg=key)
    assert after["attributes"].keys() == before["attributes"].keys()
    replaced = [
        k for k, v in before["attributes"].items() if after["attributes"][k] is not v
    ]
    assert not replaced, f"attributes replaced: {replaced}"
    _assert_same_value(before["values"], after["values"], "__dict__")


def _innermost_file(err):
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename


def assert_not_from_keras(err):
    """The error was raised before the data reached Keras or TensorFlow."""
    origin = _innermost_file(err)
    assert not re.search(r"[\\/](keras|tensorflow)[\\/]", origin), origin


def assert_clean_error(err):
    """A plain ValueError/TypeError raised by validation, not deep in Keras."""
    assert type(err) in (ValueError, TypeError), repr(err)
    assert_not_from_keras(err)


# -- the table -----------------------------------------------------------------

ACCEPTED = "accepted"


def _rows():
    """Five training rows: in range, so only the change under test matters."""
    return _X_train()[:5]


def _set(A, value, dtype=None):
    A = A.astype(A.dtype if dtype is None else dtype)
    A[0, 0] = value
    return A


def _with_strings(A):
    A = A.astype(object)
    A[0, 0] = "a"
    return A


def _frame_with(A, column):
    df = pd.DataFrame(A)  # integer column names: no feature-name warnings
    df[3] = column
    return df


NAN = (ValueError, r"X contains NaN")
INF = (ValueError, r"X contains infinity")
STR = (ValueError, r"could not convert string to float: 'a'")
BOOL = (TypeError, r"bool.*X\.astype\(np\.float32\)")
COMPLEX = (ValueError, r"Complex data not supported")
NO_ROWS = (ValueError, r"0 sample\(s\) \(shape=\(0, \d+\)\)")
NO_COLS = (ValueError, r"0 feature\(s\) \(shape=\(5, 0\)\)")
ONE_D = (ValueError, r"Expected 2D array, got 1D array")
THREE_D = (ValueError, r"Found array with dim 3")
SPARSE = (TypeError, r"Sparse data was passed.*\.toarray\(\)")
OVERFLOW = (
    ValueError,
    r"beyond which a float32 network overflows.*Scale.*precision='float64'",
)
WIDTH = (ValueError, r"X has 4 features, but AutoencoderTransformer is expecting 10")
CODE_WIDTH = (ValueError, r"X has 2 columns.*codes of width n_components=3")
FAR = (OutOfRangeWarning, r"far outside the range seen in training")

# Rows: (input kind, make(X, Z) -> the input, outcome). X is five float32
# training rows, Z their codes. An outcome is (exception, message regex),
# (warning class, regex) or ACCEPTED; an accepted input gives the same result,
# bitwise, as ``reference(X, Z)`` where one is given. Rows of _ROWS_X go to
# fit, partial_fit, transform and score; rows of _ROWS_Z to inverse_transform.
_ROWS_X = [
    ("NaN", lambda X, Z: _set(X, np.nan), NAN),
    ("+inf", lambda X, Z: _set(X, np.inf), INF),
    ("-inf", lambda X, Z: _set(X, -np.inf), INF),
    ("object array with a string", lambda X, Z: _with_strings(X), STR),
    ("str dtype", lambda X, Z: X.astype(str), (ValueError, "bytes/strings")),
    ("bool", lambda X, Z: X > 0.5, BOOL),
    ("bool DataFrame", lambda X, Z: pd.DataFrame(X > 0.5), BOOL),
    ("complex", lambda X, Z: X + 1j, COMPLEX),
    ("0 rows", lambda X, Z: X[:0], NO_ROWS),
    ("0 features", lambda X, Z: X[:, :0], NO_COLS),
    ("1-D", lambda X, Z: X[0], ONE_D),
    ("3-D", lambda X, Z: X[None], THREE_D),
    ("wrong feature count", lambda X, Z: X[:, :4], WIDTH),
    ("DataFrame with a str column", lambda X, Z: _frame_with(X, list("abcde")), STR),
    ("1e39 (float64)", lambda X, Z: _set(X, 1e39, np.float64), OVERFLOW),
    ("-1e39 (float64)", lambda X, Z: _set(X, -1e39, np.float64), OVERFLOW),
    ("1e39 (object)", lambda X, Z: _set(X, 1e39, object), OVERFLOW),
    ("sparse with NaN", lambda X, Z: sparse.csr_matrix(_set(X, np.nan)), NAN),
    ("sparse bool", lambda X, Z: sparse.csr_matrix(X > 0.5), BOOL),
    (
        "sparse 1e39",
        lambda X, Z: sparse.csr_matrix(_set(X, 1e39, np.float64)),
        OVERFLOW,
    ),
]
_ROWS_Z = [
    ("NaN codes", lambda X, Z: _set(Z, np.nan), (ValueError, r"contains NaN")),
    ("+inf codes", lambda X, Z: _set(Z, np.inf), (ValueError, r"contains infinity")),
    ("-inf codes", lambda X, Z: _set(Z, -np.inf), (ValueError, r"contains infinity")),
    ("wrong code width", lambda X, Z: Z[:, :2], CODE_WIDTH),
    ("1-D codes", lambda X, Z: Z[0], ONE_D),
    ("3-D codes", lambda X, Z: Z[None], THREE_D),
    ("codes with a string", lambda X, Z: _with_strings(Z), STR),
    ("str dtype codes", lambda X, Z: Z.astype(str), (ValueError, "bytes/strings")),
    ("complex codes", lambda X, Z: Z + 1j, COMPLEX),
    ("0 codes", lambda X, Z: Z[:0], NO_ROWS),
    ("0-width codes", lambda X, Z: Z[:, :0], NO_COLS),
    ("sparse codes", lambda X, Z: sparse.csr_matrix(Z), SPARSE),
]


def _int_and_float_frame(X, Z):
    return _frame_with(X, (X[:, 3] > 0.5).astype(np.int64))


def _table():
    cells = []
    for kind, make, outcome in _ROWS_X:
        for method in X_METHODS:
            cells.append(
                pytest.param(method, make, outcome, None, id=f"{kind}-{method}")
            )
    for kind, make, outcome in _ROWS_Z:
        method = "inverse_transform"
        cells.append(pytest.param(method, make, outcome, None, id=f"{kind}-{method}"))

    def same_as_X(X, Z):
        return X

    def same_as_Z(X, Z):
        return Z

    accepted = [
        ("object array of numbers", lambda X, Z: X.astype(object), same_as_X),
        (
            "DataFrame of int and float columns",
            _int_and_float_frame,
            lambda X, Z: _int_and_float_frame(X, Z).to_numpy(np.float32),
        ),
        ("list of lists", lambda X, Z: X.tolist(), same_as_X),
        ("scipy.sparse CSR matrix", lambda X, Z: sparse.csr_matrix(X), same_as_X),
        ("scipy.sparse CSC array", lambda X, Z: sparse.csc_array(X), same_as_X),
    ]
    for kind, make, reference in accepted:
        for method in X_METHODS:
            cells.append(
                pytest.param(method, make, ACCEPTED, reference, id=f"{kind}-{method}")
            )
    far = [
        ("far out of the training range", lambda X, Z: X * 1000 - 500),
        ("sparse, far out of the range", lambda X, Z: sparse.csr_matrix(X * 1000)),
    ]
    for (kind, make), method in itertools.product(far, X_METHODS):
        outcome = ACCEPTED if method in TRAINING else FAR
        cells.append(pytest.param(method, make, outcome, None, id=f"{kind}-{method}"))
    accepted_codes = [
        ("object array of numbers", lambda X, Z: Z.astype(object)),
        ("list of lists", lambda X, Z: Z.tolist()),
    ]
    for kind, make in accepted_codes:
        method = "inverse_transform"
        cells.append(
            pytest.param(method, make, ACCEPTED, same_as_Z, id=f"{kind}-{method}")
        )

    # Cases found by this table and fixed in the library (their reasons say
    # what used to happen).
    gaps = [
        (
            "DataFrame with a categorical str column",
            lambda X, Z: _frame_with(X, pd.Categorical(list("abcab"))),
            STR,
            X_METHODS,
            "a pandas categorical column of strings passes validate_data(dtype="
            "'numeric') as an object array; check_X then fails in X.min or "
            "in the range comparison with TypeError: '<' not supported between "
            "instances of 'str' and 'float' (PCA raises ValueError: could not "
            "convert string to float: 'a')",
        ),
        (
            "nullable 'boolean' DataFrame",
            lambda X, Z: pd.DataFrame(X > 0.5).astype("boolean"),
            BOOL,
            X_METHODS,
            "bool is refused as ndarray and as a numpy-bool DataFrame, but a "
            "DataFrame of pandas' nullable 'boolean' dtype is accepted silently "
            "(validate_data turns it into float64 before the bool check)",
        ),
        (
            "DataFrame with a bool column",
            lambda X, Z: _frame_with(X, X[:, 3] > 0.5),
            BOOL,
            X_METHODS,
            "a DataFrame with one bool column among float columns is accepted "
            "silently (it becomes an object array, then float64), although bool "
            "input is refused everywhere else",
        ),
        (
            "finite float32 at its maximum",
            lambda X, Z: np.full_like(X, np.finfo(np.float32).max),
            OVERFLOW,
            ("transform", "score"),
            "finite float32 input of 3.4e38 passes the overflow check (|x| <= "
            "max), then overflows inside the network: transform returns inf/nan "
            "codes and score returns nan, with only an OutOfRangeWarning",
        ),
        (
            "bool codes",
            lambda X, Z: Z > 0,
            BOOL,
            ("inverse_transform",),
            "inverse_transform accepts bool codes silently (True -> 1.0), while "
            "transform, fit and score refuse bool with a TypeError",
        ),
        (
            "1e39 codes (float64)",
            lambda X, Z: _set(Z, 1e39, np.float64),
            OVERFLOW,
            ("inverse_transform",),
            "inverse_transform has no float32 overflow check: codes of 1e39 are "
            "cast to inf (numpy RuntimeWarning: overflow encountered in cast) "
            "and the reconstruction is non-finite, where transform raises "
            "ValueError for the same values",
        ),
    ]
    for kind, make, outcome, methods, _was in gaps:
        for method in methods:
            cells.append(
                pytest.param(method, make, outcome, None, id=f"{kind}-{method}")
            )
    return cells


TABLE = _table()


def _codes(est):
    return est.transform(_rows())


#: NumPy 2 warns about torch's ``Tensor.__array__`` (no ``copy`` keyword) each
#: time Keras's PyTorch backend converts a tensor with ``np.array``
#: (pytorch/pytorch#136264); not skae's to fix, and hidden outside test runs.
_UPSTREAM = "__array__ implementation doesn't accept a copy keyword"


def _ours(w):
    upstream = issubclass(w.category, DeprecationWarning) and _UPSTREAM in str(
        w.message
    )
    return not upstream


def _call(est, method, data):
    """Call ``method``; return its result and the warnings other than convergence."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = getattr(est, method)(data)
    caught = [
        w for w in caught
        if not issubclass(w.category, ConvergenceWarning) and _ours(w)
    ]  # fmt: skip
    return result, caught


def _check_output(method, result, n_samples):
    if method == "transform":
        assert result.shape == (n_samples, N_COMPONENTS)
        assert result.dtype == np.float32 and np.isfinite(result).all()
    elif method == "inverse_transform":
        assert result.shape == (n_samples, N_FEATURES)
        assert result.dtype == np.float32 and np.isfinite(result).all()
    elif method == "score":
        assert isinstance(result, float) and np.isfinite(result)


def _copy(est):
    return pickle.loads(pickle.dumps(est))


def _check_accepted_training(fitted, method, data, reference):
    """Train a copy; with a reference input, a second copy must match bitwise."""
    est = _copy(fitted)
    n_iter = est.n_iter_
    result, caught = _call(est, method, data)
    assert result is est and caught == []
    assert est.n_iter_ == n_iter + 1
    if reference is not None:
        twin = _copy(fitted)
        _call(twin, method, reference)
        for a, b in zip(
            est.model_.get_weights(), twin.model_.get_weights(), strict=True
        ):
            assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize(("method", "make", "expected", "reference"), TABLE)
def test_bad_input_table(request, fitted, method, make, expected, reference):
    X, Z = _rows(), _codes(fitted)
    data = make(X, Z)
    before = _state(fitted)
    if expected == ACCEPTED and method in TRAINING:
        _check_accepted_training(
            fitted, method, data, None if reference is None else reference(X, Z)
        )
    elif expected == ACCEPTED:
        result, caught = _call(fitted, method, data)
        assert caught == []
        _check_output(method, result, n_samples=len(X))
        if reference is not None:
            assert_array_equal(
                result, getattr(fitted, method)(reference(X, Z)), strict=True
            )
    elif issubclass(expected[0], Warning):
        with pytest.warns(expected[0], match=expected[1]):
            result = getattr(fitted, method)(data)
        _check_output(method, result, n_samples=len(X))
    else:
        error, match = expected
        with pytest.raises(error, match=match) as info:
            _call(fitted, method, data)
        assert_clean_error(info.value)
    assert_state_kept(fitted, before)


def test_table_covers_every_method():
    methods = {cell.values[0] for cell in TABLE}
    assert methods == {*X_METHODS, "inverse_transform"}


# -- properties over shapes and dtypes -----------------------------------------

_NUMPY_DTYPES = [
    np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8,
    np.bool_, np.complex64,
]  # fmt: skip


@st.composite
def any_input(draw, widths=(0, 1, 2, 3, 4, 5)):
    """An array of 1 to 3 dimensions and any dtype, of numbers or strings.

    Besides ``widths``, 2-D inputs get the fitted width (10) half of the time,
    and numbers are often finite or moderate, so that inputs are accepted
    often enough to test the successful path too. A quarter of the 2-D
    numeric arrays come as scipy sparse matrices.
    """
    ndim = draw(st.sampled_from([1, 2, 2, 2, 3]))
    n_samples = draw(st.integers(0, 6))
    width = draw(st.one_of(st.sampled_from(widths), st.just(N_FEATURES)))
    shape = ((width,), (n_samples, width), (n_samples, width, 2))[ndim - 1]
    kind = draw(st.sampled_from([*_NUMPY_DTYPES, "object of floats", "object of str"]))
    if kind == "object of str":
        return draw(arrays(object, shape, elements=st.text(max_size=4)))
    values = draw(st.sampled_from(["any", "finite", "moderate"]))
    dtype = np.dtype(np.float64 if kind == "object of floats" else kind)
    elements = None
    if values != "any" and dtype.kind == "f":
        limit = min(1e6, float(np.finfo(dtype).max)) if values == "moderate" else None
        elements = from_dtype(
            dtype, allow_nan=False, allow_infinity=False,
            min_value=None if limit is None else -limit, max_value=limit,
        )  # fmt: skip
    if kind == "object of floats":
        elements = st.floats() if elements is None else elements
        return draw(arrays(object, shape, elements=elements))
    X = draw(arrays(dtype, shape, elements=elements))
    if ndim == 2 and dtype != np.float16 and draw(st.integers(0, 3)) == 0:
        return sparse.csr_matrix(X)  # scipy.sparse has no float16
    return X


def _as_float(X):
    try:
        if sparse.issparse(X):
            X = X.toarray()
        return np.asarray(X, dtype=np.float64)
    except (ValueError, TypeError):
        return None


def _check_property(est, method, X):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutOfRangeWarning)
            result = getattr(est, method)(X)
    except (ValueError, TypeError) as err:
        event(f"{method}: {type(err).__name__}")
        assert_not_from_keras(err)
        return None
    event(f"{method}: accepted")
    values = _as_float(X)
    assert values is not None and values.ndim == 2, "accepted a non-2-D/non-numeric X"
    # Finite in, finite out, for values the network can carry without
    # overflowing float32 inside (larger ones are refused).
    small = np.isfinite(values).all() and np.abs(values).max(initial=0) < 1e30
    if method == "transform":
        assert result.shape == (X.shape[0], N_COMPONENTS)
        assert result.dtype == np.float32
        assert not small or np.isfinite(result).all()
    else:
        assert isinstance(result, float)
        assert not small or np.isfinite(result)
    return result


_PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_PROPERTY
@given(X=any_input(), method=st.sampled_from(["transform", "score"]))
def test_transform_and_score_work_or_raise_and_keep_state(fitted, X, method):
    before = _state(fitted)
    _check_property(fitted, method, X)
    assert_state_kept(fitted, before)


@settings(max_examples=15, deadline=None, database=None)
@given(X=any_input(widths=(0, 1, 4)))
def test_fit_works_or_raises_and_leaves_unfitted(fitted, X):
    est = clone(fitted).set_params(warm_start=False)
    params = dict(est.__dict__)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
    except (ValueError, TypeError) as err:
        event(f"fit: {type(err).__name__}")
        assert_not_from_keras(err)
        assert est.__dict__.keys() == params.keys()  # still unfitted
        assert all(est.__dict__[k] is v for k, v in params.items())
        return
    event("fit: accepted")
    assert est.n_features_in_ == X.shape[1] and est.n_iter_ == 1
    codes = est.transform(X)
    assert codes.shape == (X.shape[0], N_COMPONENTS) and codes.dtype == np.float32


@pytest.mark.parametrize("method", ["transform", "score"])
def test_out_of_range_warning_points_at_the_caller(fitted, method):
    with pytest.warns(OutOfRangeWarning) as record:
        getattr(fitted, method)(_rows() * 1000)
    assert [w.filename for w in record if _ours(w)] == [__file__]


def test_warnings_from_a_grid_search_point_at_the_caller(X_small):
    # GridSearchCV calls fit through joblib, also with one job.
    from sklearn.model_selection import GridSearchCV

    grid = GridSearchCV(
        AutoencoderTransformer(
            hidden_layer_sizes=(4,), epochs=3, batch_size=16, init="random"
        ),
        {"n_components": [2]},
        cv=2,
    )
    with pytest.warns(ConvergenceWarning) as record:
        grid.fit(X_small)
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {
        __file__
    }


@pytest.mark.parametrize(
    "dtype, low, high",
    [(np.uint8, 0, 255), (np.int8, -128, 127), (np.uint16, 0, 65535),
     (np.int64, -(2**62), 2**62), (np.uint64, 0, 2**63 + 2**62)],
)  # fmt: skip
def test_integer_inputs_keep_their_range(dtype, low, high):
    # The stored range must not wrap around in the input's dtype: the
    # training data itself is never "far outside" it.
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(40, N_FEATURES)).astype(np.float64)
    X = np.where(X > 0, high, low).astype(dtype)
    ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(4,), epochs=1,
                                precision="float64", loss="mae",
                                random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfRangeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae.fit(X)
        ae.transform(X)
        ae.score(X)
    assert ae._data_min.dtype == np.float64
    assert_array_equal(
        ae._data_max - ae._data_min, np.full(N_FEATURES, float(high) - low)
    )
