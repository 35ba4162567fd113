"""Section 7: fit time and memory as the data grows.

One-epoch fits of the 784-256-128-32 autoencoder on 10k/30k/60k MNIST rows
(float32, in memory) and on a 200k-row uint8 memmap of tiled MNIST images,
each in a fresh subprocess after a warm-up fit: fit time per sample and peak
RSS increase. Bar: the memmap fit makes no float32 copy of the data.
``perf_memmap.py`` (7b) runs the same fit on a file larger than memory.
"""

import resource
import threading
import warnings
from pathlib import Path

import common
import numpy as np

#: Each setting in the full run and with ``--quick``.
SETTINGS = {
    "rows": ((10_000, 30_000, 60_000), (1_000, 2_000)),
    "memmap_rows": (200_000, 5_000),
}


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


def _fit_one(job):
    """Time and memory of one one-epoch fit of ``job``'s data."""
    from skae import AutoencoderTransformer

    if job["kind"] == "mnist":  # float32 in memory, as load_mnist returns it
        X = common.load_rows(job["path"], job["rows"])
    else:
        X = np.memmap(job["path"], dtype=np.uint8, mode="r", shape=(job["rows"], 784))
    before = _proc_status_kb("VmRSS", "RssAnon")
    reset = _reset_peak_rss()
    sampler = _AnonSampler()
    sampler.start()
    ae = AutoencoderTransformer(
        n_components=common.N_COMPONENTS, hidden_layer_sizes=common.HIDDEN, epochs=1,
        random_state=0, on_divergence="warn",
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_s, _ = common.timed(lambda: ae.fit(X))
    sampler.stop()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_kb = _proc_status_kb("VmHWM")["VmHWM"] if reset else maxrss_kb
    return {
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


def scale_fits(jobs):
    """One-epoch fits, one per job, after a warm-up fit; time and memory."""
    rng = np.random.default_rng(0)
    # Warm-up: TensorFlow's one-time start-up is not what this section measures.
    common.skae_fit(rng.uniform(size=(512, 784)).astype(np.float32), epochs=1)
    return [_fit_one(job) for job in jobs]


def write_memmap(path, X_float, rows):
    """A uint8 memmap of ``rows`` MNIST images (tiled), written in chunks."""
    images = np.rint(X_float * 255).astype(np.uint8)
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=(rows, images.shape[1]))
    for start in range(0, rows, len(images)):
        stop = min(start + len(images), rows)
        mm[start:stop] = images[: stop - start]
    mm.flush()
    del mm


def log_fit(r, label):
    common.log(
        f"  {label}: fit {r['fit_s']:.1f} s, peak RSS "
        f"+{r['peak_rss_increase_mb']:.0f} MB (anon +{r['peak_anon_increase_mb']:.0f})"
    )


def measure(s):
    jobs = [{"kind": "mnist", "rows": n, "path": s["train_npy"]} for n in s["rows"]]
    path = Path(s["tmp"]) / "mnist-tiled.u8"
    write_memmap(path, common.load_rows(s["train_npy"]), s["memmap_rows"])
    jobs.append({"kind": "memmap", "rows": s["memmap_rows"], "path": str(path)})
    # One fresh process per fit in the full run (a clean RSS baseline); all in
    # this process with --quick.
    if s["quick"]:
        results = common.run_task(s, scale_fits, jobs=jobs)
    else:
        results = []
        for job in jobs:
            results += common.run_task(s, scale_fits, jobs=[job])
            log_fit(results[-1], f"{job['kind']} {job['rows']} rows")
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


TITLE = "7. Scale (1 epoch, 784-256-128-32)"


def bars(sc):
    return {"7. memmap fit makes no float32 copy": sc["memmap_no_copy_bar_met"]}


def render(sc):
    m = sc["memmap"]
    out = common.md_table(
        ["data", "rows", "fit (s)", "µs/sample", "per-sample ratio to largest",
         "peak RSS increase (MB)", "peak anon RSS increase (MB)"],
        [
            *(
                ["MNIST float32", x["rows"], f"{x['fit_s']:.2f}",
                 f"{x['fit_us_per_sample']:.1f}",
                 f"{x['per_sample_ratio_to_largest']:.2f}",
                 f"{x['peak_rss_increase_mb']:.0f}",
                 f"{x['peak_anon_increase_mb']:.0f}"]
                for x in sc["mnist"]
            ),
            [f"uint8 memmap ({m['data_mb']:.0f} MB)", m["rows"], f"{m['fit_s']:.2f}",
             f"{1e6 * m['fit_s'] / m['rows']:.1f}", "",
             f"{m['peak_rss_increase_mb']:.0f}", f"{m['peak_anon_increase_mb']:.0f}"],
        ],
    )  # fmt: skip
    lf = sc["fit_s_linear_fit"]
    where = (
        "Each fit in a fresh subprocess"
        if sc["fresh_process_per_fit"]
        else "All fits in this process (quick)"
    )
    out.append(
        f"\nfit time ~ {lf['fixed_s']:.2f} s + {lf['us_per_sample']:.1f} µs x rows. "
        f"{where}, after a warm-up fit. Peak RSS: the kernel's high-water mark "
        "(reset just before fit) minus RSS before fit; it includes the memmap's "
        "file-backed pages, the anon column does not. The memmap fit's anon "
        "increase exceeds the smallest in-memory fit's by "
        f"{sc['memmap_anon_excess_over_smallest_fit_mb']:.0f} MB; a float32 copy "
        f"would be {sc['memmap_float32_copy_would_be_mb']:.0f} MB. No copy made "
        f"(excess < half a copy): {common.met(sc['memmap_no_copy_bar_met'])}.\n"
    )
    return "\n".join(out)
