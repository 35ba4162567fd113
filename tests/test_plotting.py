import subprocess
import sys
import textwrap
import warnings

import matplotlib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skae import AutoencoderTransformer
from skae.plotting import (
    plot_error_vs_components,
    plot_latent,
    plot_loss_curves,
    plot_reconstructions,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def results_table():
    rows = []
    for reducer, scale in (("PCA", 1.0), ("autoencoder", 0.5)):
        # Deliberately out of order: the lines must come out sorted.
        for n in (32, 2, 8):
            rows.append(
                {
                    "reducer": reducer,
                    "n_components": n,
                    "mse": scale / n,
                    "fit_s": 0.1 * n,
                }
            )
    return rows


# -- import cost ------------------------------------------------------------------


def test_importing_plotting_loads_no_matplotlib_or_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import skae, skae.plotting
        heavy = [m for m in ("matplotlib", "tensorflow", "keras") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skae\[plot\]"'):
        plot_loss_curves({"loss": [1.0, 0.5]})


# -- plot_reconstructions -----------------------------------------------------------


def test_plot_reconstructions_grid_shows_each_row():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 6))
    noisy = X + rng.normal(scale=3.0, size=X.shape)
    images = {"original": X, "noisy": noisy, "PCA": X * 0.5}
    fig = plot_reconstructions(images, (2, 3), n_images=4)

    assert len(fig.axes) == 3 * 4
    axes = np.array(fig.axes).reshape(3, 4)
    for i, (name, array) in enumerate(images.items()):
        assert axes[i, 0].get_ylabel() == name
        for j in range(4):
            ax = axes[i, j]
            shown = ax.get_images()[0]
            assert_allclose(shown.get_array(), array[j].reshape(2, 3))
            # Every row uses the range of the original, so the rows compare.
            assert shown.get_clim() == (X.min(), X.max())
            assert shown.get_cmap().name == "gray"
            assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
    assert axes[1, 1].get_ylabel() == ""


def test_plot_reconstructions_titles_and_fewer_samples():
    X = np.arange(3 * 4, dtype=float).reshape(3, 4)
    fig = plot_reconstructions(
        {"original": X, "ae": X[:2]}, (2, 2), n_images=10, titles="abc"
    )
    # The shortest array (2 samples) sets the number of columns.
    assert len(fig.axes) == 2 * 2
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "", ""]


def test_plot_reconstructions_rgb_is_scaled_to_unit_range():
    X = np.linspace(-1.0, 1.0, 2 * 2 * 2 * 3).reshape(2, 12)
    fig = plot_reconstructions({"original": X, "bright": X + 5}, (2, 2, 3), n_images=2)
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (2, 2, 3)
    assert_allclose(shown, ((X[0] + 1) / 2).reshape(2, 2, 3))
    # Values outside the original's range are clipped, not rescaled.
    assert_allclose(fig.axes[3].get_images()[0].get_array(), np.ones((2, 2, 3)))


@pytest.mark.parametrize(
    "images, image_shape, match",
    [
        ({"original": np.zeros((3, 4)), "ae": np.zeros((3, 5))}, (2, 2), "'ae'.*5"),
        ({"original": np.zeros((3, 4))}, (2, 3), "asks for 6"),
        ({"original": np.zeros(4)}, (2, 2), "2-D"),
        ({}, (2, 2), "non-empty dict"),
        ([np.zeros((3, 4))], (2, 2), "non-empty dict"),
        ({"original": np.zeros((3, 8))}, (2, 2, 2), "1, 3 or 4 channels"),
    ],
)
def test_plot_reconstructions_rejects_bad_input(images, image_shape, match):
    with pytest.raises(ValueError, match=match):
        plot_reconstructions(images, image_shape)


def test_plot_reconstructions_too_few_titles():
    with pytest.raises(ValueError, match="titles has 1 entries, but 3"):
        plot_reconstructions({"x": np.zeros((3, 4))}, (2, 2), titles=["a"])


# -- plot_error_vs_components ------------------------------------------------------


def test_plot_error_vs_components_one_sorted_line_per_reducer():
    fig = plot_error_vs_components(results_table(), metric="mse", ax_title="digits")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["PCA", "autoencoder"]
    for line, scale in zip(lines, (1.0, 0.5), strict=True):
        assert_array_equal(line.get_xdata(), [2, 8, 32])
        assert_allclose(line.get_ydata(), [scale / 2, scale / 8, scale / 32])
        assert line.get_marker() == "o"
    # 32 / 2 > 8: log2 scale, ticks at the widths tried.
    assert ax.get_xscale() == "log"
    assert_array_equal(ax.get_xticks(), [2, 8, 32])
    assert ax.get_xlabel() == "n_components"
    assert ax.get_ylabel() == "reconstruction MSE"
    assert ax.get_title() == "digits"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "PCA",
        "autoencoder",
    ]


def test_plot_error_vs_components_dataframe_and_linear_scale():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(
        [r for r in results_table() if r["n_components"] != 32]
        + [{"reducer": "PCA", "n_components": 2, "mse": np.nan, "fit_s": 0.4}]
    )
    fig = plot_error_vs_components(table, metric="fit_s")
    (ax,) = fig.axes
    assert ax.get_xscale() == "linear"
    pca = ax.get_lines()[0]
    # The repeated (PCA, 2) row is averaged.
    assert_allclose(pca.get_ydata(), [(0.2 + 0.4) / 2, 0.8])
    assert ax.get_ylabel() == "fit time (s)"


def test_plot_error_vs_components_skips_missing_values():
    rows = results_table() + [{"reducer": "KernelPCA", "n_components": 2}]
    rows[0]["noisy_mse"] = 0.3
    fig = plot_error_vs_components(rows, metric="noisy_mse")
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["PCA"]
    assert_array_equal(lines[0].get_xdata(), [32])


def test_plot_error_vs_components_unknown_metric_lists_columns():
    with pytest.raises(ValueError, match=r"'psnr'.*\['mse', 'fit_s'\]"):
        plot_error_vs_components(results_table(), metric="psnr")
    with pytest.raises(ValueError, match="n_components"):
        plot_error_vs_components([{"reducer": "PCA", "mse": 1.0}])
    with pytest.raises(ValueError, match="empty"):
        plot_error_vs_components([])


# -- plot_loss_curves --------------------------------------------------------------


def test_plot_loss_curves_from_history_dict():
    history = {
        "kl_loss": [0.3, 0.2, 0.1],
        "val_loss": [1.1, 0.7, 0.6],
        "loss": [1.0, 0.5, 0.4],
    }
    fig = plot_loss_curves(history)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["loss", "val_loss", "kl_loss"]
    for line in lines:
        assert_array_equal(line.get_xdata(), [1, 2, 3])
        assert_allclose(line.get_ydata(), history[line.get_label()])
    assert lines[1].get_linestyle() == "--"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_legend() is not None


def test_plot_loss_curves_from_fitted_estimator(X_small):
    ae = AutoencoderTransformer(
        n_components=2,
        hidden_layer_sizes=(),
        epochs=3,
        early_stopping=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae.fit(X_small)
    lines = plot_loss_curves(ae).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["loss", "val_loss"]
    assert_allclose(lines[0].get_ydata(), ae.loss_curve_)
    assert_allclose(lines[1].get_ydata(), ae.history_["val_loss"])


def test_plot_loss_curves_errors():
    with pytest.raises(NotFittedError):
        plot_loss_curves(AutoencoderTransformer())
    with pytest.raises(ValueError, match="empty"):
        plot_loss_curves({"loss": []})


# -- plot_latent -------------------------------------------------------------------


def test_plot_latent_classes_get_a_legend():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 2))
    y = np.array(["a", "b", "c"])[np.arange(30) % 3]
    fig = plot_latent(Z, y, ax_title="codes")
    (ax,) = fig.axes
    assert len(ax.collections) == 3
    for collection, label in zip(ax.collections, "abc", strict=True):
        assert_allclose(collection.get_offsets(), Z[y == label])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("code 0", "code 1")
    assert ax.get_title() == "codes"


def test_plot_latent_continuous_labels_get_a_colorbar():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 5))
    y = rng.uniform(size=40)
    fig = plot_latent(Z, y)
    assert len(fig.axes) == 2  # the scatter and its colour bar
    ax = fig.axes[0]
    (points,) = ax.collections
    assert_allclose(points.get_offsets(), Z[:, :2])
    assert_allclose(points.get_array(), y)
    assert ax.get_xlabel() == "code 0 (of 5)" and ax.get_ylabel() == "code 1 (of 5)"


def test_plot_latent_without_labels():
    Z = np.arange(10.0).reshape(5, 2)
    fig = plot_latent(Z)
    (points,) = fig.axes[0].collections
    assert_allclose(points.get_offsets(), Z)
    assert fig.axes[0].get_legend() is None


def test_plot_latent_errors():
    with pytest.raises(ValueError, match="n_components>=2"):
        plot_latent(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="one label per row"):
        plot_latent(np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(ValueError, match="2-D"):
        plot_latent(np.zeros(5))


# -- plot_outlier_features -------------------------------------------------------


@pytest.fixture(scope="module")
def broken_row():
    from skae import AutoencoderOutlierDetector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6))
    X[7, 4] += 12.0
    det = AutoencoderOutlierDetector(
        hidden_layer_sizes=(16,), epochs=10, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        det.fit(X)
    return det, X


def test_plot_outlier_features_shows_the_worst_rows_and_features(broken_row):
    from skae.plotting import plot_outlier_features

    det, X = broken_row
    fig = plot_outlier_features(det, X, n_rows=3, n_features=4,
                                feature_names=list("abcdef"))  # fmt: skip
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    features = [t.get_text() for t in ax.get_xticklabels()]
    assert len(rows) == 3 and rows[0].startswith("row 7 ")
    assert len(features) == 4 and features[0] == "e"
    image = ax.get_images()[0].get_array()
    errors = det.reconstruction_error(X[[7]], per_feature=True)[0] / det.error_scale_
    assert_allclose(image[0, 0], errors[4])


def test_plot_outlier_features_checks_its_arguments(broken_row):
    from skae.plotting import plot_outlier_features

    det, X = broken_row
    with pytest.raises(ValueError, match="n_rows must be a positive integer"):
        plot_outlier_features(det, X, n_rows=0)
    with pytest.raises(ValueError, match="feature_names has 2 names for 6"):
        plot_outlier_features(det, X, feature_names=["a", "b"])
    with pytest.raises(NotFittedError):
        plot_outlier_features(AutoencoderTransformer(), X)
