"""Performance of skae: wrapper overhead, throughput, latency, import, scale.

Usage::

    python benchmarks/run.py --data ../shared/data/mnist.npz --out results/
    python benchmarks/run.py --quick      # small subsets, 1-2 epochs: a CI smoke run
    python benchmarks/run.py ... --memmap-gb 4   # also: one epoch on a 4 GB memmap

This script only drives the sections. Each section is one module,
``perf_*.py``, that holds its settings (``SETTINGS``: each as a pair, the full
run's and ``--quick``'s), its measurement (``measure``), its markdown
(``TITLE``, ``render``) and its pass/fail criteria (``bars``); the timing and
statistics they share are in ``common.py``. Every figure is a ratio against
a baseline measured alongside it in this one run (the machine is shared and
noisy; medians of repeats throughout):

0. small     (``perf_small.py``) -- fit time and test MSE on digits against
   scikit-learn's ``MLPRegressor`` at equal epochs, and a 12-fit grid search
   of each. Bar: skae <= 1.0x the MLP's time, with a lower MSE.
1. overhead  (``perf_overhead.py``) -- epoch time of ``AutoencoderTransformer.fit``
   against a plain Keras ``model.fit`` of the same 784-256-128-32 model, and
   the two feeds of skae's batches (tf.data, ``PyDataset``) to ``Model.fit``
   on that model. Bar: ratio <= 0.80.
2. scikeras  (``perf_scikeras.py``) -- scikeras's autoencoder recipe against
   skae at 784-32-784 and 784-256-128-32: fit time and test MSE over seeds.
   Bars: median paired fit-time ratio <= 1.05; skae's mean MSE <= scikeras's +
   one standard error of the difference. Runs last: a seeded scikeras fit can
   leave TensorFlow's op determinism on.
3. pca       (``perf_pca.py``) -- PCA against the autoencoder over
   ``n_components``: fit time, transform time per 1,000 rows, test MSE.
4. hardware  (``perf_hardware.py``) -- training throughput in samples/s and
   GFLOP/s against NumPy's float32 matmul peak. Bar: >= 50% of peak.
5. latency   (``perf_latency.py``) -- ``transform`` of 1 to 10,000 rows against
   ``PCA.transform``. Bars: one row <= 1 ms; <= 10x PCA.
6. import    (``perf_import.py``) -- ``import skae`` in fresh interpreters,
   against ``import sklearn.decomposition``; and whether it loads TensorFlow.
7. scale     (``perf_scale.py``) -- one-epoch fits of 10k/30k/60k MNIST rows
   and of a 200k-row uint8 memmap: fit time per sample and peak RSS increase
   (no float32 copy of the data). 7b, memmap_large (``perf_memmap.py``), with
   ``--memmap-gb``: one epoch on a memmap of that many GB.

In the full run every training measurement runs in a fresh subprocess
(``common.run_task``): a fit fed through a Python generator (a
``keras.utils.PyDataset``, which skae fed Keras before its tf.data pipeline
and still feeds other backends, or ``tf.data.Dataset.from_generator``) leaves
the process in a state where every later TensorFlow fit takes tens of times
more page faults: TensorFlow's generator dataset sets glibc's
``M_TRIM_THRESHOLD`` to 128 kB for the whole process ("Memory patch applied"
in its log). Section 1 measures both feeds and that effect. ``--quick`` runs
everything in this process (and the scale fits in one child), which is enough
to exercise the code; it fails only on errors, never on a missed bar.

``--sections scikeras,latency`` runs only the named sections (default: all).

Writes ``bench.json`` (raw numbers and a ``bars`` dict) and ``bench.md`` to
``--out`` and prints the markdown.
"""

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

# The benchmark's own process and its children: TensorFlow's C++ start-up chatter
# is noise in a results table. (skae itself never sets environment variables.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402
import numpy as np  # noqa: E402
import perf_hardware  # noqa: E402
import perf_import  # noqa: E402
import perf_latency  # noqa: E402
import perf_memmap  # noqa: E402
import perf_overhead  # noqa: E402
import perf_pca  # noqa: E402
import perf_scale  # noqa: E402
import perf_scikeras  # noqa: E402
import perf_small  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

#: The sections, in the order they run and appear in ``bench.md``: scikeras
#: last, since a seeded scikeras fit may leave op determinism on in a process.
SECTIONS = {
    "small": perf_small,
    "overhead": perf_overhead,
    "pca": perf_pca,
    "hardware": perf_hardware,
    "latency": perf_latency,
    "import": perf_import,
    "scale": perf_scale,
    "memmap_large": perf_memmap,
    "scikeras": perf_scikeras,
}


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


def markdown(r):
    mc = r["machine"]
    loads = [r[key]["loadavg_1min_before_after"] for key in SECTIONS if key in r]
    out = [
        f"{mc['cpu_count']} CPUs, Python {mc['python']}, NumPy {mc['numpy']}, "
        f"scikit-learn {mc['scikit-learn']}, Keras {mc['keras']} "
        f"({mc['keras_backend']}). 1-min load average during the run: "
        f"{min(min(x) for x in loads):.1f}-{max(max(x) for x in loads):.1f} "
        "(other work shares the machine; every figure is compared with a "
        "baseline measured alongside it).\n"
    ]
    for key, module in SECTIONS.items():
        if key in r:
            out.append(f"## {module.TITLE}\n")
            skipped = r[key].get("skipped")
            out.append(f"Skipped: {skipped}\n" if skipped else module.render(r[key]))
    out.append("## Bars\n")
    bars = [[name, common.met(flag)] for name, flag in r["bars"].items()]
    out += common.md_table(["bar", "result"], bars, align="l")
    quick = " (--quick)" if r["settings"]["quick"] else ""
    out.append(f"\nTotal {r['total_s']:.0f} s{quick}.")
    return "\n".join(out) + "\n"


def _section_names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}; choose "
            f"from {','.join(SECTIONS)}"
        )
    return names


def parse_args(argv):
    parser = common.arg_parser(__doc__, "small subsets, 1-2 epochs: smoke run")
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
        f"{','.join(SECTIONS)} (default: all; memmap_large needs --memmap-gb)",
    )
    parser.add_argument("--task", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def load_data(args, test_rows):
    """MNIST's train and test images; synthetic ones for a smoke run without it."""
    from skae.datasets import load_mnist

    if args.data.exists() or not args.quick:
        (X_train, _), (X_test, _) = load_mnist(args.data)
        return X_train, X_test[:test_rows], str(args.data)
    # A smoke run needs data of MNIST's shape, not MNIST.
    common.log(f"{args.data} not found: synthetic uniform data in MNIST's shape")
    rng = np.random.default_rng(0)
    X_train = rng.uniform(size=(4096, 784)).astype(np.float32)
    X_test = rng.uniform(size=(test_rows, 784)).astype(np.float32)
    return X_train, X_test, "synthetic (uniform, 4096 x 784)"


def run_section(module, s):
    """Run one section with its settings; return them and its result."""
    from skae.exceptions import OutOfRangeWarning

    settings = {k: full_quick[s["quick"]] for k, full_quick in module.SETTINGS.items()}
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    with warnings.catch_warnings():
        # Fits of a few epochs do not converge; small training subsets make
        # test images "out of range". Neither is what is measured.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", OutOfRangeWarning)
        result = module.measure({**s, **settings})
    result["section_s"] = time.perf_counter() - start
    result["loadavg_1min_before_after"] = [load_before, os.getloadavg()[0]]
    return settings, result


def main(argv=None):
    args = parse_args(argv)
    if args.task:
        common.run_child(args.task)
        return
    start = time.perf_counter()
    names = [
        name
        for name in SECTIONS
        if name in (args.sections or SECTIONS)
        and (name != "memmap_large" or args.memmap_gb > 0)
    ]
    s = {
        "quick": args.quick,
        "fresh": not args.quick,
        "test_rows": 1_000 if args.quick else 10_000,
        "memmap_gb": args.memmap_gb,
        "sections": args.sections or "all",
    }
    X_train, X_test, s["data"] = load_data(args, s["test_rows"])
    r = {"settings": dict(s), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="skae-bench-", dir="/tmp") as tmp:
        # Children read the data from here.
        s["tmp"] = tmp
        s["train_npy"] = str(Path(tmp) / "train.npy")
        s["test_npy"] = str(Path(tmp) / "test.npy")
        np.save(s["train_npy"], X_train)
        np.save(s["test_npy"], X_test)
        del X_train, X_test
        for name in names:
            common.log(f"[{name}]")
            r["settings"][name], r[name] = run_section(SECTIONS[name], s)
            common.log(f"[{name}] {r[name]['section_s']:.0f} s")
    r["bars"] = {}
    for name in names:
        if "skipped" not in r[name]:
            r["bars"].update(SECTIONS[name].bars(r[name]))
    r["total_s"] = time.perf_counter() - start
    common.write_results(args.out, "bench", r, markdown(r))


if __name__ == "__main__":
    main()
