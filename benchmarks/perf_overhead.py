"""Section 1: wrapper overhead, and the two ways of feeding Keras skae's batches.

Per-epoch wall time, CPU time, system time and minor page faults of fits of
the 784-256-128-32 autoencoder at batch 256, the first (tracing) epoch left
out. The fits, interleaved round by round:

* ``plain``: a plain Keras ``model.fit`` on arrays -- the baseline;
* ``skae``: ``AutoencoderTransformer.fit``, as a user runs it (on
  TensorFlow: skae's compiled loop, whole runs of batches per call, and with
  ``jit_compile="auto"`` XLA, since this network has 528,000 weights);
* ``skae_no_xla`` and ``plain_xla``: the two halves of that, apart: skae with
  ``jit_compile=False``, and the plain Keras fit with ``jit_compile=True``;
* ``tf_data`` and ``pydataset``: the plain Keras model compiled the same way,
  fed skae's own ``skae._data.Batches`` through ``Model.fit`` and
  ``skae._pipeline.fit_input(batches, tf_data=...)``: the tf.data pipeline
  skae gives ``Model.fit`` on TensorFlow (when a callback watches batches,
  say), or the ``keras.utils.PyDataset`` itself (what other backends get, and
  what Keras wraps in ``from_generator`` on TensorFlow).

The two feeds are timed on a bare Keras model, chosen by ``fit_input``'s
keyword, rather than through ``AutoencoderTransformer.fit``: the estimator has
no switch for its feed, and the benchmark changes no state inside skae to make
one. The same model, batches and callbacks on both sides leave the feed as the
only difference; the ``skae`` row against the ``tf_data`` row shows what the
compiled loop saves over ``Model.fit``, with what the estimator adds.

Then the process-state effect: a plain Keras fit in a process that has first
run a short skae fit, or a short fit fed the ``PyDataset``
(TensorFlow's generator dataset sets glibc's ``M_TRIM_THRESHOLD`` for the
whole process; see ``docs/performance.rst``).

Bar: skae's median epoch time <= 0.80x plain Keras's (it was <= 1.05x while
skae trained through ``Model.fit``).
"""

import common
import numpy as np

#: Each setting in the full run and with ``--quick``.
SETTINGS = {"rows": (30_000, 2_048), "epochs": (6, 2), "rounds": (3, 1)}

BATCH_SIZE = 256
#: skae's epoch time over plain Keras's, at most.
BAR = 0.80
KEYS = ("wall_s", "cpu_s", "sys_s", "minor_faults")
KINDS = ("plain", "skae", "skae_no_xla", "plain_xla", "tf_data", "pydataset")
#: Which fit runs first in the process before a plain Keras fit is timed.
AFTER = {"plain_after_skae": "skae", "plain_after_pydataset": "pydataset"}


def _fit_plain(X, epochs, callbacks, jit_compile=None):
    model = common.plain_keras_model()
    if jit_compile is not None:  # else Keras's default: no XLA on a CPU
        model.jit_compile = jit_compile
    model.fit(
        X, X, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=0,
        callbacks=callbacks,
    )  # fmt: skip


def _fit_skae(X, epochs, callbacks, jit_compile="auto"):
    common.skae_fit(
        X, n_components=common.N_COMPONENTS, hidden_layer_sizes=common.HIDDEN,
        batch_size=BATCH_SIZE, epochs=epochs, callbacks=callbacks,
        jit_compile=jit_compile,
    )  # fmt: skip


def _fit_fed(X, epochs, callbacks, tf_data):
    """The plain Keras model fed skae's batches, by ``fit_input``'s feed."""
    import keras

    from skae._data import Batches
    from skae._pipeline import fit_input

    batches = Batches(X, np.arange(len(X)), BATCH_SIZE, dtype="float32", seed=0)
    # What skae's training does at every epoch: serve that epoch's order.
    set_epoch = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: batches.set_epoch(epoch)
    )
    common.plain_keras_model().fit(
        fit_input(batches, tf_data=tf_data), epochs=epochs, shuffle=False,
        verbose=0, callbacks=[set_epoch, *callbacks],
    )  # fmt: skip


FITS = {
    "plain": _fit_plain,
    "skae": _fit_skae,
    "skae_no_xla": lambda X, epochs, callbacks: _fit_skae(X, epochs, callbacks, False),
    "plain_xla": lambda X, epochs, callbacks: _fit_plain(X, epochs, callbacks, True),
    "tf_data": lambda X, epochs, callbacks: _fit_fed(X, epochs, callbacks, True),
    "pydataset": lambda X, epochs, callbacks: _fit_fed(X, epochs, callbacks, False),
}


def fit_epochs(kind, data, rows, epochs, first=None):
    """Per-epoch figures of one fit of ``kind``, after a 1-epoch ``first`` fit."""
    X = common.load_rows(data, rows)
    if first is not None:
        FITS[first](X, 1, [])
    timer = common.epoch_timer()
    FITS[kind](X, epochs, [timer])
    return timer.timed()


def measure(s):
    args = dict(data=s["train_npy"], rows=s["rows"], epochs=s["epochs"])
    runs = {kind: {k: [] for k in KEYS} for kind in (*KINDS, *AFTER)}
    for i in range(s["rounds"]):
        for kind in KINDS:
            for k, v in common.run_task(s, fit_epochs, kind=kind, **args).items():
                runs[kind][k] += v
        common.log(
            f"  overhead round {i + 1}/{s['rounds']}: "
            + ", ".join(f"{k} {runs[k]['wall_s'][-1]:.2f} s" for k in KINDS)
            + " (last epoch)"
        )
    for name, first in AFTER.items():
        runs[name] = common.run_task(s, fit_epochs, kind="plain", first=first, **args)
    med = {
        kind: {k: common.median(v) for k, v in x.items()} for kind, x in runs.items()
    }

    def ratio(kind, key="wall_s", base="plain"):
        return med[kind][key] / med[base][key]

    steps = -(-s["rows"] // BATCH_SIZE)
    return {
        "rows": s["rows"],
        "epochs_per_fit": s["epochs"],
        "fits_each": s["rounds"],
        "fresh_process_per_fit": s["fresh"],
        "epochs": runs,
        "median": med,
        "ratio": ratio("skae"),
        "no_xla_ratio": ratio("skae_no_xla"),
        "plain_xla_ratio": ratio("plain_xla"),
        "skae_over_plain_xla": ratio("skae", base="plain_xla"),
        "cpu_ratio": ratio("skae", "cpu_s"),
        "extra_minor_faults_per_step": (
            med["skae"]["minor_faults"] - med["plain"]["minor_faults"]
        )
        / steps,
        "tf_data_ratio": ratio("tf_data"),
        "tf_data_cpu_ratio": ratio("tf_data", "cpu_s"),
        "pydataset_ratio": ratio("pydataset"),
        "pydataset_cpu_ratio": ratio("pydataset", "cpu_s"),
        "pydataset_over_tf_data": ratio("pydataset", base="tf_data"),
        "pydataset_extra_minor_faults_per_step": (
            med["pydataset"]["minor_faults"] - med["tf_data"]["minor_faults"]
        )
        / steps,
        "plain_after_skae_cpu_ratio": ratio("plain_after_skae", "cpu_s"),
        "plain_after_pydataset_cpu_ratio": ratio("plain_after_pydataset", "cpu_s"),
        "bar_met": bool(ratio("skae") <= BAR),
    }


TITLE = "1. Wrapper overhead (784-256-128-32, batch 256)"


def bars(o):
    return {f"1. skae epoch time <= {BAR}x plain Keras": o["bar_met"]}


NAMES = {
    "plain": "plain Keras `model.fit` on arrays",
    "skae": 'skae `fit`, defaults (compiled loop; XLA by `jit_compile="auto"`)',
    "skae_no_xla": "skae `fit`, `jit_compile=False` (compiled loop only)",
    "plain_xla": "plain Keras `model.fit` on arrays, `jit_compile=True`",
    "tf_data": "plain Keras model fed skae's batches: `fit_input(..., tf_data=True)`",
    "pydataset": "plain Keras model fed the `PyDataset`: `tf_data=False` (other "
    "backends' path)",
    "plain_after_skae": "plain Keras `model.fit`, after a skae fit in its process",
    "plain_after_pydataset": "plain Keras `model.fit`, after a `PyDataset` fit in "
    "its process",
}


def render(o):
    out = common.md_table(
        ["fit", "median epoch wall (s)", "CPU (s, all threads)",
         "of which system (s)", "minor page faults", "epochs timed"],
        [
            [name, f"{m['wall_s']:.3f}", f"{m['cpu_s']:.3f}", f"{m['sys_s']:.3f}",
             f"{m['minor_faults']:.0f}", len(o["epochs"][key]["wall_s"])]
            for key, name in NAMES.items()
            for m in [o["median"][key]]
        ],
    )  # fmt: skip
    where = "each in a fresh process" if o["fresh_process_per_fit"] else "one process"
    out.append(
        f"\n{o['rows']} MNIST rows, {o['epochs_per_fit']} epochs per fit (the first "
        f"excluded), {o['fits_each']} fits of each of the first six, interleaved, "
        f"{where}. Ratio skae / plain = {o['ratio']:.3f} (bar <= {BAR}: "
        f"{common.met(o['bar_met'])}); CPU-time ratio {o['cpu_ratio']:.3f}; skae "
        f"takes {o['extra_minor_faults_per_step']:.0f} more minor page faults per "
        "step. Apart: skae without XLA "
        f"{o['no_xla_ratio']:.3f}x plain Keras, plain Keras with XLA "
        f"{o['plain_xla_ratio']:.3f}x; skae / plain Keras with XLA = "
        f"{o['skae_over_plain_xla']:.3f}.\n"
    )
    out.append(
        "The two feeds, same model and batches: the tf.data pipeline costs "
        f"{o['tf_data_ratio']:.3f}x plain Keras's epoch (CPU "
        f"{o['tf_data_cpu_ratio']:.3f}); the `PyDataset` (Keras wraps it in "
        f"`from_generator`) {o['pydataset_ratio']:.3f}x (CPU "
        f"{o['pydataset_cpu_ratio']:.3f}), {o['pydataset_over_tf_data']:.2f}x the "
        f"tf.data epoch, with {o['pydataset_extra_minor_faults_per_step']:.0f} more "
        "minor page faults per step: the measurement behind the tf.data pipeline. "
        "A plain Keras fit in a process that has run a skae fit uses "
        f"{o['plain_after_skae_cpu_ratio']:.2f}x the CPU per epoch; after a "
        f"`PyDataset` fit, {o['plain_after_pydataset_cpu_ratio']:.2f}x.\n"
    )
    return "\n".join(out)
