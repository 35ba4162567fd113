"""init="pca": the model starts as the PCA of the training rows, and keeps it
when training cannot beat it."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer, VariationalAutoencoderTransformer
from skae._data import split_validation
from skae._pca import fit_pca


def _still_pca(**params):
    """A model trained by one step of a learning rate too small to move it."""
    defaults = dict(
        n_components=5, hidden_layer_sizes=(16,), epochs=1, batch_size=64,
        learning_rate=1e-12, random_state=0,
    )  # fmt: skip
    return AutoencoderTransformer(**{**defaults, **params})


def _quiet_fit(est, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kwargs)


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return rng.standard_normal((200, 12)) @ rng.standard_normal((12, 12))


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_the_new_model_is_the_pca_of_the_data(digits, architecture):
    X = digits[0][:300]
    extra = {"image_shape": (8, 8)} if architecture == "conv" else {}
    ae = _quiet_fit(_still_pca(architecture=architecture, **extra), X)
    pca = PCA(5, svd_solver="full").fit(X)
    # Same components, signs included (both make each component's largest
    # entry positive), so the same codes and reconstructions.
    assert_allclose(ae.transform(X), pca.transform(X), atol=2e-4)
    assert_allclose(
        ae.inverse_transform(ae.transform(X)),
        pca.inverse_transform(pca.transform(X)),
        atol=2e-4,
    )


def test_random_init_is_not_pca(digits):
    X = digits[0][:300]
    ae = _quiet_fit(_still_pca(init="random"), X)
    pca = PCA(5).fit(X)
    assert -ae.score(X) > 2 * np.mean(
        (pca.inverse_transform(pca.transform(X)) - X) ** 2
    )
    assert "code_pca" not in [layer.name for layer in ae.encoder_.layers]


def test_pca_is_fitted_on_the_training_rows_only(table):
    ae = _quiet_fit(_still_pca(early_stopping=True, validation_fraction=0.25), table)
    train, val = split_validation(len(table), 0.25, ae._seed)
    on_train = PCA(5).fit(table[train])
    on_all = PCA(5).fit(table)
    Z = ae.transform(table)
    assert_allclose(Z, on_train.transform(table), atol=1e-3)
    assert np.abs(Z - on_all.transform(table)).max() > 1e-2


def test_sample_weight_weighs_the_pca_like_repeated_rows(table):
    w = np.random.default_rng(1).integers(1, 4, len(table))
    ae = _quiet_fit(_still_pca(), table, sample_weight=w)
    repeated = PCA(5).fit(np.repeat(table, w, axis=0))
    assert_allclose(ae.transform(table), repeated.transform(table), atol=1e-3)


def test_sparse_and_memmap_input_give_the_same_pca(table, tmp_path):
    X = np.abs(table).astype(np.float32)
    X[X < 1] = 0
    dense = fit_pca(X, np.arange(len(X)), 4)
    from_sparse = fit_pca(sparse.csr_matrix(X), np.arange(len(X)), 4)
    path = tmp_path / "x.npy"
    np.save(path, X)
    from_memmap = fit_pca(np.load(path, mmap_mode="r"), np.arange(len(X)), 4)
    for other in (from_sparse, from_memmap):
        assert_allclose(other.components, dense.components, atol=1e-10)
        assert_allclose(other.mean, dense.mean, atol=1e-12)


def test_wide_data_uses_the_subspace_iteration(monkeypatch):
    from skae import _pca

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8)) * [10, 8, 6, 4, 2, 1, 1, 1]
    X = X @ np.linalg.qr(rng.standard_normal((60, 8)))[0].T  # 60 features, rank 8
    exact = _pca.fit_pca(X, np.arange(300), 4)
    monkeypatch.setattr(_pca, "EXACT_MAX_FEATURES", 10)
    iterated = _pca.fit_pca(X, np.arange(300), 4, seed=3)
    assert_allclose(iterated.components, exact.components, atol=1e-8)
    assert_allclose(iterated.explained_variance, exact.explained_variance, rtol=1e-8)


def test_codes_beyond_the_rank_of_the_data_start_at_zero():
    X = np.random.default_rng(0).standard_normal((40, 3))
    ae = _quiet_fit(_still_pca(n_components=5), X)
    Z = ae.transform(X)
    assert_allclose(Z[:, 3:], 0, atol=1e-6)
    assert_allclose(ae.inverse_transform(Z), X, atol=1e-4)


def test_partial_fit_starts_from_the_pca_of_its_first_batch(table):
    ae = _still_pca().partial_fit(table[:100])
    assert_allclose(
        ae.transform(table), PCA(5).fit(table[:100]).transform(table), atol=1e-3
    )


def test_early_stopping_keeps_epoch_0_when_no_epoch_beats_it(digits):
    X = digits[0][:400]
    # A learning rate far too large: every epoch is worse than the PCA.
    ae = _quiet_fit(
        _still_pca(
            epochs=20, learning_rate=0.5, early_stopping=True, n_iter_no_change=3
        ),  # fmt: skip
        X,
    )
    assert ae.n_iter_ == 3
    start = _quiet_fit(_still_pca(early_stopping=True), X)
    assert ae.best_validation_score_ == pytest.approx(
        start.validation_scores_[0], rel=1e-4
    )
    assert max(ae.validation_scores_) < ae.best_validation_score_
    assert_allclose(ae.transform(X), start.transform(X), atol=1e-4)


def test_early_stopping_keeps_a_better_epoch(digits):
    X = digits[0][:600]
    ae = _quiet_fit(
        _still_pca(
            epochs=8, learning_rate=1e-3, early_stopping=True, n_iter_no_change=8
        ),  # fmt: skip
        X,
    )
    best = int(np.argmax(ae.validation_scores_))
    assert ae.best_validation_score_ == max(ae.validation_scores_)
    assert ae.best_validation_score_ > ae.validation_scores_[0] or best == 0


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(loss="binary_crossentropy"), "linear output activation"),
        (dict(output_activation="sigmoid"), "linear output activation"),
        (dict(encoder=lambda n, k: None), "your own encoder"),
    ],
)
def test_explicit_pca_that_cannot_be_built_is_refused(table, params, match):
    with pytest.raises(ValueError, match=match):
        _still_pca(init="pca", **params).fit(np.clip(table, 0, 1))


@pytest.mark.parametrize(
    "params", [dict(loss="binary_crossentropy"), dict(output_activation="tanh")]
)
def test_auto_is_random_where_pca_cannot_be_built(table, params):
    ae = _quiet_fit(_still_pca(**params), np.clip(table, 0, 1))
    assert "code_pca" not in [layer.name for layer in ae.encoder_.layers]


def test_variational_refuses_pca(table):
    with pytest.raises(ValueError, match="does not take init='pca'"):
        VariationalAutoencoderTransformer(2, init="pca", epochs=1).fit(table)


def test_init_is_a_setting_the_model_is_built_with(table):
    ae = _quiet_fit(_still_pca(warm_start=True), table)
    ae.set_params(init="random")
    with pytest.raises(ValueError, match="init"):
        ae.fit(table)
