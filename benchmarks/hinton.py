"""Stretch of issue 13: Hinton & Salakhutdinov's deep MNIST autoencoder.

Usage::

    python benchmarks/hinton.py --data ../shared/data/mnist.npz --out results/
    python benchmarks/hinton.py --quick      # 2,000 images, one minute

Hinton & Salakhutdinov (Science, 2006) trained a 784-1000-500-250-30
autoencoder on MNIST (pretrained as stacked RBMs, then fine-tuned) to an
average squared error of 3.00 per test image, against 13.87 for PCA with 30
components. This script trains skae's default model of that shape
(``AutoencoderTransformer(30, hidden_layer_sizes=(1000, 500, 250))``:
PCA-anchored, relu, MSE, Adam, early stopping on 10 % of the rows) on the
60,000 training images (pixels / 255) for at most ``--minutes`` of training,
stopping at the end of the first epoch past that, and reports the squared
error per test image (the sum over its 784 pixels, averaged over the 10,000
test images) next to PCA's, with the epochs run and the time taken.

It is a report, not a bar: the figure depends on the time budget and the
machine. Writes ``hinton.json`` and ``hinton.md`` to ``--out``.
"""

import time

import common
import keras
import numpy as np
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer

#: The published figures: squared error per test image.
PUBLISHED = {"autoencoder": 3.00, "pca": 13.87}


class TimeLimit(keras.callbacks.Callback):
    """Stop training at the end of the first epoch past ``seconds``."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.stopped = False

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        common.log(
            f"  epoch {epoch + 1}: loss {logs['loss']:.5f}, "
            f"val_loss {logs.get('val_loss', float('nan')):.5f}, {elapsed:.0f} s"
        )
        if elapsed > self.seconds:
            self.stopped = self.model.stop_training = True


def per_image(X, X_hat):
    """Squared error per image: the sum over pixels, averaged over images."""
    return float(np.mean(np.sum((X - X_hat) ** 2, axis=1, dtype=np.float64)))


def main(argv=None):
    parser = common.arg_parser(__doc__, "2,000 training images, one minute")
    parser.add_argument("--minutes", type=float, default=28.0)
    args = parser.parse_args(argv)
    n_train, minutes = (2000, 1.0) if args.quick else (None, args.minutes)
    X_train, X_test = common.load_mnist_subset(args.data, n_train)

    seconds, pca = common.timed(lambda: PCA(30, random_state=0).fit(X_train))
    pca_error = per_image(X_test, pca.inverse_transform(pca.transform(X_test)))
    common.log(f"PCA(30): {pca_error:.2f} per image, fit {seconds:.1f} s")

    limit = TimeLimit(60 * minutes)
    ae = AutoencoderTransformer(
        30,
        hidden_layer_sizes=(1000, 500, 250),
        epochs=1000,
        callbacks=[limit],
        random_state=0,
    )
    ae_seconds, _ = common.timed(lambda: ae.fit(X_train))
    ae_error = per_image(X_test, ae.inverse_transform(ae.transform(X_test)))
    result = {
        "n_train": len(X_train),
        "minutes_budget": minutes,
        "pca_error_per_image": pca_error,
        "pca_fit_s": seconds,
        "skae_error_per_image": ae_error,
        "skae_fit_s": ae_seconds,
        "skae_epochs": int(ae.n_iter_),
        "skae_best_validation_mse": -ae.best_validation_score_,
        "stopped_by": "time budget" if limit.stopped else "early stopping",
        "published": PUBLISHED,
    }
    table = "\n".join(
        [
            "| model | squared error per test image | fit s | epochs |",
            "|---|---:|---:|---:|",
            f"| PCA(30) | {pca_error:.2f} | {seconds:.1f} | |",
            f"| skae 784-1000-500-250-30 | {ae_error:.2f} | {ae_seconds:.0f} "
            f"| {ae.n_iter_} |",
            f"| published PCA(30) | {PUBLISHED['pca']:.2f} | | |",
            f"| published autoencoder | {PUBLISHED['autoencoder']:.2f} | | |",
            "",
            f"Training {len(X_train)} images, at most {minutes:g} min; stopped by "
            f"{result['stopped_by']} after {ae.n_iter_} epochs.",
        ]
    )
    common.write_results(args.out, "hinton", result, table + "\n")


if __name__ == "__main__":
    main()
