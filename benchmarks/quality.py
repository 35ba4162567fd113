"""Quality bars of the denoising issue: autoencoder against PCA and kernel PCA.

Usage::

    python benchmarks/quality.py --data ../shared/data/mnist.npz --out results/
    python benchmarks/quality.py --quick      # small subsets, a smoke run

Measures, in one run:

1. MNIST reduction at n_components=32: test MSE of the autoencoder against
   PCA(32). Bar: ratio <= 0.45.
2. MNIST denoising, Gaussian noise sigma=0.3 clipped to [0, 1] on the test
   images: PSNR of the denoising autoencoder against PCA(32). Bar: >= +3 dB.
   The denoising autoencoder trains on the same noise, clipped the same way
   (``noise_clip=(0, 1)``; on 30k images and 10 epochs clipping gave +1.0 dB).
3. Digits at the settings of scikit-learn's kernel-PCA denoising example
   (1,000 train / 100 test, MinMax-scaled, noise sigma=0.25 on both, PCA(32),
   KernelPCA(400, rbf, gamma=1e-3, alpha=5e-3)): the denoising autoencoder's
   MSE is lower than both.

Writes ``quality.json`` and ``quality.md`` to ``--out`` and prints the table.
"""

import time
import warnings

import common
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, KernelPCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer


def mnist_bars(path, epochs, n_train, random_state):
    X_train, X_test = common.load_mnist_subset(path, n_train)
    common.log(f"MNIST: {len(X_train)} train / {len(X_test)} test, {epochs} epochs")
    params = dict(epochs=epochs, random_state=random_state, verbose=2, **common.RECIPE)
    reducers = {
        "PCA(32)": PCA(32, random_state=random_state),
        "autoencoder": AutoencoderTransformer(**params),
        "denoising autoencoder": AutoencoderTransformer(**params, **common.NOISE),
    }
    table = common.compare_on_mnist(reducers, X_train, X_test, random_state)
    pca, ae, dae = (table.set_index("reducer").loc[name] for name in reducers)
    return {
        "table": table.to_dict("records"),
        "reduction_mse_ratio": float(ae["mse"] / pca["mse"]),
        "reduction_bar_met": bool(ae["mse"] / pca["mse"] <= 0.45),
        "sse_per_image": {
            "PCA(32)": float(pca["mse"] * 784),
            "autoencoder": float(ae["mse"] * 784),
        },
        "denoising_psnr_gain_db": float(dae["psnr"] - pca["psnr"]),
        "denoising_bar_met": bool(dae["psnr"] - pca["psnr"] >= 3),
        "noisy_input_psnr": float(pca["input_psnr"]),
    }


def noisy_digits():
    """The data of scikit-learn's kernel-PCA denoising example.

    Digits scaled to [0, 1], a stratified 1,000 / 100 split, and Gaussian
    noise of sigma 0.25 drawn from ``RandomState(0)``, test images first.
    Returns the clean and the noisy training and test images.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test = train_test_split(
        MinMaxScaler().fit_transform(X), stratify=y, random_state=0,
        train_size=1_000, test_size=100,
    )  # fmt: skip
    rng = np.random.RandomState(0)
    X_test_noisy, X_train_noisy = (
        x + rng.normal(scale=0.25, size=x.shape) for x in (X_test, X_train)
    )
    return X_train, X_test, X_train_noisy, X_test_noisy


def digits_bar(epochs, random_state):
    X_train, X_test, X_train_noisy, X_test_noisy = noisy_digits()
    ae = dict(n_components=32, hidden_layer_sizes=(256, 128), epochs=epochs,
              batch_size=32, random_state=random_state)  # fmt: skip
    # (name, estimator, training data): the PCAs see noisy training images only,
    # as in scikit-learn's example; the denoising autoencoder needs clean
    # targets, so it trains on clean images it corrupts itself. The last row is
    # an autoencoder given exactly what the PCAs get.
    contenders = [
        ("PCA(32)", PCA(32, random_state=42), X_train_noisy),
        ("KernelPCA(400)", KernelPCA(
            n_components=400, kernel="rbf", gamma=1e-3, fit_inverse_transform=True,
            alpha=5e-3, random_state=42), X_train_noisy),
        ("denoising autoencoder", AutoencoderTransformer(
            noise="gaussian", noise_level=0.25, **ae), X_train),
        ("autoencoder on noisy images", AutoencoderTransformer(**ae), X_train_noisy),
    ]  # fmt: skip
    results = {"noisy input": float(np.mean((X_test_noisy - X_test) ** 2))}
    for name, est, data in contenders:
        fit_s, _ = common.timed(lambda est=est, data=data: est.fit(data))
        recon = est.inverse_transform(est.transform(X_test_noisy))
        results[name] = float(np.mean((recon - X_test) ** 2))
        common.log(f"  digits {name}: mse {results[name]:.4f} ({fit_s:.1f} s)")
    bar = results["denoising autoencoder"] < min(
        results["PCA(32)"], results["KernelPCA(400)"]
    )
    return {"mse": results, "bar_met": bool(bar)}


def markdown(result):
    m = result["mnist"]
    lines = [
        "| reducer | test MSE | SSE per image | denoising PSNR (dB) | fit (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in m["table"]:
        lines.append(
            f"| {row['reducer']} | {row['mse']:.5f} | {row['mse'] * 784:.2f} | "
            f"{row['psnr']:.2f} | {row['fit_s']:.0f} |"
        )
    lines.append(f"| noisy input | | | {m['noisy_input_psnr']:.2f} | |")
    lines += [
        "",
        f"- reduction: autoencoder MSE / PCA(32) MSE = "
        f"{m['reduction_mse_ratio']:.3f} (bar <= 0.45: "
        f"{common.met(m['reduction_bar_met'])})",
        f"- denoising: PSNR gain over PCA(32) = {m['denoising_psnr_gain_db']:.2f} dB "
        f"(bar >= 3 dB: {common.met(m['denoising_bar_met'])})",
        "",
        "| digits, scikit-learn's denoising settings | test MSE |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.4f} |" for k, v in result["digits"]["mse"].items()]
    lines.append(
        f"\n- digits: denoising autoencoder below PCA and KernelPCA: "
        f"{common.met(result['digits']['bar_met'])}"
    )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = common.arg_parser(__doc__, "5,000 MNIST rows, few epochs: smoke run")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--digits-epochs", type=int, default=100)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    n_train = 5_000 if args.quick else None
    epochs = 2 if args.quick else args.epochs
    digits_epochs = 5 if args.quick else args.digits_epochs

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = {
            "settings": {"epochs": epochs, "digits_epochs": digits_epochs,
                         "quick": args.quick, "recipe": common.RECIPE,
                         "noise": common.NOISE},
            "mnist": mnist_bars(args.data, epochs, n_train, args.random_state),
            "digits": digits_bar(digits_epochs, args.random_state),
        }  # fmt: skip
    result["total_s"] = time.perf_counter() - start
    common.write_results(args.out, "quality", result, markdown(result))
    common.log(f"total {result['total_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
