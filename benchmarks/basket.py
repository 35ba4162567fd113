"""The PCA-anchored default against PCA, over a basket of real data sets.

Usage::

    python benchmarks/basket.py --mnist ../shared/data/mnist.npz \\
        --odds ../shared/data/odds --out benchmarks/results/
    python benchmarks/basket.py --quick       # digits and two tables: a smoke run

For every case: held-out reconstruction MSE of ``PCA(k)``, of the default
``AutoencoderTransformer(k)`` (``init="auto"``, which is the PCA-anchored
model here) and of ``init="random"``, all with ``random_state=0``; the
autoencoders with default settings except ``epochs=10`` on MNIST. Fit times
are reported beside each figure.

The basket:

- digits (scikit-learn's bundled 8x8 images, scaled to [0, 1]),
  k = 4, 8, 16, 32, split 75/25;
- MNIST (``--mnist``; pixels / 255), k = 32, 64, 10 epochs, the file's own
  60,000 / 10,000 split;
- tables, StandardScaler fitted on the training part, k = d/4 and d/2
  (at least 1), split 75/25: scikit-learn's bundled breast_cancer and wine,
  and the normal rows (``y == 0``) of the six tables in ``--odds``.

Bars (issue 13): the default is never worse than PCA by more than 2 % on
any case; the geometric mean of default/PCA over the basket is at most
0.55; at k = 32, digits at most 0.80x PCA and MNIST at most 0.60x PCA.

Writes ``basket.json`` and ``basket.md`` to ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402

from skae import AutoencoderTransformer  # noqa: E402

ODDS = ("annthyroid", "arrhythmia", "cardio", "musk", "satellite", "thyroid")


def _split(X, random_state=0):
    return train_test_split(X, test_size=0.25, random_state=random_state)


def _scaled_table(X):
    X_train, X_test = _split(np.asarray(X, dtype=np.float64))
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def _table_ks(d):
    return sorted({max(1, d // 4), max(1, d // 2)})


def cases(mnist=None, odds=None, quick=False):
    """Yield ``(name, X_train, X_test, ks, params)`` for every data set."""
    digits = load_digits().data / 16.0
    yield ("digits", *_split(digits), (4, 8, 16, 32), {})
    tables = {"breast_cancer": load_breast_cancer().data, "wine": load_wine().data}
    if odds is not None and not quick:
        for name in ODDS:
            data = np.load(Path(odds) / f"{name}.npz")
            tables[f"{name} (normal rows)"] = data["x"][data["y"] == 0]
    for name, X in tables.items():
        yield (name, *_scaled_table(X), _table_ks(X.shape[1]), {})
    if mnist is not None and not quick:
        with np.load(mnist) as data:
            X_train = data["x_train"].reshape(len(data["x_train"]), -1) / 255.0
            X_test = data["x_test"].reshape(len(data["x_test"]), -1) / 255.0
        yield ("MNIST", X_train.astype(np.float32), X_test.astype(np.float32),
               (32, 64), {"epochs": 10})  # fmt: skip


def _fit_mse(reducer, X_train, X_test):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reducer.fit(X_train)
    seconds = time.perf_counter() - start
    X_hat = reducer.inverse_transform(reducer.transform(X_test))
    return common.mse(X_test, X_hat), seconds


def run(mnist=None, odds=None, quick=False, epochs=None):
    records = []
    for name, X_train, X_test, ks, params in cases(mnist, odds, quick):
        if epochs is not None:
            params = {**params, "epochs": epochs}
        for k in ks:
            record = {
                "data": name,
                "n_train": len(X_train),
                "d": X_train.shape[1],
                "k": k,
            }
            pca = PCA(k, random_state=0)
            record["pca"], record["pca_s"] = _fit_mse(pca, X_train, X_test)
            for label, init in (("default", "auto"), ("random", "random")):
                ae = AutoencoderTransformer(k, init=init, random_state=0, **params)
                record[label], record[f"{label}_s"] = _fit_mse(ae, X_train, X_test)
                record[f"{label}_epochs"] = int(ae.n_iter_)
            record["ratio"] = record["default"] / record["pca"]
            record["random_ratio"] = record["random"] / record["pca"]
            common.log(
                f"{name} k={k}: PCA {record['pca']:.5f}, default "
                f"{record['default']:.5f} ({record['ratio']:.3f}x, "
                f"{record['default_s']:.1f} s), random "
                f"{record['random']:.5f} ({record['random_ratio']:.3f}x)"
            )
            records.append(record)
    return records


def bars(records):
    ratios = np.array([r["ratio"] for r in records])
    geo = float(np.exp(np.mean(np.log(ratios))))
    at32 = {r["data"]: r["ratio"] for r in records if r["k"] == 32}
    out = {
        "worst_ratio": float(ratios.max()),
        "never_2pct_worse": bool(ratios.max() <= 1.02),
        "geometric_mean_ratio": geo,
        "geometric_mean_met": bool(geo <= 0.55),
        "random_geometric_mean_ratio": float(
            np.exp(np.mean(np.log([r["random_ratio"] for r in records])))
        ),
    }
    if "digits" in at32:
        out["digits_k32_ratio"] = at32["digits"]
        out["digits_k32_met"] = bool(at32["digits"] <= 0.80)
    if "MNIST" in at32:
        out["mnist_k32_ratio"] = at32["MNIST"]
        out["mnist_k32_met"] = bool(at32["MNIST"] <= 0.60)
    return out


def markdown(records, summary):
    columns = {
        "data": "{data}", "k": "{k}", "PCA MSE": "{pca:.5f}",
        "default MSE": "{default:.5f}", "default/PCA": "{ratio:.3f}",
        "random MSE": "{random:.5f}", "random/PCA": "{random_ratio:.3f}",
        "PCA fit s": "{pca_s:.2f}", "default fit s": "{default_s:.1f}",
        "random fit s": "{random_s:.1f}", "default epochs": "{default_epochs}",
    }  # fmt: skip
    lines = common.md_records(columns, records)
    lines += ["", *(f"- {key}: {value}" for key, value in summary.items())]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", help="path to mnist.npz")
    parser.add_argument("--odds", help="folder of the ODDS tables")
    parser.add_argument("--out", default="results", help="folder for the results")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--epochs", type=int, help="override epochs everywhere")
    args = parser.parse_args(argv)
    records = run(args.mnist, args.odds, args.quick, args.epochs)
    summary = bars(records)
    text = markdown(records, summary)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "basket.md").write_text(text + "\n")
    (out / "basket.json").write_text(
        json.dumps({"records": records, "bars": summary}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
