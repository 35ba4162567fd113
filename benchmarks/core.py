"""Figures for the core estimator: transform latency against PCA, import time.

Usage::

    python benchmarks/core.py [--repeats 200] [--out results/core.json]

Everything is timed in this one process as ratios against PCA measured in the
same run, so a noisy machine cancels out. Prints a markdown table.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning


def median_seconds(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_seconds(repeats=5):
    code = (
        "import time, sys; t = time.perf_counter(); import skae; "
        "print(time.perf_counter() - t, 'tensorflow' in sys.modules)"
    )
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        runs.append((float(out[0]), out[1] == "True"))
    return statistics.median(t for t, _ in runs), any(tf for _, tf in runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from skae import AutoencoderTransformer

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(2000, 784)).astype(np.float32)
    pca = PCA(n_components=32, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae = AutoencoderTransformer(n_components=32, epochs=1, random_state=0).fit(X)

    rows = []
    for n in (1, 10, 100, 10_000):
        Xn = rng.uniform(size=(n, 784)).astype(np.float32)
        reps = max(3, args.repeats // max(1, n // 100))
        t_ae = median_seconds(lambda Xn=Xn: ae.transform(Xn), reps)
        t_pca = median_seconds(lambda Xn=Xn: pca.transform(Xn), reps)
        t_predict = (
            median_seconds(lambda Xn=Xn: ae.encoder_.predict(Xn, verbose=0), 20)
            if n <= 100
            else None
        )
        rows.append(
            {
                "rows": n,
                "skae_transform_ms": 1e3 * t_ae,
                "pca_transform_ms": 1e3 * t_pca,
                "ratio_to_pca": t_ae / t_pca,
                "keras_predict_ms": None if t_predict is None else 1e3 * t_predict,
            }
        )
    t_import, tf_loaded = import_seconds()
    result = {
        "transform": rows,
        "import_skae_s": t_import,
        "import_loads_tensorflow": tf_loaded,
    }

    print(
        "| rows | skae.transform (ms) | PCA.transform (ms) | ratio | "
        "encoder_.predict (ms) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        pred = "" if r["keras_predict_ms"] is None else f"{r['keras_predict_ms']:.2f}"
        print(
            f"| {r['rows']} | {r['skae_transform_ms']:.3f} | "
            f"{r['pca_transform_ms']:.3f} | {r['ratio_to_pca']:.1f} | {pred} |"
        )
    print(
        f"\n`import skae`: {t_import * 1e3:.0f} ms (median of 5 fresh "
        f"interpreters); TensorFlow loaded by it: {tf_loaded}"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
