"""Command line: ``python -m skae compare`` (also the ``skae`` console script).

Compares PCA with the autoencoder (and optionally kernel PCA) on a data set,
prints the results table and writes ``results.csv``, ``results.md`` and PNG
figures to an output folder.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import warnings
from pathlib import Path

REDUCERS = ("pca", "autoencoder", "kernel_pca")
DATASETS = ("digits", "mnist", "fashion_mnist")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def build_parser():
    """Build the argument parser of the ``skae`` command."""
    parser = _Parser(prog="skae", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )
    cmp = commands.add_parser(
        "compare",
        help="compare PCA and the autoencoder on a data set",
        description="Fit each reducer at each n_components on the training split, "
        "measure reconstruction (and denoising) on the test split.",
    )
    cmp.add_argument(
        "--dataset",
        default="digits",
        help="digits (bundled with scikit-learn, default), mnist, fashion_mnist, "
        "or a path to a .npz in Keras's layout",
    )
    cmp.add_argument(
        "--n-components", type=_positive_int, nargs="+", default=[2, 4, 8, 16, 32],
        metavar="K", help="code widths to compare (default: 2 4 8 16 32)",
    )  # fmt: skip
    cmp.add_argument(
        "--reducers", nargs="+", choices=REDUCERS, default=["pca", "autoencoder"],
        help="which reducers to compare (default: pca autoencoder)",
    )  # fmt: skip
    cmp.add_argument(
        "--noise", choices=("none", "gaussian", "masking", "salt_and_pepper"),
        default="none",
        help="also measure denoising of test data corrupted with this noise; the "
        "autoencoder is then trained as a denoising autoencoder",
    )  # fmt: skip
    cmp.add_argument("--noise-level", type=_non_negative_float, default=0.3)
    cmp.add_argument("--epochs", type=_positive_int, default=50)
    cmp.add_argument(
        "--hidden", type=_positive_int, nargs="*", default=[128, 64], metavar="UNITS",
        help="hidden layer sizes of the autoencoder's encoder (default: 128 64)",
    )  # fmt: skip
    cmp.add_argument("--batch-size", type=_positive_int, default=128)
    cmp.add_argument(
        "--max-train", type=_positive_int, default=None, metavar="N",
        help="use at most N training samples",
    )  # fmt: skip
    cmp.add_argument("--random-state", type=int, default=0)
    cmp.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    cmp.add_argument(
        "--verbose", action="store_true", help="show the autoencoder's epochs"
    )
    return parser


def _load(dataset, random_state):
    """Return (X_train, X_test, y_test, image_shape or None)."""
    from . import datasets

    if dataset == "digits":
        from sklearn.model_selection import train_test_split

        X, y = datasets.load_digits()
        X_train, X_test, _, y_test = train_test_split(
            X, y, test_size=0.2, random_state=random_state, stratify=y
        )
    elif dataset in ("mnist", "fashion_mnist"):
        (X_train, _), (X_test, y_test) = getattr(datasets, f"load_{dataset}")()
    else:
        (X_train, _), (X_test, y_test) = datasets.load_npz(dataset)
    side = math.isqrt(X_train.shape[1])
    shape = (side, side) if side * side == X_train.shape[1] else None
    return X_train, X_test, y_test, shape


def _reducers(args):
    from sklearn.decomposition import PCA, KernelPCA

    from . import AutoencoderTransformer

    noise = None if args.noise == "none" else args.noise
    make = {
        "pca": lambda: PCA(random_state=args.random_state),
        "kernel_pca": lambda: KernelPCA(
            kernel="rbf", fit_inverse_transform=True, random_state=args.random_state
        ),
        "autoencoder": lambda: AutoencoderTransformer(
            hidden_layer_sizes=tuple(args.hidden),
            epochs=args.epochs,
            batch_size=args.batch_size,
            noise=noise,
            noise_level=args.noise_level,
            random_state=args.random_state,
            verbose=2 if args.verbose else 0,
        ),
    }
    names = {"pca": "PCA", "kernel_pca": "KernelPCA", "autoencoder": "autoencoder"}
    return {names[r]: make[r]() for r in dict.fromkeys(args.reducers)}


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _markdown(rows):
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c == "reducer" else "---:" for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(_format(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _write_figures(args, rows, fitted, X_test, X_noisy, shape, log):
    try:
        import matplotlib.pyplot as plt

        from . import plotting
    except ImportError:
        log('matplotlib is not installed: no figures (pip install "skae[plot]")')
        return []
    written = []
    metric = "psnr" if X_noisy is not None else "mse"
    fig = plotting.plot_error_vs_components(rows, metric=metric)
    written.append(args.out / "error_vs_components.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    if shape is not None:
        k = max(args.n_components)
        source = X_test if X_noisy is None else X_noisy
        images = {"original": X_test}
        if X_noisy is not None:
            images["noisy"] = X_noisy
        for (name, width), est in fitted.items():
            if width == k:
                images[f"{name} ({k})"] = est.inverse_transform(est.transform(source))
        fig = plotting.plot_reconstructions(images, shape, n_images=10)
        written.append(args.out / "reconstructions.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written


def compare(args, log):
    """Run ``skae compare`` with parsed ``args``; return the exit status."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from . import add_noise, compare_reducers
    from .datasets import DatasetUnavailableError

    try:
        X_train, X_test, _, shape = _load(args.dataset, args.random_state)
    except (DatasetUnavailableError, FileNotFoundError, ValueError) as exc:
        log(f"skae: error: {exc}")
        return 2
    if args.max_train is not None and args.max_train < len(X_train):
        rng = np.random.default_rng(args.random_state)
        X_train = X_train[np.sort(rng.choice(len(X_train), args.max_train, False))]
    noise = None if args.noise == "none" else args.noise
    reducers = _reducers(args)
    total = len(reducers) * len(args.n_components)
    log(
        f"{args.dataset}: {len(X_train)} training and {len(X_test)} test samples, "
        f"{X_train.shape[1]} features; {total} fits"
        + (f"; test noise {noise} at {args.noise_level}" if noise else "")
    )
    start, done = time.perf_counter(), []

    def progress(row):
        done.append(row)
        log(
            f"[{len(done)}/{total}] {row['reducer']} n_components="
            f"{row['n_components']}: mse {row['mse']:.4g}, fit {row['fit_s']:.1f} s "
            f"({time.perf_counter() - start:.0f} s elapsed)"
        )

    if "autoencoder" in args.reducers:
        log("loading TensorFlow (not counted in fit times)...")
        from . import _training  # noqa: F401

    clip = (0.0, 1.0) if noise == "gaussian" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        _, fitted = compare_reducers(
            reducers, X_train, X_test, n_components=args.n_components, noise=noise,
            noise_level=args.noise_level, clip=clip, random_state=args.random_state,
            progress=progress, return_estimators=True,
        )  # fmt: skip
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            log(f"warning: {w.message}")
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    if unconverged:
        log(
            f"note: {unconverged} fit(s) were still improving at their last epoch; "
            "more --epochs may reconstruct better"
        )
    rows = done
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = _markdown(rows)
    (args.out / "results.md").write_text(table)
    print(table, end="")
    X_noisy = None
    if noise is not None:
        X_noisy = add_noise(
            X_test, noise, args.noise_level, args.random_state, clip=clip
        )
    figures = _write_figures(args, rows, fitted, X_test, X_noisy, shape, log)
    outputs = ["results.csv", "results.md"] + [p.name for p in figures]
    log(f"wrote {', '.join(outputs)} to {args.out}/")
    return 0


def main(argv=None):
    """Entry point of the ``skae`` command; returns the exit status."""
    args = build_parser().parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    if args.noise != "none" and args.noise != "gaussian" and args.noise_level > 1:
        log(f"skae: error: --noise-level for {args.noise} is a share, at most 1")
        return 2
    return compare(args, log)
