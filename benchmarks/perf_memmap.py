"""Section 7b: one epoch on a uint8 memmap larger than memory.

Runs only when ``run.py`` is given ``--memmap-gb GB``: writes a ``GB``-sized
uint8 memmap of tiled MNIST images to the run's temporary folder and fits one
epoch of it in a fresh process, after a warm-up fit (``perf_scale.py``'s
``scale_fits``). Bar: the peak RSS increase stays under 1 GB.
"""

import shutil
from pathlib import Path

import common
from perf_scale import log_fit, scale_fits, write_memmap

#: No settings of its own: ``--memmap-gb`` sizes it (``s["memmap_gb"]``).
SETTINGS = {}


def measure(s):
    gb = s["memmap_gb"]
    rows = int(gb * 1e9) // 784
    free = shutil.disk_usage(s["tmp"]).free
    if free < rows * 784 * 1.2:
        return {"skipped": f"{free / 1e9:.1f} GB free in {s['tmp']}, need {gb} GB"}
    path = Path(s["tmp"]) / "mnist-large.u8"
    write_s, _ = common.timed(
        lambda: write_memmap(path, common.load_rows(s["train_npy"]), rows)
    )
    common.log(f"  wrote {rows} rows ({rows * 784 / 1e9:.2f} GB) in {write_s:.0f} s")
    job = {"kind": "memmap", "rows": rows, "path": str(path)}
    try:
        (r,) = common.run_task({**s, "fresh": True}, scale_fits, jobs=[job])
    finally:
        path.unlink()
    log_fit(r, f"{gb} GB memmap")
    return {
        **r,
        "data_gb": gb,
        "samples_per_s": rows / r["fit_s"],
        "bar_met": bool(r["peak_rss_increase_mb"] < 1024),
    }


TITLE = "7b. Data larger than memory: one epoch on a large uint8 memmap"


def bars(m):
    gb = m["data_gb"]
    return {f"7. one epoch on a {gb:g} GB uint8 memmap: peak RSS +< 1 GB": m["bar_met"]}


def render(m):
    out = common.md_table(
        ["data", "rows", "fit (s)", "samples/s", "peak RSS increase (MB)",
         "peak anon RSS increase (MB)"],
        [[f"uint8 memmap ({m['data_mb'] / 1024:.2f} GiB)", m["rows"],
          f"{m['fit_s']:.0f}", f"{m['samples_per_s']:.0f}",
          f"{m['peak_rss_increase_mb']:.0f}", f"{m['peak_anon_increase_mb']:.0f}"]],
    )  # fmt: skip
    out.append(
        "\nOne fresh process, after a warm-up fit; peak RSS is the kernel's "
        "high-water mark (reset just before fit, file-backed pages of the map "
        "included) minus RSS before fit. skae releases the map's pages as it "
        "reads (`_data.Pages`); a float32 copy would be "
        f"{m['rows'] * 784 * 4 / 2**20:.0f} MB. Bar (+< 1 GB): "
        f"{common.met(m['bar_met'])}.\n"
    )
    return "\n".join(out)
