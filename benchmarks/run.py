"""Performance of skae: wrapper overhead, throughput, latency, import, scale.

Usage::

    python benchmarks/run.py --data ../shared/data/mnist.npz --out results/
    python benchmarks/run.py --quick      # small subsets, 1-2 epochs: a CI smoke run
    python benchmarks/run.py ... --memmap-gb 4   # also: one epoch on a 4 GB memmap

Sections, each timed in this one run as ratios against a baseline measured
alongside it (the machine is shared and noisy; medians of repeats throughout):

1. overhead  -- epoch time of ``AutoencoderTransformer.fit`` against a plain Keras
   ``model.fit`` of the same 784-256-128-32 model. Bar: ratio <= 1.05.
2. scikeras  -- scikeras's autoencoder recipe (a ``BaseWrapper`` subclass) against
   skae at 784-32-784 and 784-256-128-32: fit time and test MSE over several
   seeds, the two libraries' fits interleaved. Bars: median paired fit-time
   ratio <= 1.05; skae's mean MSE <= scikeras's + one standard error of the
   difference. Runs last: a seeded scikeras fit can leave TensorFlow's op
   determinism on.
3. pca       -- PCA against the autoencoder over ``n_components``: fit time,
   transform time per 1,000 rows, test MSE.
4. hardware  -- training throughput of the default skae fit in samples/s and
   GFLOP/s against NumPy's float32 matmul peak. Bar: >= 50% of peak; when
   missed, plain Keras fits and ``train_on_batch`` steps at larger batches and
   NumPy's matmuls of the same shapes show what holds it back.
5. latency   -- ``transform`` of 1 to 10,000 rows against ``PCA.transform``.
   Bars: one row <= 1 ms; <= 10x PCA.
6. import    -- ``import skae`` in fresh interpreters, against
   ``import sklearn.decomposition``; and whether it loads TensorFlow.
7. scale     -- one-epoch fits of 10k/30k/60k MNIST rows and of a 200k-row
   uint8 memmap, each in a fresh subprocess: fit time per sample and peak RSS
   increase (no float32 copy of the data).

In the full run every training measurement runs in a fresh subprocess: a fit
fed through a Python generator (a ``keras.utils.PyDataset``, which skae fed
Keras before its tf.data pipeline and still feeds other backends, or
``tf.data.Dataset.from_generator``) leaves the process in a state where every
later TensorFlow fit takes tens of times more page faults: TensorFlow's
generator dataset sets glibc's ``M_TRIM_THRESHOLD`` to 128 kB for the whole
process ("Memory patch applied" in its log). Section 1 measures both paths and
that effect. ``--quick`` runs everything in this process (and the scale fits in
one child), which is enough to exercise the code; it fails only on errors, never
on a missed bar.

``--sections scikeras,latency`` runs only the named sections (default: all).

Writes ``bench.json`` (raw numbers and a ``bars`` dict) and ``bench.md`` to
``--out`` and prints the markdown.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

# The benchmark's own process and its children: TensorFlow's C++ start-up chatter
# is noise in a results table. (skae itself never sets environment variables.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

#: 784-256-128-32: the deep model of the overhead, hardware and scikeras sections.
HIDDEN = (256, 128)
N_COMPONENTS = 32

FULL = dict(
    fresh=True,
    overhead_rows=30_000,
    overhead_epochs=6,
    overhead_pairs=3,
    scikeras_rows=30_000,
    scikeras_epochs=5,
    scikeras_seeds=(0, 1, 2, 3, 4),
    pca_rows=60_000,
    pca_epochs=4,
    pca_components=(8, 16, 32, 64),
    hw_rows=30_000,
    hw_epochs=4,
    hw_batch_sizes=(256, 1024, 4096),
    step_repeats=20,
    peak_repeats=10,
    latency_rows=(1, 10, 100, 10_000),
    latency_repeats=300,
    latency_min_repeats=20,
    latency_warmup=10,
    import_repeats=5,
    scale_rows=(10_000, 30_000, 60_000),
    memmap_rows=200_000,
    test_rows=10_000,
)
QUICK = dict(
    fresh=False,
    overhead_rows=2_048,
    overhead_epochs=2,
    overhead_pairs=1,
    scikeras_rows=512,
    scikeras_epochs=1,
    scikeras_seeds=(0,),
    pca_rows=2_048,
    pca_epochs=1,
    pca_components=(32,),
    hw_rows=2_048,
    hw_epochs=2,
    hw_batch_sizes=(256,),
    step_repeats=2,
    peak_repeats=2,
    latency_rows=(1, 10, 100, 10_000),
    latency_repeats=10,
    latency_min_repeats=3,
    latency_warmup=1,
    import_repeats=1,
    scale_rows=(1_000, 2_000),
    memmap_rows=5_000,
    test_rows=1_000,
)


def log(message):
    print(message, file=sys.stderr, flush=True)


def median(values):
    return float(statistics.median(values))


def median_seconds(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def load_rows(path, rows=None):
    """The first ``rows`` rows of a saved float32 array, in memory."""
    return np.array(np.load(path, mmap_mode="r")[:rows])


# -- measurements in fresh processes -------------------------------------------

#: Functions that ``run_task`` may run in a child process, by name.
TASKS = {}


def task(fn):
    TASKS[fn.__name__] = fn
    return fn


def run_task(s, name, **kwargs):
    """Run ``TASKS[name](**kwargs)``: in a fresh interpreter in the full run."""
    if not s["fresh"]:
        return TASKS[name](**kwargs)
    spec = json.dumps({"name": name, "kwargs": kwargs})
    proc = subprocess.run(
        [sys.executable, __file__, "--task", spec], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"task {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _clock():
    """Wall time, this process's CPU time (all threads), its system time and
    its minor page faults so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return np.array(
        [
            time.perf_counter(),
            usage.ru_utime + usage.ru_stime,
            usage.ru_stime,
            usage.ru_minflt,
        ]
    )


def epoch_timer():
    """A Keras callback that records wall time, CPU time, system time and
    minor page faults of every epoch (``times`` holds the wall times)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu, self.sys, self.faults = [], [], [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = _clock()

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu, sys_, faults = _clock() - self._start
            self.times.append(float(wall))
            self.cpu.append(float(cpu))
            self.sys.append(float(sys_))
            self.faults.append(int(faults))

        def timed(self):
            """Per-epoch figures without the first (tracing) epoch."""
            return {
                "wall_s": self.times[1:],
                "cpu_s": self.cpu[1:],
                "sys_s": self.sys[1:],
                "minor_faults": self.faults[1:],
            }

    return EpochTimer()


def plain_keras_model(n_features=784, hidden=HIDDEN, n_components=N_COMPONENTS):
    """The same autoencoder as skae's, written with keras.layers.Dense only."""
    import keras

    sizes = [*hidden, n_components, *hidden[::-1], n_features]
    activations = ["relu"] * len(hidden) + [None] + ["relu"] * len(hidden) + [None]
    x = inputs = keras.Input((n_features,))
    for i, (units, activation) in enumerate(zip(sizes, activations, strict=True)):
        init = keras.initializers.GlorotUniform(seed=i)
        x = keras.layers.Dense(units, activation=activation, kernel_initializer=init)(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def dense_shapes(n_features=784, hidden=HIDDEN, n_components=N_COMPONENTS):
    sizes = [n_features, *hidden, n_components, *hidden[::-1], n_features]
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def train_flops_per_sample(shapes):
    """Forward 2*MACs + backward 4*MACs: 6 x (kernel entries) per sample.

    Biases, activations, the loss and the optimizer update are left out (< 1%);
    so is the fact that the first layer needs no input gradient (its backward
    is 2*MACs, not 4), so this slightly overstates the work.
    """
    return 6 * sum(n_in * n_out for n_in, n_out in shapes)


def skae_fit(X, **params):
    from skae import AutoencoderTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(random_state=0, **params).fit(X)


@task
def fit_epochs(kind, data, rows, epochs, batch_size=256, skae_first=False):
    """Per-epoch figures of one plain Keras or skae fit (784-256-128-32).

    ``skae_first`` runs a short skae fit in the process beforehand.
    """
    from skae import _pipeline

    X = load_rows(data, rows)
    # "skae_pydataset": the keras.utils.PyDataset that other backends get, and
    # that TensorFlow wraps in from_generator (skae's path before tf.data).
    default, _pipeline.USE_TF_DATA = (
        _pipeline.USE_TF_DATA,
        kind != "skae_pydataset",
    )
    try:
        if skae_first:
            skae_fit(X, epochs=1)
        timer = epoch_timer()
        if kind == "plain":
            plain_keras_model().fit(
                X, X, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                callbacks=[timer],
            )  # fmt: skip
        else:
            skae_fit(
                X, n_components=N_COMPONENTS, hidden_layer_sizes=HIDDEN,
                batch_size=batch_size, epochs=epochs, callbacks=[timer],
            )  # fmt: skip
    finally:
        _pipeline.USE_TF_DATA = default
    return timer.timed()


# -- 1. wrapper overhead ---------------------------------------------------------


def overhead(s):
    epochs, pairs = s["overhead_epochs"], s["overhead_pairs"]
    args = dict(data=s["train_npy"], rows=s["overhead_rows"], epochs=epochs)
    keys = ("wall_s", "cpu_s", "sys_s", "minor_faults")
    kinds = ("plain", "skae", "skae_pydataset")
    runs = {kind: {k: [] for k in keys} for kind in kinds}
    for pair in range(pairs):
        for kind, series in runs.items():
            for k, v in run_task(s, "fit_epochs", kind=kind, **args).items():
                series[k] += v
        log(
            f"  overhead round {pair + 1}/{pairs}: "
            + ", ".join(f"{k} {runs[k]['wall_s'][-1]:.2f} s" for k in kinds)
            + " (last epoch)"
        )
    # The process-state effect: plain Keras after a skae fit in the same process.
    after = run_task(s, "fit_epochs", kind="plain", skae_first=True, **args)
    med = {
        kind: {k: median(v) for k, v in series.items()} for kind, series in runs.items()
    }
    med["plain_after_skae"] = {k: median(v) for k, v in after.items()}
    ratio = med["skae"]["wall_s"] / med["plain"]["wall_s"]
    pyds = med["skae_pydataset"]
    steps = -(-s["overhead_rows"] // 256)
    return {
        "rows": s["overhead_rows"],
        "epochs_per_fit": epochs,
        "fits_each": pairs,
        "fresh_process_per_fit": s["fresh"],
        "epochs": {**runs, "plain_after_skae": after},
        "median": med,
        "ratio": ratio,
        "cpu_ratio": med["skae"]["cpu_s"] / med["plain"]["cpu_s"],
        "extra_minor_faults_per_step": (
            med["skae"]["minor_faults"] - med["plain"]["minor_faults"]
        )
        / steps,
        "plain_after_skae_cpu_ratio": (
            med["plain_after_skae"]["cpu_s"] / med["plain"]["cpu_s"]
        ),
        "pydataset_ratio": pyds["wall_s"] / med["plain"]["wall_s"],
        "pydataset_cpu_ratio": pyds["cpu_s"] / med["plain"]["cpu_s"],
        "bar_met": bool(ratio <= 1.05),
    }


# -- 2. scikeras -----------------------------------------------------------------


def scikeras_autoencoder_class():
    """scikeras's autoencoder recipe: a BaseWrapper that builds its own model.

    ``_keras_build_fn`` receives the routed constructor parameters and ``meta``
    (``n_features_in_``), builds an encoder and a decoder model, keeps the
    encoder for ``transform`` and returns the autoencoder for scikeras to
    compile and train on ``(X, X)``.
    """
    import keras
    from scikeras.wrappers import BaseWrapper
    from sklearn.base import TransformerMixin
    from sklearn.utils.validation import check_is_fitted

    class ScikerasAutoencoder(TransformerMixin, BaseWrapper):
        def _keras_build_fn(self, n_components, hidden_layer_sizes, meta):
            n_features = meta["n_features_in_"]
            x = enc_in = keras.Input((n_features,))
            for units in hidden_layer_sizes:
                x = keras.layers.Dense(units, activation="relu")(x)
            encoder = keras.Model(enc_in, keras.layers.Dense(n_components)(x))
            x = dec_in = keras.Input((n_components,))
            for units in hidden_layer_sizes[::-1]:
                x = keras.layers.Dense(units, activation="relu")(x)
            decoder = keras.Model(dec_in, keras.layers.Dense(n_features)(x))
            self.encoder_ = encoder
            inputs = keras.Input((n_features,))
            return keras.Model(inputs, decoder(encoder(inputs)))

        def fit(self, X, y=None, sample_weight=None, **kwargs):
            return super().fit(X, X, sample_weight=sample_weight, **kwargs)

        def transform(self, X):
            check_is_fitted(self)
            X = self.feature_encoder_.transform(np.asarray(X, dtype=np.float32))
            return self.encoder_.predict(X, verbose=0, batch_size=4096)

        def reconstruct(self, X):
            return self.predict(np.asarray(X, dtype=np.float32), batch_size=4096)

    return ScikerasAutoencoder


def op_determinism_enabled():
    from tensorflow.python.framework import config  # private; as scikeras does

    return bool(config.is_op_determinism_enabled())


@task
def library_fit(library, data, test, rows, hidden, epochs, seed=0):
    """Fit time and test MSE of skae or the scikeras recipe, seeded."""
    X, X_test = load_rows(data, rows), load_rows(test)
    hidden = tuple(hidden)
    before = op_determinism_enabled()
    load = os.getloadavg()[0]
    common = dict(n_components=N_COMPONENTS, hidden_layer_sizes=hidden,
                  batch_size=256, epochs=epochs, random_state=seed)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if library == "skae":
            from skae import AutoencoderTransformer

            est = AutoencoderTransformer(**common)
        else:
            est = scikeras_autoencoder_class()(
                loss="mse", optimizer="adam", optimizer__learning_rate=1e-3,
                shuffle=True, verbose=0, **common,
            )  # fmt: skip
        start = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - start
        if library == "skae":
            recon = est.inverse_transform(est.transform(X_test))
        else:
            recon = est.reconstruct(X_test)
        assert est.transform(X_test[:10]).shape == (10, N_COMPONENTS)
    return {
        "fit_s": fit_s,
        "test_mse": mse(recon, X_test),
        "loadavg_1min_at_start": load,
        "op_determinism_before": before,
        "op_determinism_after": op_determinism_enabled(),
    }


#: Bar 2's noise margin on the fit-time ratio, the tolerance of bar 1: single
#: fits of one seed gave 0.78x and 1.08x for the same code in two earlier runs.
SCIKERAS_TIME_MARGIN = 1.05
SCIKERAS_LIBRARIES = ("skae", "scikeras")


def scikeras_order(s, archs):
    """``(seed, architecture, library)`` of every fit, in the order they run.

    In fresh processes each seed and architecture is a back-to-back pair of
    fits, skae first at even seed positions and scikeras first at odd ones, so
    the machine's load drifts hit both libraries alike. In one process
    (``--quick``) every skae fit comes first: a seeded scikeras fit may leave
    TensorFlow's op determinism on, which must not reach skae.
    """
    seeds, libs = s["scikeras_seeds"], SCIKERAS_LIBRARIES
    if not s["fresh"]:
        return [(seed, a, lib) for lib in libs for seed in seeds for a in archs]
    return [
        (seed, a, lib)
        for i, seed in enumerate(seeds)
        for a in archs
        for lib in (libs if i % 2 == 0 else libs[::-1])
    ]


def _mean_std(values):
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std


def scikeras_summary(name, fits, seeds):
    """One architecture's fits over the seeds, and its two bars.

    No slower: the median over seeds of skae's fit time over scikeras's in the
    same back-to-back pair is at most ``SCIKERAS_TIME_MARGIN``. MSE no worse:
    skae's mean test MSE exceeds scikeras's by at most one standard error of
    the difference of the means (Welch: ``sqrt(sd_a**2/n + sd_b**2/n)``; 0 for
    one seed, which makes it a strict comparison). The seeds are not paired
    across libraries: the same integer starts different random streams in each.
    """
    a = [fits[seed, name, "skae"] for seed in seeds]
    b = [fits[seed, name, "scikeras"] for seed in seeds]
    t_a, t_b = [f["fit_s"] for f in a], [f["fit_s"] for f in b]
    m_a, m_b = [f["test_mse"] for f in a], [f["test_mse"] for f in b]
    ratios = [x / y for x, y in zip(t_a, t_b, strict=True)]
    (mean_a, sd_a), (mean_b, sd_b) = _mean_std(m_a), _mean_std(m_b)
    n = len(seeds)
    se = ((sd_a**2 + sd_b**2) / n) ** 0.5 if n > 1 else 0.0
    diff = mean_a - mean_b
    return {
        "architecture": name,
        "seeds": list(seeds),
        "skae_fit_s": t_a,
        "scikeras_fit_s": t_b,
        "fit_time_ratios_skae_to_scikeras": ratios,
        "skae_fit_s_median": median(t_a),
        "scikeras_fit_s_median": median(t_b),
        "fit_time_ratio_of_medians": median(t_a) / median(t_b),
        "fit_time_ratio_median_paired": median(ratios),
        "skae_test_mse": m_a,
        "scikeras_test_mse": m_b,
        "skae_mse_mean": mean_a,
        "skae_mse_std": sd_a,
        "scikeras_mse_mean": mean_b,
        "scikeras_mse_std": sd_b,
        "mse_diff_skae_minus_scikeras": diff,
        "mse_diff_standard_error": se,
        "time_bar_met": bool(median(ratios) <= SCIKERAS_TIME_MARGIN),
        "mse_bar_met": bool(diff <= se),
    }


def scikeras_section(s):
    try:
        import scikeras

        scikeras_autoencoder_class()
    except ModuleNotFoundError:
        log("  scikeras is not installed: comparison skipped")
        return {"skipped": "scikeras is not installed (pip install -e '.[bench]')."}
    except Exception as exc:  # report why, skip the section
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    archs = {"784-32-784": (), "784-256-128-32": HIDDEN}
    args = dict(data=s["train_npy"], test=s["test_npy"], rows=s["scikeras_rows"],
                epochs=s["scikeras_epochs"])  # fmt: skip
    fits, order = {}, scikeras_order(s, archs)
    for i, (seed, name, library) in enumerate(order):
        fits[seed, name, library] = r = run_task(
            s, "library_fit", library=library, hidden=list(archs[name]), seed=seed,
            **args,
        )  # fmt: skip
        log(
            f"  fit {i + 1}/{len(order)}: {library} {name} seed {seed}: "
            f"{r['fit_s']:.1f} s, mse {r['test_mse']:.5f}, "
            f"load {r['loadavg_1min_at_start']:.1f}"
        )
    seeds = list(s["scikeras_seeds"])
    return {
        "scikeras_version": scikeras.__version__,
        "rows": s["scikeras_rows"],
        "test_rows": s["test_rows"],
        "epochs": s["scikeras_epochs"],
        "seeds": seeds,
        "fresh_process_per_fit": s["fresh"],
        "time_margin": SCIKERAS_TIME_MARGIN,
        "table": [scikeras_summary(name, fits, seeds) for name in archs],
        "fits_in_order": [
            {
                "seed": seed,
                "architecture": name,
                "library": library,
                **fits[seed, name, library],
            }
            for seed, name, library in order
        ],  # fmt: skip
        "op_determinism_after_scikeras": any(
            f["op_determinism_after"]
            for (_, _, library), f in fits.items()
            if library == "scikeras"
        ),
        "note": "both fit with random_state=seed, batch_size=256, Adam(1e-3), MSE, "
        "linear code and output; fit time is the whole fit() call (model build "
        "and tracing included).",
    }


def scikeras_bars(sk):
    """Bar 2 per architecture: skae no slower, and its MSE no worse."""
    if "skipped" in sk:
        return {}
    bars = {}
    for x in sk["table"]:
        name = x["architecture"]
        bars[
            f"2. {name}: skae fit no slower than scikeras (median paired ratio "
            f"<= {sk['time_margin']:g})"
        ] = x["time_bar_met"]
        bars[
            f"2. {name}: skae test MSE no worse than scikeras (mean difference <= 1 SE)"
        ] = x["mse_bar_met"]
    return bars


# -- 3. against PCA --------------------------------------------------------------


def transform_ms_per_1k(est, X):
    return 1e3 * median_seconds(lambda: est.transform(X), 3, warmup=1) / len(X) * 1e3


@task
def ae_fit(data, test, rows, n_components, epochs):
    X, X_test = load_rows(data, rows), load_rows(test)
    start = time.perf_counter()
    ae = skae_fit(
        X, n_components=n_components, hidden_layer_sizes=HIDDEN, epochs=epochs
    )
    fit_s = time.perf_counter() - start
    return {
        "fit_s": fit_s,
        "transform_ms_per_1k": transform_ms_per_1k(ae, X_test),
        "test_mse": mse(ae.inverse_transform(ae.transform(X_test)), X_test),
    }


def pca_section(s):
    X, X_test = load_rows(s["train_npy"], s["pca_rows"]), load_rows(s["test_npy"])
    rows = []
    for k in s["pca_components"]:
        start = time.perf_counter()
        pca = PCA(k, random_state=0).fit(X)
        row = {
            "n_components": k,
            "pca_fit_s": time.perf_counter() - start,
            "pca_transform_ms_per_1k": transform_ms_per_1k(pca, X_test),
            "pca_test_mse": mse(pca.inverse_transform(pca.transform(X_test)), X_test),
        }
        ae = run_task(
            s, "ae_fit", data=s["train_npy"], test=s["test_npy"], rows=s["pca_rows"],
            n_components=k, epochs=s["pca_epochs"],
        )  # fmt: skip
        row.update({f"ae_{key}": value for key, value in ae.items()})
        row["mse_ratio_ae_to_pca"] = row["ae_test_mse"] / row["pca_test_mse"]
        row["fit_ratio_ae_to_pca"] = row["ae_fit_s"] / row["pca_fit_s"]
        row["transform_ratio_ae_to_pca"] = (
            row["ae_transform_ms_per_1k"] / row["pca_transform_ms_per_1k"]
        )
        rows.append(row)
        log(
            f"  n_components={k}: mse AE {row['ae_test_mse']:.5f} / PCA "
            f"{row['pca_test_mse']:.5f}, fit {row['ae_fit_s']:.1f} / "
            f"{row['pca_fit_s']:.2f} s"
        )
    return {
        "rows": len(X),
        "test_rows": len(X_test),
        "ae": f"hidden_layer_sizes={HIDDEN}, batch_size=256, epochs="
        f"{s['pca_epochs']}, mse, random_state=0",
        "fresh_process_per_ae_fit": s["fresh"],
        "table": rows,
    }


# -- 4. hardware limit -----------------------------------------------------------


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def matmul_peak(repeats, n=2048):
    """Best float32 GFLOP/s of ``a @ b`` (n x n) through NumPy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def numpy_dense_step_s(batch, shapes, repeats):
    """Seconds of the forward and backward matmuls of the model in NumPy.

    The better of one and all BLAS threads: on a loaded machine a second BLAS
    thread waits for a core and can make small products slower.
    """
    from threadpoolctl import threadpool_limits

    times = []
    for threads in (1, None):
        with threadpool_limits(threads):
            times.append(_numpy_dense_step_s(batch, shapes, repeats))
    return min(times)


def _numpy_dense_step_s(batch, shapes, repeats):
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]
    xs = [rng.standard_normal((batch, n_in), dtype=np.float32) for n_in, _ in shapes]
    gs = [rng.standard_normal((batch, n_out), dtype=np.float32) for _, n_out in shapes]

    def step():
        for w, x, g in zip(weights, xs, gs, strict=True):
            x @ w  # forward
            x.T @ g  # kernel gradient
            g @ w.T  # input gradient

    return median_seconds(step, repeats, warmup=2)


@task
def skae_throughput(data, rows, epochs, peak_repeats):
    """Default skae fit's epochs, with NumPy's matmul peak before and after."""
    from threadpoolctl import threadpool_info, threadpool_limits

    X = load_rows(data, rows)
    peak_before = matmul_peak(peak_repeats)
    timer = epoch_timer()
    skae_fit(X, n_components=N_COMPONENTS, hidden_layer_sizes=HIDDEN, epochs=epochs,
             callbacks=[timer])  # fmt: skip
    peak_after = matmul_peak(peak_repeats)
    with threadpool_limits(1):
        peak_one_thread = matmul_peak(peak_repeats)
    return {
        "epochs": timer.timed(),
        "numpy_peak_gflops_before": peak_before,
        "numpy_peak_gflops_after": peak_after,
        "numpy_peak_gflops_one_thread": peak_one_thread,
        "blas_threads": [i.get("num_threads") for i in threadpool_info()],
    }


@task
def keras_limits(data, rows, epochs, batch_sizes, step_repeats):
    """Plain Keras fits and bare steps by batch size; NumPy's matmuls alone."""
    X = load_rows(data, rows)
    shapes = dense_shapes()
    flops = train_flops_per_sample(shapes)
    fits, steps = [], []
    for bs in batch_sizes:
        timer = epoch_timer()
        plain_keras_model().fit(X, X, batch_size=bs, epochs=epochs, shuffle=True,
                                verbose=0, callbacks=[timer])  # fmt: skip
        e, cpu = median(timer.times[1:]), median(timer.cpu[1:])
        fits.append(
            {
                "batch_size": bs,
                "epoch_s": e,
                "samples_per_s": len(X) / e,
                "gflops": len(X) / e * flops / 1e9,
                "gflop_per_cpu_s": len(X) * flops / cpu / 1e9,
                "sys_share_of_cpu": median(timer.sys[1:]) / cpu,
                "s_per_step": e / -(-len(X) // bs),
            }
        )
        log(f"  keras fit bs={bs}: {fits[-1]['gflops']:.1f} GFLOP/s")
    model = plain_keras_model()
    for bs in (1, *batch_sizes):
        xb = np.ascontiguousarray(X[:bs])
        t = median_seconds(lambda xb=xb: model.train_on_batch(xb, xb), step_repeats)
        t_np = numpy_dense_step_s(bs, shapes, step_repeats)
        steps.append(
            {
                "batch_size": bs,
                "train_on_batch_ms": 1e3 * t,
                "gflops": bs * flops / t / 1e9,
                "numpy_matmuls_ms": 1e3 * t_np,
                "numpy_matmuls_gflops": bs * flops / t_np / 1e9,
            }
        )
        log(
            f"  train_on_batch bs={bs}: {1e3 * t:.2f} ms; NumPy matmuls "
            f"{1e3 * t_np:.2f} ms"
        )
    fixed = steps[0]["train_on_batch_ms"]
    for step in steps:
        step["fixed_cost_share"] = fixed / step["train_on_batch_ms"]
    for fit in fits:
        step = next(x for x in steps if x["batch_size"] == fit["batch_size"])
        fit["fit_loop_ms_per_step_over_train_on_batch"] = (
            1e3 * fit["s_per_step"] - step["train_on_batch_ms"]
        )
    return {"keras_fit_by_batch_size": fits, "train_on_batch": steps}


def hardware(s):
    flops = train_flops_per_sample(dense_shapes())
    t = run_task(s, "skae_throughput", data=s["train_npy"], rows=s["hw_rows"],
                 epochs=s["hw_epochs"], peak_repeats=s["peak_repeats"])  # fmt: skip
    peak = max(t["numpy_peak_gflops_before"], t["numpy_peak_gflops_after"])
    epochs = t["epochs"]
    throughput = s["hw_rows"] / median(epochs["wall_s"])
    achieved = throughput * flops / 1e9
    # Load-independent view: work done per CPU-second the process got, against
    # what one core does in NumPy.
    per_cpu_s = s["hw_rows"] * flops / median(epochs["cpu_s"]) / 1e9
    result = {
        **t,
        "flops_formula": "6 x sum(n_in * n_out) over the Dense kernels per sample "
        "(forward 2*MACs, backward 4*MACs; biases/activations/optimizer ignored)",
        "train_flops_per_sample": flops,
        "rows": s["hw_rows"],
        "skae_batch_size": 256,
        "skae_samples_per_s": throughput,
        "skae_gflops": achieved,
        "skae_gflop_per_cpu_s": per_cpu_s,
        "skae_sys_share_of_cpu": median(epochs["sys_s"]) / median(epochs["cpu_s"]),
        "numpy_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "gflop_per_cpu_s_over_one_thread_peak": (
            per_cpu_s / t["numpy_peak_gflops_one_thread"]
        ),
        "bar_met": bool(achieved / peak >= 0.5),
        "cpu_count": os.cpu_count(),
    }
    log(
        f"  skae: {throughput:.0f} samples/s = {achieved:.1f} GFLOP/s; NumPy peak "
        f"{peak:.1f} GFLOP/s -> {achieved / peak:.0%}"
    )
    if result["bar_met"] and not s["quick"]:
        return result
    # What holds it back: larger batches through plain Keras, the bare step,
    # and NumPy doing only the matmuls of one step.
    result.update(
        run_task(
            s,
            "keras_limits",
            data=s["train_npy"],
            rows=s["hw_rows"],
            epochs=s["hw_epochs"],
            batch_sizes=list(s["hw_batch_sizes"]),
            step_repeats=s["step_repeats"],
        )  # fmt: skip
    )
    return result


# -- 5. latency ------------------------------------------------------------------


def interleaved_medians(fns, repeats, warmup):
    """Median seconds of each function, calls alternating so drift hits all."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [median(t) for t in times]


def latency(s):
    from sklearn.utils.validation import validate_data

    X = load_rows(s["train_npy"], 2048)
    ae = skae_fit(X, n_components=N_COMPONENTS, hidden_layer_sizes=HIDDEN, epochs=1)
    pca = PCA(N_COMPONENTS, random_state=0).fit(X)
    X_all = load_rows(s["train_npy"])
    rng = np.random.default_rng(0)
    rows = []
    for n in s["latency_rows"]:
        Xn = X_all[rng.integers(len(X_all), size=n)]
        reps = max(s["latency_min_repeats"], s["latency_repeats"] // max(1, n // 100))
        # skae.transform, PCA.transform, and where skae's time goes: the bare
        # Keras call and scikit-learn's input checks.
        t_ae, t_pca, t_keras, t_check = interleaved_medians(
            [
                lambda Xn=Xn: ae.transform(Xn),
                lambda Xn=Xn: pca.transform(Xn),
                lambda Xn=Xn: ae.encoder_.predict_on_batch(Xn),
                lambda Xn=Xn: validate_data(ae, Xn, reset=False, dtype="numeric"),
            ],
            reps,
            warmup=min(s["latency_warmup"], reps),
        )
        rows.append(
            {
                "rows": n,
                "repeats": reps,
                "skae_ms": 1e3 * t_ae,
                "pca_ms": 1e3 * t_pca,
                "ratio_to_pca": t_ae / t_pca,
                "keras_predict_on_batch_ms": 1e3 * t_keras,
                "sklearn_validate_data_ms": 1e3 * t_check,
            }
        )
        log(f"  transform {n} rows: skae {1e3 * t_ae:.3f} ms, PCA {1e3 * t_pca:.3f} ms")
    one = rows[0]
    return {
        "table": rows,
        "one_row_bar_met": bool(one["rows"] == 1 and one["skae_ms"] <= 1.0),
        "ratio_bar_met_all_sizes": bool(all(r["ratio_to_pca"] <= 10 for r in rows)),
        "ratio_bar_met_by_rows": {
            str(r["rows"]): bool(r["ratio_to_pca"] <= 10) for r in rows
        },
    }


# -- 6. import -------------------------------------------------------------------

_IMPORT_CODE = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "t = time.perf_counter() - t; "
    "print(t, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
)


def import_section(s):
    runs = {"skae": [], "sklearn.decomposition": []}
    loaded = {"tensorflow": False, "keras": False}
    for _ in range(s["import_repeats"]):
        for module in runs:  # interleaved, so drift hits both alike
            out = subprocess.run(
                [sys.executable, "-c", _IMPORT_CODE.format(module=module)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            runs[module].append(float(out[0]))
            if module == "skae":
                loaded["tensorflow"] |= out[1] == "True"
                loaded["keras"] |= out[2] == "True"
    t_skae, t_sk = median(runs["skae"]), median(runs["sklearn.decomposition"])
    return {
        "repeats": s["import_repeats"],
        "skae_s": runs["skae"],
        "sklearn_decomposition_s": runs["sklearn.decomposition"],
        "skae_median_s": t_skae,
        "sklearn_decomposition_median_s": t_sk,
        "ratio": t_skae / t_sk,
        "loads_tensorflow": loaded["tensorflow"],
        "loads_keras": loaded["keras"],
        "bar_met": not (loaded["tensorflow"] or loaded["keras"]),
    }


# -- 7. scale --------------------------------------------------------------------


def _proc_status_kb(*fields):
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in fields:
                values[key] = int(rest.split()[0])
    return values


def _reset_peak_rss():
    """Reset the kernel's high-water mark of RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _AnonSampler(threading.Thread):
    """Samples anonymous RSS (no file-backed pages) every few milliseconds."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = _proc_status_kb("RssAnon")["RssAnon"]
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.005):
            self.peak = max(self.peak, _proc_status_kb("RssAnon")["RssAnon"])

    def stop(self):
        self._halt.set()
        self.join()


@task
def scale_fits(jobs):
    """One-epoch fits, one per job, after a warm-up fit; time and memory."""
    import resource

    from skae import AutoencoderTransformer

    rng = np.random.default_rng(0)
    # Warm-up: TensorFlow's one-time start-up is not what this section measures.
    skae_fit(rng.uniform(size=(512, 784)).astype(np.float32), epochs=1)
    out = []
    for job in jobs:
        if job["kind"] == "mnist":  # float32 in memory, as load_mnist returns it
            X = load_rows(job["path"], job["rows"])
        else:
            X = np.memmap(
                job["path"], dtype=np.uint8, mode="r", shape=(job["rows"], 784)
            )
        before = _proc_status_kb("VmRSS", "RssAnon")
        reset = _reset_peak_rss()
        sampler = _AnonSampler()
        sampler.start()
        ae = AutoencoderTransformer(
            n_components=N_COMPONENTS, hidden_layer_sizes=HIDDEN, epochs=1,
            random_state=0, on_divergence="warn",
        )  # fmt: skip
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ae.fit(X)
        fit_s = time.perf_counter() - start
        sampler.stop()
        maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_kb = _proc_status_kb("VmHWM")["VmHWM"] if reset else maxrss_kb
        out.append(
            {
                "kind": job["kind"],
                "rows": job["rows"],
                "dtype": str(X.dtype),
                "data_mb": X.nbytes / 2**20,
                "fit_s": fit_s,
                "rss_before_mb": before["VmRSS"] / 1024,
                "peak_rss_increase_mb": (peak_kb - before["VmRSS"]) / 1024,
                "peak_anon_increase_mb": (sampler.peak - before["RssAnon"]) / 1024,
                "peak_measure": "VmHWM after clear_refs" if reset else "ru_maxrss",
            }
        )
        del X, ae
    return out


def write_memmap(path, X_float, rows):
    """A uint8 memmap of ``rows`` MNIST images (tiled), written in chunks."""
    images = np.rint(X_float * 255).astype(np.uint8)
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=(rows, images.shape[1]))
    for start in range(0, rows, len(images)):
        stop = min(start + len(images), rows)
        mm[start:stop] = images[: stop - start]
    mm.flush()
    del mm


def scale(s):
    mnist_jobs = [
        {"kind": "mnist", "rows": n, "path": s["train_npy"]} for n in s["scale_rows"]
    ]
    path = Path(s["tmp"]) / "mnist-tiled.u8"
    write_memmap(path, load_rows(s["train_npy"]), s["memmap_rows"])
    memmap_job = {"kind": "memmap", "rows": s["memmap_rows"], "path": str(path)}
    # One fresh process per fit in the full run (a clean RSS baseline); all in
    # this process with --quick.
    if s["quick"]:
        results = run_task(s, "scale_fits", jobs=[*mnist_jobs, memmap_job])
    else:
        results = []
        for job in [*mnist_jobs, memmap_job]:
            results += run_task(s, "scale_fits", jobs=[job])
            r = results[-1]
            log(
                f"  {r['kind']} {r['rows']} rows: fit {r['fit_s']:.1f} s, "
                f"peak RSS +{r['peak_rss_increase_mb']:.0f} MB"
            )
    path.unlink()
    mnist_rows = [r for r in results if r["kind"] == "mnist"]
    memmap = next(r for r in results if r["kind"] == "memmap")
    largest = mnist_rows[-1]
    per_sample = largest["fit_s"] / largest["rows"]
    for r in mnist_rows:
        r["fit_us_per_sample"] = 1e6 * r["fit_s"] / r["rows"]
        r["per_sample_ratio_to_largest"] = r["fit_s"] / r["rows"] / per_sample
    n = np.array([r["rows"] for r in mnist_rows], float)
    t = np.array([r["fit_s"] for r in mnist_rows])
    slope, intercept = np.polyfit(n, t, 1)
    float32_copy_mb = memmap["rows"] * 784 * 4 / 2**20
    # What any fit allocates whatever the data (TensorFlow's buffers, the
    # trace): the smallest in-memory fit's increase.
    fixed_mb = mnist_rows[0]["peak_anon_increase_mb"]
    excess_mb = memmap["peak_anon_increase_mb"] - fixed_mb
    return {
        "fresh_process_per_fit": not s["quick"],
        "mnist": mnist_rows,
        "fit_s_linear_fit": {
            "fixed_s": float(intercept),
            "us_per_sample": float(slope * 1e6),
        },
        "memmap": memmap,
        "memmap_float32_copy_would_be_mb": float32_copy_mb,
        "memmap_anon_excess_over_smallest_fit_mb": excess_mb,
        "memmap_no_copy_bar_met": bool(excess_mb < 0.5 * float32_copy_mb),
    }


def memmap_large(s, gb):
    """One epoch on a ``gb`` GB uint8 memmap, in a fresh process: peak RSS."""
    import shutil

    rows = int(gb * 1e9) // 784
    free = shutil.disk_usage(s["tmp"]).free
    if free < rows * 784 * 1.2:
        return {"skipped": f"{free / 1e9:.1f} GB free in {s['tmp']}, need {gb} GB"}
    path = Path(s["tmp"]) / "mnist-large.u8"
    t = time.perf_counter()
    write_memmap(path, load_rows(s["train_npy"]), rows)
    log(f"  wrote {rows} rows ({rows * 784 / 1e9:.2f} GB) in "
        f"{time.perf_counter() - t:.0f} s")  # fmt: skip
    job = {"kind": "memmap", "rows": rows, "path": str(path)}
    try:
        (r,) = run_task({**s, "fresh": True}, "scale_fits", jobs=[job])
    finally:
        path.unlink()
    log(
        f"  {gb} GB memmap: fit {r['fit_s']:.0f} s, peak RSS "
        f"+{r['peak_rss_increase_mb']:.0f} MB (anon +{r['peak_anon_increase_mb']:.0f})"
    )
    return {
        **r,
        "data_gb": gb,
        "samples_per_s": rows / r["fit_s"],
        "bar_met": bool(r["peak_rss_increase_mb"] < 1024),
    }


def _md_memmap_large(r, add):
    if "memmap_large" not in r:
        return
    m = r["memmap_large"]
    add("## 7b. Data larger than memory: one epoch on a large uint8 memmap\n")
    if "skipped" in m:
        add(f"Skipped: {m['skipped']}\n")
        return
    add("| data | rows | fit (s) | samples/s | peak RSS increase (MB) | "
        "peak anon RSS increase (MB) |")  # fmt: skip
    add("|---|---:|---:|---:|---:|---:|")
    add(
        f"| uint8 memmap ({m['data_mb'] / 1024:.2f} GiB) | {m['rows']} | "
        f"{m['fit_s']:.0f} | {m['samples_per_s']:.0f} | "
        f"{m['peak_rss_increase_mb']:.0f} | {m['peak_anon_increase_mb']:.0f} |"
    )
    add(
        "\nOne fresh process, after a warm-up fit; peak RSS is the kernel's "
        "high-water mark (reset just before fit, file-backed pages of the map "
        "included) minus RSS before fit. skae releases the map's pages as it "
        "reads (`_data.Pages`); a float32 copy would be "
        f"{m['rows'] * 784 * 4 / 2**20:.0f} MB. Bar (+< 1 GB): "
        f"{_met(m['bar_met'])}.\n"
    )


# -- report ----------------------------------------------------------------------


def machine():
    import platform

    import keras
    import sklearn

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "loadavg_1min_at_start": os.getloadavg()[0],
    }


def _met(flag):
    return "met" if flag else "**NOT met**"


def _md_overhead(r, add):
    o = r["overhead"]
    add("## 1. Wrapper overhead (784-256-128-32, batch 256)\n")
    add(
        "| fit | median epoch wall (s) | CPU (s, all threads) | of which system (s) "
        "| minor page faults | epochs timed |"
    )
    add("|---|---:|---:|---:|---:|---:|")
    names = {
        "plain": "plain Keras `model.fit`",
        "skae": "skae `fit` (tf.data pipeline, the TensorFlow default)",
        "skae_pydataset": "skae `fit` fed a `PyDataset` (other backends' path)",
        "plain_after_skae": "plain Keras `model.fit`, after a skae fit in its process",
    }
    for key, name in names.items():
        m = o["median"][key]
        add(
            f"| {name} | {m['wall_s']:.3f} | {m['cpu_s']:.3f} | {m['sys_s']:.3f} | "
            f"{m['minor_faults']:.0f} | {len(o['epochs'][key]['wall_s'])} |"
        )
    where = "each in a fresh process" if o["fresh_process_per_fit"] else "one process"
    add(
        f"\n{o['rows']} MNIST rows, {o['epochs_per_fit']} epochs per fit (the first "
        f"excluded), {o['fits_each']} fits of each, interleaved, {where}. "
        f"Ratio skae / plain = {o['ratio']:.3f} (bar <= 1.05: {_met(o['bar_met'])});"
        f" CPU-time ratio {o['cpu_ratio']:.3f}; skae takes "
        f"{o['extra_minor_faults_per_step']:.0f} more minor page faults per step. "
        f"A plain Keras fit in a process that has run a skae fit uses "
        f"{o['plain_after_skae_cpu_ratio']:.2f}x the CPU per epoch. Fed the "
        f"`PyDataset` instead (Keras wraps it in `from_generator`), skae's ratio "
        f"is {o['pydataset_ratio']:.3f} (CPU {o['pydataset_cpu_ratio']:.3f}): "
        "the measurement behind the tf.data pipeline.\n"
    )


def _md_pca(r, add):
    p = r["pca"]
    add("## 3. Against PCA\n")
    add(
        "| n_components | PCA MSE | AE MSE | AE/PCA MSE | PCA fit (s) | AE fit (s) | "
        "PCA transform (ms/1k rows) | AE transform (ms/1k rows) |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in p["table"]:
        add(
            f"| {x['n_components']} | {x['pca_test_mse']:.5f} | {x['ae_test_mse']:.5f}"
            f" | {x['mse_ratio_ae_to_pca']:.2f} | {x['pca_fit_s']:.2f} | "
            f"{x['ae_fit_s']:.1f} | {x['pca_transform_ms_per_1k']:.3f} | "
            f"{x['ae_transform_ms_per_1k']:.3f} |"
        )
    add(f"\n{p['rows']} train / {p['test_rows']} test rows; autoencoder: {p['ae']}.\n")


def _md_hardware(r, add):
    h = r["hardware"]
    add("## 4. Hardware limit\n")
    add("| | value |")
    add("|---|---:|")
    add(
        f"| skae fit throughput (batch 256) | {h['skae_samples_per_s']:.0f} samples/s |"
    )
    add(f"| train FLOPs per sample | {h['train_flops_per_sample'] / 1e6:.3f} M |")
    add(f"| achieved | {h['skae_gflops']:.1f} GFLOP/s |")
    add(
        f"| NumPy float32 matmul peak (2048², best before/after the fit) | "
        f"{h['numpy_peak_gflops']:.1f} GFLOP/s |"
    )
    add(f"| fraction of peak | {h['fraction_of_peak']:.0%} |")
    add(
        f"| NumPy peak with one BLAS thread | "
        f"{h['numpy_peak_gflops_one_thread']:.1f} GFLOP/s |"
    )
    add(
        f"| skae work per CPU-second it got (load-independent) | "
        f"{h['skae_gflop_per_cpu_s']:.1f} GFLOP/CPU-s = "
        f"{h['gflop_per_cpu_s_over_one_thread_peak']:.0%} of one thread's peak |"
    )
    add(f"| system (kernel) share of skae's CPU | {h['skae_sys_share_of_cpu']:.0%} |")
    add(f"\nFLOPs: {h['flops_formula']}. Bar >= 50% of peak: {_met(h['bar_met'])}.\n")
    if "keras_fit_by_batch_size" not in h:
        return
    add(
        "| plain Keras fit, batch | samples/s | GFLOP/s | % of peak | GFLOP/CPU-s | "
        "system share of CPU | ms/step | fit-loop ms/step beyond train_on_batch |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in h["keras_fit_by_batch_size"]:
        add(
            f"| {x['batch_size']} | {x['samples_per_s']:.0f} | {x['gflops']:.1f} | "
            f"{x['gflops'] / h['numpy_peak_gflops']:.0%} | "
            f"{x['gflop_per_cpu_s']:.1f} | {x['sys_share_of_cpu']:.0%} | "
            f"{1e3 * x['s_per_step']:.2f} | "
            f"{x['fit_loop_ms_per_step_over_train_on_batch']:.2f} |"
        )
    add("")
    add(
        "| train_on_batch, batch | ms/step | GFLOP/s | % of peak | fixed cost share "
        "| NumPy matmuls only (ms) | NumPy GFLOP/s |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|")
    for x in h["train_on_batch"]:
        add(
            f"| {x['batch_size']} | {x['train_on_batch_ms']:.3f} | "
            f"{x['gflops']:.1f} | {x['gflops'] / h['numpy_peak_gflops']:.0%} | "
            f"{x['fixed_cost_share']:.0%} | {x['numpy_matmuls_ms']:.3f} | "
            f"{x['numpy_matmuls_gflops']:.1f} |"
        )
    add(
        "\nFixed cost share: the batch-1 step time over the step time. NumPy "
        "matmuls: the forward and backward products of one step (the better of 1 "
        "and 2 BLAS threads). The plain fits and steps ran in a fresh process "
        "before any skae fit.\n"
    )


def _md_latency(r, add):
    la = r["latency"]
    add("## 5. Transform latency (784 -> 32)\n")
    add(
        "| rows | skae.transform (ms) | PCA.transform (ms) | ratio | of which Keras "
        "predict_on_batch (ms) | sklearn validate_data (ms) |"
    )
    add("|---:|---:|---:|---:|---:|---:|")
    for x in la["table"]:
        add(
            f"| {x['rows']} | {x['skae_ms']:.3f} | {x['pca_ms']:.3f} | "
            f"{x['ratio_to_pca']:.1f} | {x['keras_predict_on_batch_ms']:.3f} | "
            f"{x['sklearn_validate_data_ms']:.3f} |"
        )
    bad = [k for k, v in la["ratio_bar_met_by_rows"].items() if not v]
    add(
        f"\nMedians of interleaved calls after warm-up. One row <= 1 ms: "
        f"{_met(la['one_row_bar_met'])}. <= 10x PCA at every size: "
        f"{_met(la['ratio_bar_met_all_sizes'])}"
        + (f" (missed at {', '.join(bad)} rows)" if bad else "")
        + ".\n"
    )


def _md_import(r, add):
    im = r["import"]
    add("## 6. Import time (fresh interpreters)\n")
    add("| import | median (ms) |")
    add("|---|---:|")
    add(f"| `import skae` | {1e3 * im['skae_median_s']:.0f} |")
    add(
        f"| `import sklearn.decomposition` | "
        f"{1e3 * im['sklearn_decomposition_median_s']:.0f} |"
    )
    add(
        f"\nMedian of {im['repeats']}; ratio {im['ratio']:.2f}. TensorFlow loaded: "
        f"{im['loads_tensorflow']}, Keras loaded: {im['loads_keras']} (bar: neither "
        f"-- {_met(im['bar_met'])}).\n"
    )


def _md_scale(r, add):
    sc = r["scale"]
    add("## 7. Scale (1 epoch, 784-256-128-32)\n")
    add(
        "| data | rows | fit (s) | µs/sample | per-sample ratio to largest | "
        "peak RSS increase (MB) | peak anon RSS increase (MB) |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|")
    for x in sc["mnist"]:
        add(
            f"| MNIST float32 | {x['rows']} | {x['fit_s']:.2f} | "
            f"{x['fit_us_per_sample']:.1f} | {x['per_sample_ratio_to_largest']:.2f} | "
            f"{x['peak_rss_increase_mb']:.0f} | {x['peak_anon_increase_mb']:.0f} |"
        )
    m = sc["memmap"]
    add(
        f"| uint8 memmap ({m['data_mb']:.0f} MB) | {m['rows']} | {m['fit_s']:.2f} | "
        f"{1e6 * m['fit_s'] / m['rows']:.1f} | | {m['peak_rss_increase_mb']:.0f} | "
        f"{m['peak_anon_increase_mb']:.0f} |"
    )
    lf = sc["fit_s_linear_fit"]
    where = (
        "Each fit in a fresh subprocess"
        if sc["fresh_process_per_fit"]
        else "All fits in this process (quick)"
    )
    add(
        f"\nfit time ~ {lf['fixed_s']:.2f} s + {lf['us_per_sample']:.1f} µs x rows. "
        f"{where}, after a warm-up fit. Peak RSS: the kernel's high-water mark "
        "(reset just before fit) minus RSS before fit; it includes the memmap's "
        "file-backed pages, the anon column does not. The memmap fit's anon "
        "increase exceeds the smallest in-memory fit's by "
        f"{sc['memmap_anon_excess_over_smallest_fit_mb']:.0f} MB; a float32 copy "
        f"would be {sc['memmap_float32_copy_would_be_mb']:.0f} MB. No copy made "
        f"(excess < half a copy): {_met(sc['memmap_no_copy_bar_met'])}.\n"
    )


def _pm(mean, std, digits=5, sign=""):
    """``mean ± std``, or ``mean`` alone when there is no spread (one value)."""
    text = f"{mean:{sign}.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def _md_scikeras(r, add):
    sk = r["scikeras"]
    add("## 2. Against scikeras (run last)\n")
    if "skipped" in sk:
        add(f"Skipped: {sk['skipped']}\n")
        return
    n = len(sk["seeds"])
    add(
        "| architecture | skae fit, median (s) | scikeras fit, median (s) | ratio of "
        "medians | paired ratio, median (range) | skae MSE, mean ± sd | scikeras "
        "MSE, mean ± sd | skae − scikeras MSE ± SE | no slower | MSE no worse |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for x in sk["table"]:
        ratios = x["fit_time_ratios_skae_to_scikeras"]
        se = x["mse_diff_standard_error"] if n > 1 else None
        add(
            f"| {x['architecture']} | {x['skae_fit_s_median']:.2f} | "
            f"{x['scikeras_fit_s_median']:.2f} | "
            f"{x['fit_time_ratio_of_medians']:.2f} | "
            f"{x['fit_time_ratio_median_paired']:.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | "
            f"{_pm(x['skae_mse_mean'], x['skae_mse_std'])} | "
            f"{_pm(x['scikeras_mse_mean'], x['scikeras_mse_std'])} | "
            f"{_pm(x['mse_diff_skae_minus_scikeras'], se, sign='+')} | "
            f"{_met(x['time_bar_met'])} | "
            f"{_met(x['mse_bar_met'])} |"
        )
    where = (
        "each fit in a fresh process; each seed and architecture is a back-to-back "
        "pair, skae first for even-position seeds and scikeras first for odd ones"
        if sk["fresh_process_per_fit"]
        else "one process, skae fits first"
    )
    add(
        f"\nscikeras {sk['scikeras_version']}, {sk['rows']} train / "
        f"{sk['test_rows']} test rows, {sk['epochs']} epochs, {n} seed"
        f"{'s' if n > 1 else ''} per library and architecture "
        f"({', '.join(map(str, sk['seeds']))}), {where}; {sk['note']} "
        f"TensorFlow op determinism on after a seeded scikeras fit: "
        f"{sk['op_determinism_after_scikeras']}.\n"
    )
    add(
        f"Bars. *No slower*: the median over seeds of the paired ratio (skae's fit "
        f"time over scikeras's in the same back-to-back pair, which shares the "
        f"machine's load) is <= {sk['time_margin']:g}; the 5% margin is bar 1's "
        "and covers the noise of a shared 2-core machine, where one fit of each "
        "gave 0.78x and 1.08x for the same code in two earlier runs. *MSE no "
        "worse*: "
        "skae's mean test MSE exceeds scikeras's by at most one standard error of "
        "the difference of the means, SE = sqrt(sd_skae² / n + sd_scikeras² / n) "
        "(sample sd over the seeds; SE = 0 for a single seed, a strict "
        "comparison). The comparison is unpaired: the same seed starts different "
        "random streams in the two libraries. One SE is a stricter trigger than "
        "a significance test (about two SE): a skae mean worse by more than the "
        "seed-to-seed noise of the means fails, even when that is not yet "
        "significant.\n"
    )
    add("| architecture | seed | first | skae fit (s) | scikeras fit (s) | ratio | "
        "skae MSE | scikeras MSE |")  # fmt: skip
    add("|---|---:|---|---:|---:|---:|---:|---:|")
    first = {}
    for f in sk["fits_in_order"]:
        first.setdefault((f["architecture"], f["seed"]), f["library"])
    for x in sk["table"]:
        for i, seed in enumerate(x["seeds"]):
            add(
                f"| {x['architecture']} | {seed} | "
                f"{first[x['architecture'], seed]} | {x['skae_fit_s'][i]:.2f} | "
                f"{x['scikeras_fit_s'][i]:.2f} | "
                f"{x['fit_time_ratios_skae_to_scikeras'][i]:.2f} | "
                f"{x['skae_test_mse'][i]:.5f} | {x['scikeras_test_mse'][i]:.5f} |"
            )
    add("")


#: Each section's markdown, in the order of the results page.
MD_SECTIONS = {
    "overhead": _md_overhead,
    "pca": _md_pca,
    "hardware": _md_hardware,
    "latency": _md_latency,
    "import": _md_import,
    "scale": _md_scale,
    "memmap_large": _md_memmap_large,
    "scikeras": _md_scikeras,
}


def bars(r):
    """Each bar of the sections in ``r``: met or not."""
    out = {}
    if "overhead" in r:
        out["1. skae epoch time <= 1.05x plain Keras"] = r["overhead"]["bar_met"]
    if "scikeras" in r:
        out.update(scikeras_bars(r["scikeras"]))
    if "hardware" in r:
        out["4. training >= 50% of NumPy matmul peak"] = r["hardware"]["bar_met"]
    if "latency" in r:
        la = r["latency"]
        out["5. transform of one row <= 1 ms"] = la["one_row_bar_met"]
        out["5. transform <= 10x PCA (every size)"] = la["ratio_bar_met_all_sizes"]
    if "import" in r:
        out["6. import skae loads no TensorFlow/Keras"] = r["import"]["bar_met"]
    if "scale" in r:
        out["7. memmap fit makes no float32 copy"] = r["scale"][
            "memmap_no_copy_bar_met"
        ]
    if "memmap_large" in r and "skipped" not in r["memmap_large"]:
        gb = r["memmap_large"]["data_gb"]
        out[f"7. one epoch on a {gb:g} GB uint8 memmap: peak RSS +< 1 GB"] = r[
            "memmap_large"
        ]["bar_met"]
    return out


def markdown(r):
    out = []
    add = out.append
    mc = r["machine"]
    loads = [
        v["loadavg_1min_before_after"]
        for v in r.values()
        if isinstance(v, dict) and "loadavg_1min_before_after" in v
    ]
    add(
        f"{mc['cpu_count']} CPUs, Python {mc['python']}, NumPy {mc['numpy']}, "
        f"scikit-learn {mc['scikit-learn']}, Keras {mc['keras']} "
        f"({mc['keras_backend']}). 1-min load average during the run: "
        f"{min(min(x) for x in loads):.1f}-{max(max(x) for x in loads):.1f} "
        "(other work shares the machine; every figure is compared with a "
        "baseline measured alongside it).\n"
    )
    for key, section in MD_SECTIONS.items():
        if key in r:
            section(r, add)
    add("## Bars\n")
    add("| bar | result |")
    add("|---|---|")
    for name, flag in r["bars"].items():
        add(f"| {name} | {_met(flag)} |")
    quick = " (--quick)" if r["settings"]["quick"] else ""
    add(f"\nTotal {r['total_s']:.0f} s{quick}.")
    return "\n".join(out) + "\n"


def child(spec):
    """Run one task in this (fresh) process; print its result as JSON."""
    spec = json.loads(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = TASKS[spec["name"]](**spec["kwargs"])
    print(json.dumps(result))


def _section_names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(MD_SECTIONS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}; choose "
            f"from {','.join(MD_SECTIONS)}"
        )
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mnist.npz"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument(
        "--quick", action="store_true", help="small subsets, 1-2 epochs: smoke run"
    )
    parser.add_argument(
        "--memmap-gb",
        type=float,
        default=0,
        help="also fit one epoch on a uint8 memmap of this many GB (written to "
        "/tmp) and report the peak RSS increase; 0 (default) skips it",
    )
    parser.add_argument(
        "--sections",
        type=_section_names,
        default=None,
        help="comma-separated sections to run, out of "
        f"{','.join(MD_SECTIONS)} (default: all; memmap_large needs --memmap-gb)",
    )
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task:
        child(args.task)
        return

    from skae.datasets import load_mnist
    from skae.exceptions import OutOfRangeWarning

    start = time.perf_counter()
    s = {**(QUICK if args.quick else FULL), "quick": args.quick}
    s["sections"] = args.sections or "all"
    if args.data.exists() or not args.quick:
        (X_train, _), (X_test, _) = load_mnist(args.data)
        s["data"] = str(args.data)
    else:  # a smoke run needs data of MNIST's shape, not MNIST
        log(f"{args.data} not found: synthetic uniform data in MNIST's shape")
        rng = np.random.default_rng(0)
        X_train = rng.uniform(size=(4096, 784)).astype(np.float32)
        X_test = rng.uniform(size=(s["test_rows"], 784)).astype(np.float32)
        s["data"] = "synthetic (uniform, 4096 x 784)"
    r = {"settings": dict(s), "machine": machine()}
    sections = [
        ("overhead", overhead),
        ("pca", pca_section),
        ("hardware", hardware),
        ("latency", latency),
        ("import", import_section),
        ("scale", scale),
        *(
            [("memmap_large", lambda s: memmap_large(s, args.memmap_gb))]
            if args.memmap_gb > 0
            else []
        ),
        # Last: a seeded scikeras fit may leave op determinism on in a process.
        ("scikeras", scikeras_section),
    ]
    if args.sections is not None:
        sections = [(name, fn) for name, fn in sections if name in args.sections]
    with tempfile.TemporaryDirectory(prefix="skae-bench-", dir="/tmp") as tmp:
        # Children read the data from here.
        s["tmp"] = tmp
        s["train_npy"] = str(Path(tmp) / "train.npy")
        s["test_npy"] = str(Path(tmp) / "test.npy")
        np.save(s["train_npy"], X_train)
        np.save(s["test_npy"], X_test[: s["test_rows"]])
        del X_train, X_test
        for name, fn in sections:
            t = time.perf_counter()
            log(f"[{name}]")
            load_before = os.getloadavg()[0]
            with warnings.catch_warnings():
                # Fits of a few epochs do not converge; small training subsets
                # make test images "out of range". Neither is what is measured.
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", OutOfRangeWarning)
                r[name] = fn(s)
            r[name]["section_s"] = time.perf_counter() - t
            r[name]["loadavg_1min_before_after"] = [load_before, os.getloadavg()[0]]
            log(f"[{name}] {r[name]['section_s']:.0f} s")
    r["bars"] = bars(r)
    r["total_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(r, indent=2, default=str))
    table = markdown(r)
    (args.out / "bench.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
