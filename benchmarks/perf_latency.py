"""Section 5: ``transform`` latency against ``PCA.transform``.

``transform`` of 1 to 10,000 MNIST rows (784 -> 32) by a fitted skae
autoencoder and by ``PCA``, calls interleaved after a warm-up; with where
skae's time goes (its compiled TensorFlow call and scikit-learn's
``validate_data``), and what Keras's ``predict_on_batch`` and, for up to 100
rows, ``predict`` would cost in its place. With the ``onnx`` extra
installed, also the encoder exported by ``export(format="onnx")`` run by
ONNX Runtime: what serving rows one at a time can use instead. Bars: one row
<= 1 ms; one row <= 3x PCA (issue 16); <= 10x PCA at every size.
"""

import tempfile
from pathlib import Path

import common
import numpy as np
from sklearn.decomposition import PCA

#: Each setting in the full run and with ``--quick``: the row counts, the
#: calls timed (fewer for larger inputs), the warm-up calls, and the calls of
#: Keras's ``predict`` for inputs of at most ``predict_max_rows`` rows.
SETTINGS = {
    "rows": ((1, 10, 100, 10_000), (1, 10, 100, 10_000)),
    "repeats": (300, 10),
    "min_repeats": (20, 3),
    "warmup": (10, 1),
    "predict_repeats": (20, 2),
    "predict_max_rows": (100, 100),
}


def onnx_encoder(ae, folder):
    """``ae``'s encoder exported to ONNX as an ONNX Runtime call, or None.

    None when the ``onnx`` extra (tf2onnx, onnxruntime) is not installed.
    """
    try:
        import onnxruntime
        import tf2onnx  # noqa: F401  (what export(format="onnx") needs)
    except ImportError:
        return None
    path = Path(folder) / "encoder.onnx"
    ae.export(path, format="onnx")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    # As export() documents: inputs converted as transform converts them.
    return lambda X: session.run(None, {name: X.astype(np.float32)})[0]


def measure(s):
    from sklearn.utils.validation import validate_data

    from skae import _pipeline

    X = common.load_rows(s["train_npy"], 2048)
    ae = common.skae_fit(
        X, n_components=common.N_COMPONENTS, hidden_layer_sizes=common.HIDDEN, epochs=1
    )
    pca = PCA(common.N_COMPONENTS, random_state=0).fit(X)
    with tempfile.TemporaryDirectory() as folder:  # the session holds the model
        onnx = onnx_encoder(ae, folder)
    X_all = common.load_rows(s["train_npy"])
    rng = np.random.default_rng(0)
    rows = []
    for n in s["rows"]:
        Xn = X_all[rng.integers(len(X_all), size=n)]
        reps = max(s["min_repeats"], s["repeats"] // max(1, n // 100))
        X32 = Xn.astype(np.float32)
        # skae.transform, PCA.transform, where skae's time goes (its compiled
        # call, scikit-learn's input checks), Keras's predict_on_batch and,
        # when installed, the ONNX export: all interleaved.
        fns = [
            lambda Xn=Xn: ae.transform(Xn),
            lambda Xn=Xn: pca.transform(Xn),
            lambda X32=X32: _pipeline.predict(ae.encoder_, X32),
            lambda Xn=Xn: validate_data(ae, Xn, reset=False, dtype="numeric"),
            lambda Xn=Xn: ae.encoder_.predict_on_batch(Xn),
        ]
        if onnx is not None:
            fns.append(lambda Xn=Xn: onnx(Xn))
        times = common.timings(fns, reps, warmup=min(s["warmup"], reps))
        t_ae, t_pca, t_call, t_check, t_keras = map(common.median, times[:5])
        t_onnx = common.median(times[5]) if onnx is not None else None
        # Keras's own predict: a loop built for many batches (timed apart: it
        # costs about 100 ms a call).
        t_predict = None
        if n <= s["predict_max_rows"]:
            (t,) = common.timings(
                [lambda Xn=Xn: ae.encoder_.predict(Xn, verbose=0)],
                s["predict_repeats"],
            )
            t_predict = common.median(t)
        rows.append(
            {
                "rows": n,
                "repeats": reps,
                "skae_ms": 1e3 * t_ae,
                "pca_ms": 1e3 * t_pca,
                "ratio_to_pca": t_ae / t_pca,
                "skae_compiled_call_ms": 1e3 * t_call,
                "keras_predict_on_batch_ms": 1e3 * t_keras,
                "sklearn_validate_data_ms": 1e3 * t_check,
                "keras_predict_ms": None if t_predict is None else 1e3 * t_predict,
                "onnx_runtime_ms": None if t_onnx is None else 1e3 * t_onnx,
            }
        )
        common.log(
            f"  transform {n} rows: skae {1e3 * t_ae:.3f} ms, PCA {1e3 * t_pca:.3f} ms"
        )
    one = rows[0]
    return {
        "table": rows,
        "one_row_bar_met": bool(one["rows"] == 1 and one["skae_ms"] <= 1.0),
        "one_row_ratio_bar_met": bool(one["rows"] == 1 and one["ratio_to_pca"] <= 3),
        "ratio_bar_met_all_sizes": bool(all(r["ratio_to_pca"] <= 10 for r in rows)),
        "ratio_bar_met_by_rows": {
            str(r["rows"]): bool(r["ratio_to_pca"] <= 10) for r in rows
        },
    }


TITLE = "5. Transform latency (784 -> 32)"


def bars(la):
    return {
        "5. transform of one row <= 1 ms": la["one_row_bar_met"],
        "5. transform of one row <= 3x PCA (issue 16)": la["one_row_ratio_bar_met"],
        "5. transform <= 10x PCA (every size)": la["ratio_bar_met_all_sizes"],
    }


def _ms(value, digits=3):
    return "" if value is None else f"{value:.{digits}f}"


def render(la):
    out = common.md_table(
        ["rows", "skae.transform (ms)", "PCA.transform (ms)", "ratio",
         "of which the compiled call (ms)", "of which validate_data (ms)",
         "Keras predict_on_batch, instead (ms)", "Keras predict, instead (ms)",
         "ONNX export in ONNX Runtime (ms)"],
        [
            [x["rows"], _ms(x["skae_ms"]), _ms(x["pca_ms"]),
             _ms(x["ratio_to_pca"], 1), _ms(x["skae_compiled_call_ms"]),
             _ms(x["sklearn_validate_data_ms"]), _ms(x["keras_predict_on_batch_ms"]),
             _ms(x["keras_predict_ms"], 1), _ms(x["onnx_runtime_ms"])]
            for x in la["table"]
        ],
        align="r",
    )  # fmt: skip
    bad = [k for k, v in la["ratio_bar_met_by_rows"].items() if not v]
    out.append(
        f"\nMedians of interleaved calls after warm-up; Keras's `predict` (what "
        f"skae's transform avoids) timed apart. One row <= 1 ms: "
        f"{common.met(la['one_row_bar_met'])}. One row <= 3x PCA: "
        f"{common.met(la['one_row_ratio_bar_met'])}. <= 10x PCA at every size: "
        f"{common.met(la['ratio_bar_met_all_sizes'])}"
        + (f" (missed at {', '.join(bad)} rows)" if bad else "")
        + ".\n"
    )
    one = la["table"][0]
    if one["onnx_runtime_ms"] is None:
        out.append(
            "The ONNX export was not timed: the `onnx` extra is not installed.\n"
        )
    else:
        out.append(
            f"Rows served one at a time can use the encoder exported with "
            f'`export(path, format="onnx")`: in ONNX Runtime one row took '
            f"{one['onnx_runtime_ms']:.3f} ms, "
            f"{one['onnx_runtime_ms'] / one['pca_ms']:.2f}x `PCA.transform`.\n"
        )
    return "\n".join(out)
