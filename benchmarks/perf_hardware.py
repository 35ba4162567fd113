"""Section 4: training throughput against the machine's matmul peak.

The default skae fit of the 784-256-128-32 autoencoder in samples/s and
GFLOP/s against NumPy's float32 ``2048 x 2048`` matmul peak, measured in the
same process before and after the fit. Bar: >= 50% of peak. When it is missed
(and always with ``--quick``), plain Keras fits and ``train_on_batch`` steps at
larger batches and NumPy's matmuls of one step's shapes show what holds it
back.
"""

import os

import common
import numpy as np

#: Each setting in the full run and with ``--quick``.
SETTINGS = {
    "rows": (30_000, 2_048),
    "epochs": (4, 2),
    "batch_sizes": ((256, 1024, 4096), (256,)),
    "step_repeats": (20, 2),
    "peak_repeats": (10, 2),
}


def dense_shapes(
    n_features=784, hidden=common.HIDDEN, n_components=common.N_COMPONENTS
):
    sizes = [n_features, *hidden, n_components, *hidden[::-1], n_features]
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def train_flops_per_sample(shapes):
    """Forward 2*MACs + backward 4*MACs: 6 x (kernel entries) per sample.

    Biases, activations, the loss and the optimizer update are left out (< 1%);
    so is the fact that the first layer needs no input gradient (its backward
    is 2*MACs, not 4), so this slightly overstates the work.
    """
    return 6 * sum(n_in * n_out for n_in, n_out in shapes)


def matmul_peak(repeats, n=2048):
    """Best float32 GFLOP/s of ``a @ b`` (n x n) through NumPy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    (times,) = common.timings([lambda: a @ b], repeats)
    return 2 * n**3 / min(times) / 1e9


def numpy_dense_step_s(batch, shapes, repeats):
    """Seconds of the forward and backward matmuls of the model in NumPy.

    The better of one and all BLAS threads: on a loaded machine a second BLAS
    thread waits for a core and can make small products slower.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]
    xs = [rng.standard_normal((batch, n_in), dtype=np.float32) for n_in, _ in shapes]
    gs = [rng.standard_normal((batch, n_out), dtype=np.float32) for _, n_out in shapes]

    def step():
        for w, x, g in zip(weights, xs, gs, strict=True):
            x @ w  # forward
            x.T @ g  # kernel gradient
            g @ w.T  # input gradient

    times = []
    for threads in (1, None):
        with threadpool_limits(threads):
            times.append(common.median_seconds(step, repeats, warmup=2))
    return min(times)


def skae_throughput(data, rows, epochs, peak_repeats):
    """Default skae fit's epochs, with NumPy's matmul peak before and after."""
    from threadpoolctl import threadpool_info, threadpool_limits

    X = common.load_rows(data, rows)
    peak_before = matmul_peak(peak_repeats)
    timer = common.epoch_timer()
    common.skae_fit(
        X, n_components=common.N_COMPONENTS, hidden_layer_sizes=common.HIDDEN,
        epochs=epochs, callbacks=[timer],
    )  # fmt: skip
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


def _keras_fit(X, bs, epochs, flops):
    timer = common.epoch_timer()
    common.plain_keras_model().fit(X, X, batch_size=bs, epochs=epochs, shuffle=True,
                            verbose=0, callbacks=[timer])  # fmt: skip
    e, cpu = common.median(timer.times[1:]), common.median(timer.cpu[1:])
    common.log(f"  keras fit bs={bs}: {len(X) / e * flops / 1e9:.1f} GFLOP/s")
    return {
        "batch_size": bs,
        "epoch_s": e,
        "samples_per_s": len(X) / e,
        "gflops": len(X) / e * flops / 1e9,
        "gflop_per_cpu_s": len(X) * flops / cpu / 1e9,
        "sys_share_of_cpu": common.median(timer.sys[1:]) / cpu,
        "s_per_step": e / -(-len(X) // bs),
    }


def keras_limits(data, rows, epochs, batch_sizes, step_repeats):
    """Plain Keras fits and bare steps by batch size; NumPy's matmuls alone."""
    X = common.load_rows(data, rows)
    shapes = dense_shapes()
    flops = train_flops_per_sample(shapes)
    fits = [_keras_fit(X, bs, epochs, flops) for bs in batch_sizes]
    model = common.plain_keras_model()
    steps = []
    for bs in (1, *batch_sizes):
        xb = np.ascontiguousarray(X[:bs])
        t = common.median_seconds(
            lambda xb=xb: model.train_on_batch(xb, xb), step_repeats, 3
        )
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
        common.log(
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


def measure(s):
    flops = train_flops_per_sample(dense_shapes())
    t = common.run_task(s, skae_throughput, data=s["train_npy"], rows=s["rows"],
                 epochs=s["epochs"], peak_repeats=s["peak_repeats"])  # fmt: skip
    peak = max(t["numpy_peak_gflops_before"], t["numpy_peak_gflops_after"])
    epochs = t["epochs"]
    throughput = s["rows"] / common.median(epochs["wall_s"])
    achieved = throughput * flops / 1e9
    # Load-independent view: work done per CPU-second the process got, against
    # what one core does in NumPy.
    per_cpu_s = s["rows"] * flops / common.median(epochs["cpu_s"]) / 1e9
    result = {
        **t,
        "flops_formula": "6 x sum(n_in * n_out) over the Dense kernels per sample "
        "(forward 2*MACs, backward 4*MACs; biases/activations/optimizer ignored)",
        "train_flops_per_sample": flops,
        "rows": s["rows"],
        "skae_batch_size": 256,
        "skae_samples_per_s": throughput,
        "skae_gflops": achieved,
        "skae_gflop_per_cpu_s": per_cpu_s,
        "skae_sys_share_of_cpu": common.median(epochs["sys_s"])
        / common.median(epochs["cpu_s"]),
        "numpy_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "gflop_per_cpu_s_over_one_thread_peak": (
            per_cpu_s / t["numpy_peak_gflops_one_thread"]
        ),
        "bar_met": bool(achieved / peak >= 0.5),
        "cpu_count": os.cpu_count(),
    }
    common.log(
        f"  skae: {throughput:.0f} samples/s = {achieved:.1f} GFLOP/s; NumPy peak "
        f"{peak:.1f} GFLOP/s -> {achieved / peak:.0%}"
    )
    if result["bar_met"] and not s["quick"]:
        return result
    # What holds it back: larger batches through plain Keras, the bare step,
    # and NumPy doing only the matmuls of one step.
    result.update(
        common.run_task(
            s,
            keras_limits,
            data=s["train_npy"],
            rows=s["rows"],
            epochs=s["epochs"],
            batch_sizes=list(s["batch_sizes"]),
            step_repeats=s["step_repeats"],
        )  # fmt: skip
    )
    return result


TITLE = "4. Hardware limit"


def bars(h):
    return {"4. training >= 50% of NumPy matmul peak": h["bar_met"]}


def render(h):
    out = common.md_table(["", "value"], [
        ["skae fit throughput (batch 256)", f"{h['skae_samples_per_s']:.0f} samples/s"],
        ["train FLOPs per sample", f"{h['train_flops_per_sample'] / 1e6:.3f} M"],
        ["achieved", f"{h['skae_gflops']:.1f} GFLOP/s"],
        ["NumPy float32 matmul peak (2048², best before/after the fit)",
         f"{h['numpy_peak_gflops']:.1f} GFLOP/s"],
        ["fraction of peak", f"{h['fraction_of_peak']:.0%}"],
        ["NumPy peak with one BLAS thread",
         f"{h['numpy_peak_gflops_one_thread']:.1f} GFLOP/s"],
        ["skae work per CPU-second it got (load-independent)",
         f"{h['skae_gflop_per_cpu_s']:.1f} GFLOP/CPU-s = "
         f"{h['gflop_per_cpu_s_over_one_thread_peak']:.0%} of one thread's peak"],
        ["system (kernel) share of skae's CPU", f"{h['skae_sys_share_of_cpu']:.0%}"],
    ])  # fmt: skip
    out.append(
        f"\nFLOPs: {h['flops_formula']}. Bar >= 50% of peak: "
        f"{common.met(h['bar_met'])}.\n"
    )
    if "keras_fit_by_batch_size" in h:
        out += _render_limits(h, h["numpy_peak_gflops"])
    return "\n".join(out)


#: The tables of what holds training back: plain Keras fits by batch size,
#: and bare training steps against NumPy doing only their matmuls.
FIT_COLUMNS = {
    "plain Keras fit, batch": "{batch_size}",
    "samples/s": "{samples_per_s:.0f}",
    "GFLOP/s": "{gflops:.1f}",
    "% of peak": "{of_peak:.0%}",
    "GFLOP/CPU-s": "{gflop_per_cpu_s:.1f}",
    "system share of CPU": "{sys_share_of_cpu:.0%}",
    "ms/step": "{ms_per_step:.2f}",
    "fit-loop ms/step beyond train_on_batch": (
        "{fit_loop_ms_per_step_over_train_on_batch:.2f}"
    ),
}
STEP_COLUMNS = {
    "train_on_batch, batch": "{batch_size}",
    "ms/step": "{train_on_batch_ms:.3f}",
    "GFLOP/s": "{gflops:.1f}",
    "% of peak": "{of_peak:.0%}",
    "fixed cost share": "{fixed_cost_share:.0%}",
    "NumPy matmuls only (ms)": "{numpy_matmuls_ms:.3f}",
    "NumPy GFLOP/s": "{numpy_matmuls_gflops:.1f}",
}


def _render_limits(h, peak):
    fits = [
        {**x, "of_peak": x["gflops"] / peak, "ms_per_step": 1e3 * x["s_per_step"]}
        for x in h["keras_fit_by_batch_size"]
    ]
    steps = [{**x, "of_peak": x["gflops"] / peak} for x in h["train_on_batch"]]
    out = common.md_records(FIT_COLUMNS, fits, align="r")
    out.append("")
    out += common.md_records(STEP_COLUMNS, steps, align="r")
    out.append(
        "\nFixed cost share: the batch-1 step time over the step time. NumPy "
        "matmuls: the forward and backward products of one step (the better of 1 "
        "and 2 BLAS threads). The plain fits and steps ran in a fresh process "
        "before any skae fit.\n"
    )
    return out
