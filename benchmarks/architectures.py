"""Bars of the architectures issue: convolutional against dense on MNIST.

Usage::

    python benchmarks/architectures.py --data ../shared/data/mnist.npz --out results/
    python benchmarks/architectures.py --quick      # 5,000 rows, 1 epoch: smoke run

Measures, in one run, at ``n_components=32`` and equal epochs (10 by default),
with ``quality.py``'s recipe (``common.RECIPE``: binary cross-entropy, sigmoid
output):

1. Reduction: test MSE of ``architecture="conv"`` (``image_shape=(28, 28)``,
   ``filters=(32, 64)``) against the dense 784-256-128-32 autoencoder.
   Bar: the convolutional MSE is lower.
2. Denoising, Gaussian noise sigma=0.3 clipped to [0, 1] (``common.NOISE``, as
   in ``quality.py``): PSNR of the convolutional denoising autoencoder against the
   dense one, both trained on that noise. Bar: at least as high.

Writes ``architectures.json`` and ``architectures.md`` to ``--out``.
"""

import time
import warnings

import common
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer

#: The convolutional autoencoder: ``common.RECIPE`` with convolutions in place of
#: its dense layers.
CONV = dict(architecture="conv", image_shape=(28, 28), filters=(32, 64))


def run(path, epochs, n_train, random_state):
    X_train, X_test = common.load_mnist_subset(path, n_train)
    common.log(f"MNIST: {len(X_train)} train / {len(X_test)} test, {epochs} epochs")
    dense = dict(epochs=epochs, random_state=random_state, verbose=2, **common.RECIPE)
    conv = {**dense, **CONV}
    reducers = {
        "dense": AutoencoderTransformer(**dense),
        "conv": AutoencoderTransformer(**conv),
        "dense, denoising": AutoencoderTransformer(**dense, **common.NOISE),
        "conv, denoising": AutoencoderTransformer(**conv, **common.NOISE),
    }
    table, fitted = common.compare_on_mnist(
        reducers, X_train, X_test, random_state, return_estimators=True
    )
    rows = table.set_index("reducer")
    mse_ratio = rows.loc["conv", "mse"] / rows.loc["dense", "mse"]
    psnr_gain = (
        rows.loc["conv, denoising", "psnr"] - rows.loc["dense, denoising", "psnr"]
    )
    return {
        "table": table.to_dict("records"),
        "params": {
            name: est.model_.count_params() for (name, _), est in fitted.items()
        },
        "conv_over_dense_mse": float(mse_ratio),
        "reduction_bar_met": bool(mse_ratio < 1),
        "conv_minus_dense_denoising_psnr_db": float(psnr_gain),
        "denoising_bar_met": bool(psnr_gain >= 0),
    }


def markdown(result):
    s = result["settings"]
    lines = [
        f"MNIST, n_components=32, {s['epochs']} epochs each, "
        f"{s['n_train'] or 60000} training images; test MSE on the clean test "
        "set, PSNR on the test set with Gaussian noise sigma=0.3 clipped to [0, 1].",
        "",
        "| model | params | test MSE | denoising PSNR (dB) | fit (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in result["table"]:
        lines.append(
            f"| {row['reducer']} | {result['params'][row['reducer']]:,} | "
            f"{row['mse']:.5f} | {row['psnr']:.2f} | {row['fit_s']:.0f} |"
        )
    r = result
    lines += [
        "",
        f"- conv / dense test MSE: {r['conv_over_dense_mse']:.3f} (bar < 1: "
        f"{common.met(r['reduction_bar_met'])})",
        f"- conv - dense denoising PSNR: {r['conv_minus_dense_denoising_psnr_db']:+.2f}"
        f" dB (bar >= 0: {common.met(r['denoising_bar_met'])})",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = common.arg_parser(__doc__, "5,000 rows, 1 epoch")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    n_train = 5_000 if args.quick else None
    epochs = 1 if args.quick else args.epochs

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = run(args.data, epochs, n_train, args.random_state)
    result["settings"] = {
        "epochs": epochs,
        "n_train": n_train,
        "quick": args.quick,
        "recipe": common.RECIPE,
        "conv": CONV,
        "noise": common.NOISE,
    }
    result["total_s"] = time.perf_counter() - start
    common.write_results(args.out, "architectures", result, markdown(result))
    common.log(f"total {result['total_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
