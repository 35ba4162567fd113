import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.manifold import TSNE
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, add_noise, compare_reducers


@pytest.fixture
def split(digits):
    X, _ = digits
    return X[:150], X[150:]


def test_pca_rows_match_a_manual_computation(split):
    X_train, X_test = split
    table = compare_reducers({"PCA": PCA(5)}, X_train, X_test)
    assert list(table["reducer"]) == ["PCA"] and list(table["n_components"]) == [5]
    pca = PCA(5).fit(X_train)
    recon = pca.inverse_transform(pca.transform(X_test))
    mse = np.mean((recon - X_test.astype(np.float64)) ** 2)
    sst = np.sum((X_test - X_test.mean(axis=0)) ** 2)
    assert table["mse"][0] == pytest.approx(mse, rel=1e-5)
    assert table["explained_variance"][0] == pytest.approx(
        1 - mse * X_test.size / sst, rel=1e-5
    )
    assert table["fit_s"][0] > 0 and table["transform_ms_per_1000"][0] > 0
    assert "psnr" not in table.columns


def test_sweep_over_n_components_in_pipelines_and_autoencoders(split):
    X_train, X_test = split
    seen = []
    table = compare_reducers(
        {
            "scaled PCA": make_pipeline(StandardScaler(), PCA()),
            "SVD": TruncatedSVD(),
            "AE": AutoencoderTransformer(
                hidden_layer_sizes=(8,), epochs=1, random_state=0
            ),
        },  # fmt: skip
        X_train,
        X_test,
        n_components=[2, 4],
        progress=seen.append,
    )
    assert list(table["reducer"]) == ["scaled PCA"] * 2 + ["SVD"] * 2 + ["AE"] * 2
    assert list(table["n_components"]) == [2, 4] * 3
    assert [row["reducer"] for row in seen] == list(table["reducer"])
    pca = table[table["reducer"] == "scaled PCA"]["mse"].to_numpy()
    assert pca[1] < pca[0]  # more components reconstruct better


def test_denoising_columns(split):
    X_train, X_test = split
    table = compare_reducers(
        {"PCA": PCA(8)}, X_train, X_test, noise="gaussian", noise_level=0.3,
        clip=(0, 1), random_state=0,
    )  # fmt: skip
    noisy = add_noise(X_test, "gaussian", 0.3, random_state=0, clip=(0, 1))
    data_range = X_test.max() - X_test.min()
    input_mse = np.mean((noisy - X_test.astype(np.float64)) ** 2)
    assert table["input_psnr"][0] == pytest.approx(
        10 * np.log10(data_range**2 / input_mse), rel=1e-5
    )
    pca = PCA(8).fit(X_train)
    noisy_mse = np.mean((pca.inverse_transform(pca.transform(noisy)) - X_test) ** 2)
    assert table["noisy_mse"][0] == pytest.approx(noisy_mse, rel=1e-4)
    assert table["psnr"][0] > table["input_psnr"][0]  # PCA removes some noise


def test_reducers_are_not_fitted_but_their_clones_can_be_returned(split):
    pca = PCA(3)
    table, fitted = compare_reducers(
        [("PCA", pca)], *split, n_components=[2, 3], return_estimators=True
    )
    assert not hasattr(pca, "components_")
    assert sorted(fitted) == [("PCA", 2), ("PCA", 3)]
    assert fitted["PCA", 2].components_.shape == (2, 64)


def test_list_of_dicts_without_pandas(split, monkeypatch):
    from skae._compare import _as_table

    rows = compare_reducers({"PCA": PCA(3)}, *split).to_dict("records")
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas fails
    assert _as_table(rows) is rows
    assert rows[0]["reducer"] == "PCA"
    assert_allclose(rows[0]["n_components"], 3)


def test_errors(split):
    X_train, X_test = split
    with pytest.raises(TypeError, match="lacks transform, inverse_transform"):
        compare_reducers({"TSNE": TSNE()}, X_train, X_test)
    with pytest.raises(
        ValueError, match="exactly one n_components.*pca-1__n_components"
    ):
        compare_reducers(
            {"two": make_pipeline(PCA(), PCA())}, X_train, X_test, n_components=[2]
        )
    with pytest.raises(ValueError, match="X_train has 64 features but X_test has 3"):
        compare_reducers({"PCA": PCA()}, X_train, X_test[:, :3])
    with pytest.raises(ValueError, match="positive integers"):
        compare_reducers({"PCA": PCA()}, X_train, X_test, n_components=[0])
    with pytest.raises(TypeError, match="dict"):
        compare_reducers([PCA()], X_train, X_test)


@pytest.mark.parametrize("reducers", [{}, []])
def test_no_reducers_is_an_error(reducers):
    X = np.zeros((10, 4))
    with pytest.raises(ValueError, match="reducers is empty"):
        compare_reducers(reducers, X, X)


def test_bad_arguments_are_refused_before_any_fit(split, monkeypatch):
    X_train, X_test = split
    fits = []
    monkeypatch.setattr(PCA, "fit", lambda self, X, y=None: fits.append(1) or self)
    with pytest.raises(ValueError, match="exactly one n_components"):
        compare_reducers({"PCA": PCA(), "two": make_pipeline(PCA(), PCA())},
                         X_train, X_test, n_components=[2])  # fmt: skip
    with pytest.raises(ValueError, match="positive integers; got \\[\\]"):
        compare_reducers({"PCA": PCA()}, X_train, X_test, n_components=[])
    with pytest.raises(ValueError, match="distinct names; 'a'"):
        compare_reducers([("a", PCA()), ("a", PCA())], X_train, X_test)
    with pytest.raises(ValueError, match="clip=.*low < high"):
        compare_reducers({"PCA": PCA()}, X_train, X_test, noise="gaussian",
                         clip=(1.0, 0.0))  # fmt: skip
    assert fits == []


@pytest.mark.parametrize("clip", [(1.0, 0.0), (0.0,), (0.0, float("inf"))])
def test_add_noise_refuses_a_bad_clip(clip):
    with pytest.raises(ValueError, match="clip"):
        add_noise(np.zeros((3, 2)), "gaussian", 0.1, clip=clip)
