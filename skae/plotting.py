"""Plots for autoencoders: reconstructions, loss curves, codes, comparisons.

Every function draws a new figure with :mod:`matplotlib.pyplot` and returns
the :class:`~matplotlib.figure.Figure`. Matplotlib is imported inside the
functions, so ``import skae.plotting`` costs nothing; install it with
``pip install "skae[plot]"``. Nothing here changes matplotlib's global state
(backend, ``rcParams``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "plot_error_vs_components",
    "plot_latent",
    "plot_loss_curves",
    "plot_outlier_features",
    "plot_reconstructions",
]

#: Axis labels of the metric columns of :func:`skae.compare_reducers`.
_METRIC_LABELS = {
    "mse": "reconstruction MSE",
    "explained_variance": "explained variance",
    "noisy_mse": "reconstruction MSE (noisy inputs)",
    "psnr": "PSNR (dB)",
    "fit_s": "fit time (s)",
    "transform_ms_per_1000": "transform time (ms per 1000 samples)",
}
_KEY_COLUMNS = ("reducer", "n_components")
#: Labels with at most this many distinct integer values get a legend.
_MAX_LEGEND_CLASSES = 20


def _pyplot():
    """Import and return :mod:`matplotlib.pyplot`, or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skae.plotting needs matplotlib, which is not installed. Install "
            'it with: pip install "skae[plot]"'
        ) from exc
    return plt


def _check_image_shape(image_shape):
    shape = tuple(image_shape)
    if not (
        len(shape) in (2, 3)
        and all(isinstance(s, Integral) and s > 0 for s in shape)
        and (len(shape) == 2 or shape[2] in (1, 3, 4))
    ):
        raise ValueError(
            "image_shape must be (height, width) or (height, width, channels) "
            f"with 1, 3 or 4 channels. Got {image_shape!r} instead."
        )
    return tuple(int(s) for s in shape)


def _as_rows(name, array, n_features):
    """``array`` as a 2-D float array of flat images, checked against the shape."""
    array = np.asarray(array, dtype=float)
    if array.ndim < 2:
        raise ValueError(
            f"images[{name!r}] must be a 2-D array of shape (n_samples, "
            f"n_features). Got an array of shape {array.shape} instead."
        )
    array = array.reshape(array.shape[0], -1)
    if array.shape[1] != n_features:
        raise ValueError(
            f"images[{name!r}] has {array.shape[1]} features per sample, but "
            f"image_shape asks for {n_features} (the product of its sides)."
        )
    if array.shape[0] == 0:
        raise ValueError(f"images[{name!r}] has no samples.")
    return array


def plot_reconstructions(images, image_shape, *, n_images=10, titles=None, cmap="gray"):
    """Show original images next to noisy versions and reconstructions.

    Draws one row per entry of ``images`` and one column per sample: the
    first ``n_images`` samples of each array, side by side, as in the
    reconstruction grids of the TensorFlow autoencoder tutorials.

    Parameters
    ----------
    images : dict of str to array-like of shape (n_samples, n_features)
        The rows of the grid in order, e.g. ``{"original": X, "noisy": X_noisy,
        "PCA": X_pca, "autoencoder": X_ae}``. Each array holds flat images of
        ``n_features = prod(image_shape)`` values. The first array sets the
        colour scale of every row (its minimum and maximum), so that the rows
        compare.
    image_shape : tuple of int
        ``(height, width)``, or ``(height, width, channels)`` with 1, 3 or 4
        channels, of one image.
    n_images : int, default=10
        Number of samples (columns) to show. Fewer are shown when an array has
        fewer samples.
    titles : sequence of str, default=None
        Titles of the columns, e.g. the class of each sample, drawn above the
        first row.
    cmap : str or matplotlib.colors.Colormap, default="gray"
        Colour map of single-channel images.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with ``len(images) * n_images`` axes.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.plotting import plot_reconstructions
    >>> X = np.random.default_rng(0).uniform(size=(5, 64))
    >>> fig = plot_reconstructions({"original": X, "noisy": X + 0.1}, (8, 8),
    ...                            n_images=4)
    >>> len(fig.axes)
    8
    """
    if not isinstance(images, Mapping) or not images:
        raise ValueError(
            "images must be a non-empty dict mapping row names to arrays of "
            f"flat images. Got {type(images).__name__} instead."
        )
    shape = _check_image_shape(image_shape)
    if not isinstance(n_images, Integral) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer. Got {n_images!r}.")
    n_features = math.prod(shape)
    rows = {name: _as_rows(name, array, n_features) for name, array in images.items()}
    n_cols = min(n_images, *(len(array) for array in rows.values()))
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) < n_cols:
            raise ValueError(
                f"titles has {len(titles)} entries, but {n_cols} images are shown."
            )

    first = next(iter(rows.values()))
    vmin, vmax = float(np.min(first)), float(np.max(first))
    scale = vmax - vmin if vmax > vmin else 1.0

    plt = _pyplot()
    height, width = shape[:2]
    # Margins in inches around cells of about one square inch, so that the
    # images fill the figure whatever the size of the grid.
    # Row names are written horizontally: room for the longest (~0.08 in/char).
    longest = max(len(str(name)) for name in rows)
    left, right = 0.15 + 0.08 * longest, 0.05
    bottom, top = 0.05, 0.3 if titles is not None else 0.05
    aspect = math.sqrt(height / width)
    fig_width = left + right + n_cols * 1.05 / aspect
    fig_height = bottom + top + len(rows) * 1.05 * aspect
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(fig_width, fig_height), squeeze=False
    )
    for i, (name, array) in enumerate(rows.items()):
        for j in range(n_cols):
            ax = axes[i, j]
            image = array[j].reshape(shape)
            if len(shape) == 2 or shape[2] == 1:
                ax.imshow(image.reshape(height, width), cmap=cmap, vmin=vmin, vmax=vmax)
            else:
                # RGB(A) images take no vmin/vmax: scale them to [0, 1] by hand.
                ax.imshow(np.clip((image - vmin) / scale, 0.0, 1.0))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0 and titles is not None:
                ax.set_title(titles[j])
        axes[i, 0].set_ylabel(str(name), rotation=0, ha="right", va="center")
    fig.subplots_adjust(
        left=left / fig_width,
        right=1 - right / fig_width,
        bottom=bottom / fig_height,
        top=1 - top / fig_height,
        wspace=0.05,
        hspace=0.05,
    )
    return fig


def _records(results):
    """Return the rows of a DataFrame or of a list of dicts as a list of dicts."""
    if hasattr(results, "to_dict"):
        return results.to_dict("records")
    records = list(results)
    if not all(isinstance(row, Mapping) for row in records):
        raise ValueError(
            "results must be a pandas DataFrame or a list of dicts, as returned "
            "by skae.compare_reducers."
        )
    return records


def _as_float(value):
    return float(value) if isinstance(value, Real) else float("nan")


def plot_error_vs_components(results, *, metric="mse", ax_title=None):
    """Plot a metric against the code width, one line per reducer.

    Parameters
    ----------
    results : pandas.DataFrame or list of dict
        The table returned by :func:`skae.compare_reducers`: the columns
        ``"reducer"`` (str) and ``"n_components"`` (int) and one column per
        metric. Rows that repeat a ``(reducer, n_components)`` pair are
        averaged; missing (NaN) values are left out.
    metric : str, default="mse"
        The column to plot, e.g. ``"mse"``, ``"explained_variance"``,
        ``"noisy_mse"``, ``"psnr"``, ``"fit_s"`` or
        ``"transform_ms_per_1000"``.
    ax_title : str, default=None
        Title of the axes.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with one axes. The x axis is in log2 scale when the
        largest ``n_components`` is more than 8 times the smallest.

    Examples
    --------
    >>> from skae.plotting import plot_error_vs_components
    >>> results = [
    ...     {"reducer": "PCA", "n_components": 2, "mse": 0.05},
    ...     {"reducer": "PCA", "n_components": 8, "mse": 0.02},
    ...     {"reducer": "autoencoder", "n_components": 2, "mse": 0.03},
    ...     {"reducer": "autoencoder", "n_components": 8, "mse": 0.01},
    ... ]
    >>> fig = plot_error_vs_components(results, metric="mse")
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['PCA', 'autoencoder']
    """
    records = _records(results)
    if not records:
        raise ValueError("results is empty: there is nothing to plot.")
    columns = list(dict.fromkeys(key for row in records for key in row))
    missing = [c for c in _KEY_COLUMNS if c not in columns]
    if missing:
        raise ValueError(
            f"results lacks the column(s) {missing}; it needs 'reducer', "
            "'n_components' and metric columns, as returned by "
            "skae.compare_reducers."
        )
    if metric not in columns or metric in _KEY_COLUMNS:
        available = [c for c in columns if c not in _KEY_COLUMNS]
        raise ValueError(
            f"metric={metric!r} is not a column of results. Available metric "
            f"columns: {available}."
        )

    # reducer -> n_components -> values, reducers in order of appearance.
    points: dict = {}
    for row in records:
        value = _as_float(row.get(metric))
        if not math.isnan(value):
            by_width = points.setdefault(str(row["reducer"]), {})
            by_width.setdefault(int(row["n_components"]), []).append(value)
    if not points:
        raise ValueError(f"results has no value in column {metric!r}.")

    plt = _pyplot()
    from matplotlib.ticker import NullLocator, ScalarFormatter

    fig, ax = plt.subplots()
    for reducer, by_width in points.items():
        widths = sorted(by_width)
        ax.plot(
            widths,
            [np.mean(by_width[w]) for w in widths],
            marker="o",
            label=reducer,
        )
    widths = sorted({w for by_width in points.values() for w in by_width})
    if widths[0] > 0 and widths[-1] > 8 * widths[0]:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_locator(NullLocator())
    if len(widths) <= 12:
        ax.set_xticks(widths)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("n_components")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    if ax_title is not None:
        ax.set_title(ax_title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _history(estimator_or_history):
    if isinstance(estimator_or_history, Mapping):
        history = estimator_or_history
    else:
        check_is_fitted(estimator_or_history)
        history = getattr(estimator_or_history, "history_", None)
        if history is None:
            raise ValueError(
                f"{type(estimator_or_history).__name__} has no history_ "
                "attribute: pass a fitted skae estimator or a dict of lists."
            )
    curves = {str(k): np.asarray(v, dtype=float).ravel() for k, v in history.items()}
    curves = {key: curve for key, curve in curves.items() if curve.size}
    if not curves:
        raise ValueError("The training history is empty: there is nothing to plot.")
    return curves


def plot_loss_curves(estimator_or_history):
    """Plot the training history: loss, validation loss and any other curve.

    Parameters
    ----------
    estimator_or_history : estimator or dict of str to list of float
        A fitted skae estimator, whose ``history_`` is plotted, or such a
        history itself: one list of per-epoch values per key, e.g.
        ``{"loss": [...], "val_loss": [...]}``.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, with one axes and one line per key: ``"loss"`` first,
        then ``"val_loss"``, then the others in order. Epochs count from 1.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    Examples
    --------
    >>> from skae.plotting import plot_loss_curves
    >>> fig = plot_loss_curves({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.5]})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['loss', 'val_loss']
    """
    curves = _history(estimator_or_history)
    order = [k for k in ("loss", "val_loss") if k in curves]
    order += [k for k in curves if k not in order]

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots()
    for key in order:
        curve = curves[key]
        ax.plot(
            np.arange(1, curve.size + 1),
            curve,
            linestyle="--" if key.startswith("val_") else "-",
            marker="o" if curve.size == 1 else None,
            label=key,
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _is_discrete(y):
    if y.dtype.kind in "OUSb":
        return True
    return y.dtype.kind in "iu" and np.unique(y).size <= _MAX_LEGEND_CLASSES


def plot_latent(Z, y=None, *, ax_title=None):
    """Scatter the first two code values of each sample.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Codes, e.g. the output of ``transform``, with ``n_components >= 2``.
        Only the first two columns are drawn; the axis labels say so when
        there are more.
    y : array-like of shape (n_samples,), default=None
        Labels that colour the points: a legend for classes (strings, booleans,
        or at most 20 distinct integers), a colour bar for anything else.
    ax_title : str, default=None
        Title of the axes.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure: the scatter's axes, plus the colour bar's when there is
        one.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.plotting import plot_latent
    >>> Z = np.random.default_rng(0).normal(size=(30, 2))
    >>> fig = plot_latent(Z, y=np.arange(30) % 3)
    >>> fig.axes[0].get_xlabel()
    'code 0'
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2:
        raise ValueError(
            f"Z must be a 2-D array of codes (n_samples, n_components). Got an "
            f"array of shape {Z.shape} instead."
        )
    n_codes = Z.shape[1]
    if n_codes < 2:
        raise ValueError(
            f"plot_latent draws two code values per sample, but Z has {n_codes} "
            "column(s). Fit the reducer with n_components>=2."
        )
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != Z.shape[0]:
            raise ValueError(
                f"y must have one label per row of Z ({Z.shape[0]}). Got an "
                f"array of shape {y.shape} instead."
            )

    plt = _pyplot()
    fig, ax = plt.subplots()
    size = 20 if Z.shape[0] <= 500 else 6
    if y is None:
        ax.scatter(Z[:, 0], Z[:, 1], s=size, alpha=0.8)
    elif _is_discrete(y):
        for label in np.unique(y):
            mask = y == label
            ax.scatter(Z[mask, 0], Z[mask, 1], s=size, alpha=0.8, label=str(label))
        ax.legend(title="label", markerscale=1.5, fontsize="small")
    else:
        points = ax.scatter(
            Z[:, 0], Z[:, 1], c=y.astype(float), s=size, alpha=0.8, cmap="viridis"
        )
        fig.colorbar(points, ax=ax, label="label")
    suffix = "" if n_codes == 2 else f" (of {n_codes})"
    ax.set_xlabel(f"code 0{suffix}")
    ax.set_ylabel(f"code 1{suffix}")
    if ax_title is not None:
        ax.set_title(ax_title)
    return fig


def plot_outlier_features(estimator, X, *, n_rows=5, n_features=10, feature_names=None):
    """Show which features make the most abnormal rows abnormal.

    A heat map of the per-feature squared reconstruction errors
    (``estimator.reconstruction_error(X, per_feature=True)``) of the
    ``n_rows`` most abnormal rows of ``X`` (lowest ``score_samples``), over
    the ``n_features`` features with the largest errors among those rows.
    For :class:`~skae.AutoencoderOutlierDetector` each error is divided by
    its feature's mean training error (``error_scale_``), the share of the
    score it adds; the value of ``X`` is written in each cell.

    Parameters
    ----------
    estimator : fitted skae estimator
        An :class:`~skae.AutoencoderOutlierDetector` or any skae transformer.
    X : array-like of shape (n_samples, n_features)
        Data, scaled like the training data.
    n_rows : int, default=5
        How many of the most abnormal rows to show.
    n_features : int, default=10
        How many features to show (those with the largest errors).
    feature_names : sequence of str or None, default=None
        Names of the features; default ``estimator.feature_names_in_`` when
        fitted on named columns, else ``x0, x1, ...``.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure: rows are the abnormal rows (labelled by their index in
        ``X`` and score), columns the features.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderOutlierDetector
    >>> from skae.plotting import plot_outlier_features
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> X[0, 3] = 12.0
    >>> det = AutoencoderOutlierDetector(epochs=5, random_state=0).fit(X)
    >>> fig = plot_outlier_features(det, X, n_rows=3)
    >>> fig.axes[0].get_yticklabels()[0].get_text().startswith("row 0")
    True
    """
    check_is_fitted(estimator)
    for name, value in (("n_rows", n_rows), ("n_features", n_features)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    errors = estimator.reconstruction_error(X, per_feature=True)
    scale = getattr(estimator, "error_scale_", None)
    if scale is not None:
        errors = errors / scale
    scores = estimator.score_samples(X)
    rows = np.argsort(scores, kind="stable")[: min(n_rows, len(scores))]
    shown = errors[rows]
    columns = np.argsort(-shown.sum(axis=0), kind="stable")[:n_features]
    if feature_names is None:
        feature_names = getattr(estimator, "feature_names_in_", None)
    if feature_names is None:
        feature_names = [f"x{i}" for i in range(errors.shape[1])]
    if len(feature_names) != errors.shape[1]:
        raise ValueError(
            f"feature_names has {len(feature_names)} names for "
            f"{errors.shape[1]} features."
        )
    values = np.asarray(X)[rows][:, columns] if not hasattr(X, "iloc") else (
        X.iloc[rows, columns].to_numpy()
    )  # fmt: skip

    plt = _pyplot()
    fig, ax = plt.subplots(
        figsize=(1.0 + 0.8 * len(columns), 1.0 + 0.5 * len(rows)), layout="constrained"
    )
    image = ax.imshow(shown[:, columns], cmap="Reds", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(columns)):
            ax.text(j, i, f"{float(values[i, j]):.2g}", ha="center", va="center",
                    fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(columns)), [str(feature_names[c]) for c in columns],
                  rotation=45, ha="right")  # fmt: skip
    ax.set_yticks(range(len(rows)),
                  [f"row {r} (score {scores[r]:.3g})" for r in rows])  # fmt: skip
    label = "error / feature's mean training error" if scale is not None else (
        "squared reconstruction error"
    )  # fmt: skip
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title("Most abnormal rows: per-feature reconstruction errors")
    return fig
