"""Section 6: ``import skae`` in fresh interpreters.

Import time of ``skae`` against ``import sklearn.decomposition``, the two
interleaved, each in a fresh interpreter; and whether importing skae loads
TensorFlow or Keras. Bar: it loads neither.
"""

import subprocess
import sys

import common

#: Each setting in the full run and with ``--quick``.
SETTINGS = {"repeats": (5, 1)}

MODULES = ("skae", "sklearn.decomposition")

CODE = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "t = time.perf_counter() - t; "
    "print(t, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
)


def measure(s):
    runs = {module: [] for module in MODULES}
    loaded = {"tensorflow": False, "keras": False}
    for _ in range(s["repeats"]):
        for module in MODULES:  # interleaved, so drift hits both alike
            out = subprocess.run(
                [sys.executable, "-c", CODE.format(module=module)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            runs[module].append(float(out[0]))
            if module == "skae":
                loaded["tensorflow"] |= out[1] == "True"
                loaded["keras"] |= out[2] == "True"
    t_skae, t_sk = (
        common.median(runs["skae"]),
        common.median(runs["sklearn.decomposition"]),
    )
    return {
        "repeats": s["repeats"],
        "skae_s": runs["skae"],
        "sklearn_decomposition_s": runs["sklearn.decomposition"],
        "skae_median_s": t_skae,
        "sklearn_decomposition_median_s": t_sk,
        "ratio": t_skae / t_sk,
        "loads_tensorflow": loaded["tensorflow"],
        "loads_keras": loaded["keras"],
        "bar_met": not (loaded["tensorflow"] or loaded["keras"]),
    }


TITLE = "6. Import time (fresh interpreters)"


def bars(im):
    return {"6. import skae loads no TensorFlow/Keras": im["bar_met"]}


def render(im):
    out = common.md_table(
        ["import", "median (ms)"],
        [
            ["`import skae`", f"{1e3 * im['skae_median_s']:.0f}"],
            ["`import sklearn.decomposition`",
             f"{1e3 * im['sklearn_decomposition_median_s']:.0f}"],
        ],
    )  # fmt: skip
    out.append(
        f"\nMedian of {im['repeats']}; ratio {im['ratio']:.2f}. TensorFlow "
        f"loaded: {im['loads_tensorflow']}, Keras loaded: {im['loads_keras']} "
        f"(bar: neither -- {common.met(im['bar_met'])}).\n"
    )
    return "\n".join(out)
