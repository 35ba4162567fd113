"""What the benchmarks share: timing, statistics, data, models, output.

The one timing helper is :func:`timed`; :func:`timings` repeats it over
several functions, interleaved, and the sections take medians (or the best)
of what it returns. Per-epoch figures of a Keras fit come from
:func:`epoch_timer`.

``run.py``'s sections measure some things in a fresh interpreter each
(:func:`run_task`); ``quality.py`` and ``architectures.py`` share the MNIST
recipe, the noise and the comparison of :func:`compare_on_mnist`.
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
from sklearn.exceptions import ConvergenceWarning

#: 784-256-128-32: the deep model of the performance sections and of the
#: quality recipe.
HIDDEN = (256, 128)
N_COMPONENTS = 32

#: The autoencoder recipe of ``quality.py`` and ``architectures.py``: Adam,
#: binary cross-entropy with a sigmoid output (pixels in [0, 1]). In 4 epochs
#: it reached test MSE 0.0118 against 0.0150 with MSE and a linear output.
RECIPE = dict(
    n_components=N_COMPONENTS,
    hidden_layer_sizes=HIDDEN,
    batch_size=256,
    loss="binary_crossentropy",
)

#: The MNIST denoising noise: Gaussian, sigma 0.3, clipped to [0, 1], both on
#: the test images and in the denoising autoencoders' training.
NOISE = dict(noise="gaussian", noise_level=0.3, noise_clip=(0, 1))

#: The script a fresh process runs a task with.
RUNNER = Path(__file__).with_name("run.py")


def log(message):
    """Progress, on stderr: stdout carries the results table."""
    print(message, file=sys.stderr, flush=True)


# -- timing and statistics -------------------------------------------------------


def timed(fn):
    """``(seconds, result)`` of one call of ``fn()``."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def timings(fns, repeats, warmup=1):
    """Seconds of each call of each function, ``repeats`` calls each.

    Every function is called ``warmup`` times untimed first; then the
    functions take turns, so that the machine's load drifts hit all alike.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times, strict=True):
            t.append(timed(fn)[0])
    return times


def median(values):
    return float(statistics.median(values))


def median_seconds(fn, repeats, warmup=1):
    return median(timings([fn], repeats, warmup)[0])


def mean_std(values):
    """Mean and sample standard deviation (None for a single value)."""
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def met(flag):
    return "met" if flag else "**NOT met**"


def md_table(columns, rows, align="lr"):
    """A markdown table, as lines: a head of ``columns``, then ``rows`` of cells.

    ``align`` holds each column's alignment, ``l`` or ``r``; its last letter
    holds for the columns beyond it.
    """
    rule = {"l": "---", "r": "---:"}
    rules = [rule[align[min(i, len(align) - 1)]] for i in range(len(columns))]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(rules) + "|"]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def md_records(columns, records, align="lr"):
    """:func:`md_table` of dicts: ``columns`` maps each head to a template
    that ``str.format`` fills from a record, e.g. ``{"MSE": "{mse:.5f}"}``."""
    cells = [[t.format(**record) for t in columns.values()] for record in records]
    return md_table(list(columns), cells, align)


# -- fresh processes -------------------------------------------------------------


def run_task(s, fn, **kwargs):
    """``fn(**kwargs)``: in a fresh interpreter when ``s["fresh"]``.

    ``fn`` is a module-level function of a benchmark module; its keyword
    arguments and result go through JSON.
    """
    if not s["fresh"]:
        return fn(**kwargs)
    spec = json.dumps({"module": fn.__module__, "name": fn.__name__, "kwargs": kwargs})
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--task", spec], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"task {fn.__name__} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_child(spec):
    """Run one :func:`run_task` spec in this (fresh) process; print the result."""
    import importlib

    spec = json.loads(spec)
    fn = getattr(importlib.import_module(spec["module"]), spec["name"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fn(**spec["kwargs"])
    print(json.dumps(result))


# -- data and models -------------------------------------------------------------


def load_rows(path, rows=None):
    """The first ``rows`` rows of a saved float32 array, in memory."""
    return np.array(np.load(path, mmap_mode="r")[:rows])


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


def skae_fit(X, **params):
    """A seeded ``AutoencoderTransformer`` fitted on ``X``."""
    from skae import AutoencoderTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(random_state=0, **params).fit(X)


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


# -- MNIST comparisons (quality.py, architectures.py) ----------------------------


def load_mnist_subset(path, n_train):
    """MNIST's first ``n_train`` training images (all when None) and its test set."""
    from skae.datasets import load_mnist

    (X_train, _), (X_test, _) = load_mnist(path)
    return X_train[:n_train], X_test


def compare_on_mnist(reducers, X_train, X_test, random_state, **kwargs):
    """:func:`skae.compare_reducers` with :data:`NOISE` on the test images."""
    from skae import compare_reducers

    def progress(r):
        log(
            f"  {r['reducer']}: mse {r['mse']:.5f}, denoising psnr "
            f"{r['psnr']:.2f} dB, fit {r['fit_s']:.0f} s"
        )

    return compare_reducers(
        reducers, X_train, X_test, noise=NOISE["noise"],
        noise_level=NOISE["noise_level"], clip=NOISE["noise_clip"],
        random_state=random_state, progress=progress, **kwargs,
    )  # fmt: skip


# -- command line and output -----------------------------------------------------


def arg_parser(doc, quick_help):
    """A parser with the options every benchmark takes: --data, --out, --quick."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mnist.npz"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def write_results(out, name, result, table):
    """Write ``name.json`` and the markdown ``name.md`` to ``out``; print it."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    (out / f"{name}.md").write_text(table)
    print(table)
