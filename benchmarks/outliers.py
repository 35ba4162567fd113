"""Outlier detection: AutoencoderOutlierDetector against scikit-learn's detectors.

Usage::

    python benchmarks/outliers.py --odds ../shared/data/odds \\
        --mnist ../shared/data/mnist.npz --out benchmarks/results/
    python benchmarks/outliers.py --odds ../shared/data/odds --quick   # smoke run

The unsupervised protocol of ODDS / ADBench / PyOD's benchmark: each table is
standardized (StandardScaler on all rows), every detector is fitted on all
rows with the labels unseen (outliers included), every row is scored, and
the ROC-AUC of the scores against the labels is reported. Side by side in
one run: IsolationForest(random_state=0), LocalOutlierFactor (20
neighbours), OneClassSVM (rbf, nu=0.1), the reconstruction error of
PCA(n_features // 2), and AutoencoderOutlierDetector(random_state=0) with
its defaults. Fit-and-score times are reported beside each figure.

One-class MNIST (``--mnist``): for each digit, the detectors are fitted on
``--mnist-train`` training images of that digit (pixels / 255) and score
that digit's test images against ``--mnist-test`` test images of the other
digits; ROC-AUC per digit. The autoencoder trains for ``--mnist-epochs``
epochs there (its other settings are the defaults).

Bars (issue 14): mean ROC-AUC of skae on the six tables >= 0.84, and >= the
PCA reconstruction error's on each table. Goal: at least IsolationForest's
mean in the same run.

Writes ``outliers.json`` and ``outliers.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402

from skae import AutoencoderOutlierDetector  # noqa: E402

ODDS = ("annthyroid", "arrhythmia", "cardio", "musk", "satellite", "thyroid")
DETECTORS = ("IsolationForest", "LOF", "OneClassSVM", "PCA", "skae")


def _scores(name, X_fit, X_score, epochs=None):
    """Higher = more abnormal, for the rows of ``X_score``."""
    if name == "IsolationForest":
        return -IsolationForest(random_state=0).fit(X_fit).score_samples(X_score)
    if name == "LOF":
        lof = LocalOutlierFactor(n_neighbors=20, novelty=X_fit is not X_score)
        if X_fit is X_score:
            return -lof.fit(X_fit).negative_outlier_factor_
        return -lof.fit(X_fit).score_samples(X_score)
    if name == "OneClassSVM":
        return -OneClassSVM(nu=0.1, gamma="scale").fit(X_fit).score_samples(X_score)
    if name == "PCA":
        pca = PCA(max(1, X_fit.shape[1] // 2), random_state=0).fit(X_fit)
        rebuilt = pca.inverse_transform(pca.transform(X_score))
        return np.mean((X_score - rebuilt) ** 2, axis=1)
    params = {} if epochs is None else {"epochs": epochs}
    det = AutoencoderOutlierDetector(random_state=0, **params)
    return -det.fit(X_fit).score_samples(X_score)


def _auc(name, y, X_fit, X_score, epochs=None):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = _scores(name, X_fit, X_score, epochs)
    return float(roc_auc_score(y, scores)), time.perf_counter() - start


def odds(folder, names):
    records = []
    for table in names:
        with np.load(Path(folder) / f"{table}.npz") as data:
            X = StandardScaler().fit_transform(data["x"])
            y = data["y"]
        record = {"data": table, "n": len(X), "d": X.shape[1]}
        for name in DETECTORS:
            record[name], record[f"{name}_s"] = _auc(name, y, X, X)
        common.log(f"{table}: " + ", ".join(f"{n} {record[n]:.3f}" for n in DETECTORS))
        records.append(record)
    return records


def one_class_mnist(path, n_train, n_test, epochs):
    with np.load(path) as data:
        X_train = data["x_train"].reshape(len(data["x_train"]), -1) / 255.0
        X_test = data["x_test"].reshape(len(data["x_test"]), -1) / 255.0
        y_train, y_test = data["y_train"], data["y_test"]
    rng = np.random.default_rng(0)
    records = []
    for digit in range(10):
        fit = X_train[y_train == digit][:n_train].astype(np.float32)
        inliers = X_test[y_test == digit]
        others = X_test[y_test != digit]
        others = others[rng.choice(len(others), min(n_test, len(others)), False)]
        X_score = np.concatenate([inliers, others]).astype(np.float32)
        y = np.r_[np.zeros(len(inliers)), np.ones(len(others))]
        record = {"data": f"MNIST digit {digit}", "n": len(fit), "d": fit.shape[1]}
        for name in DETECTORS:
            record[name], record[f"{name}_s"] = _auc(name, y, fit, X_score, epochs)
        common.log(
            f"digit {digit}: " + ", ".join(f"{n} {record[n]:.3f}" for n in DETECTORS)
        )
        records.append(record)
    return records


def summary(records):
    means = {name: float(np.mean([r[name] for r in records])) for name in DETECTORS}
    return {
        "mean_auc": means,
        "skae_mean_at_least_0.84": bool(means["skae"] >= 0.84),
        "skae_at_least_pca_on_each": bool(all(r["skae"] >= r["PCA"] for r in records)),
        "skae_at_least_isolation_forest_mean": bool(
            means["skae"] >= means["IsolationForest"]
        ),
    }


def markdown(title, records):
    columns = {"data": "{data}", "rows": "{n}", "features": "{d}"}
    for name in DETECTORS:
        columns[name] = "{" + name + ":.3f} ({" + name + "_s:.1f} s)"
    lines = [f"### {title}", "", *common.md_records(columns, records)]
    means = {name: np.mean([r[name] for r in records]) for name in DETECTORS}
    cells = " | ".join(f"{means[n]:.3f}" for n in DETECTORS)
    lines.append(f"| mean | | | {cells} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--odds", required=True, help="folder of the ODDS tables")
    parser.add_argument("--mnist", help="path to mnist.npz (one-class MNIST)")
    parser.add_argument("--mnist-train", type=int, default=2000)
    parser.add_argument("--mnist-test", type=int, default=2000)
    parser.add_argument("--mnist-epochs", type=int, default=20)
    parser.add_argument("--out", default="results", help="folder for the results")
    parser.add_argument("--quick", action="store_true", help="two small tables only")
    args = parser.parse_args(argv)
    names = ("cardio", "thyroid") if args.quick else ODDS
    start = time.perf_counter()
    result = {"odds": odds(args.odds, names)}
    result["odds_summary"] = summary(result["odds"])
    lines = markdown("ODDS tables (ROC-AUC, fit and score time)", result["odds"])
    lines += ["", *(f"- {k}: {v}" for k, v in result["odds_summary"].items())]
    if args.mnist and not args.quick:
        result["mnist"] = one_class_mnist(
            args.mnist, args.mnist_train, args.mnist_test, args.mnist_epochs
        )
        result["mnist_mean_auc"] = summary(result["mnist"])["mean_auc"]
        lines += ["", *markdown("One-class MNIST (ROC-AUC)", result["mnist"])]
    result["total_s"] = time.perf_counter() - start
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "outliers.md").write_text(text + "\n")
    (out / "outliers.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
