import csv
import subprocess
import sys

import numpy as np
import pytest

from skae._cli import main


def run(tmp_path, *options):
    return main(["compare", "--out", str(tmp_path), "--max-train", "200",
                 "--epochs", "2", "--hidden", "16", *options])  # fmt: skip


def test_compare_digits_writes_table_and_figures(tmp_path, capsys):
    assert run(tmp_path, "--n-components", "2", "4") == 0
    out, err = capsys.readouterr()
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["reducer"], r["n_components"]) for r in rows] == [
        ("PCA", "2"), ("PCA", "4"), ("autoencoder", "2"), ("autoencoder", "4"),
    ]  # fmt: skip
    assert float(rows[1]["mse"]) < float(rows[0]["mse"])
    md = (tmp_path / "results.md").read_text()
    assert md == out and md.startswith("| reducer | n_components |")
    assert "[4/4] autoencoder n_components=4" in err
    for name in ("error_vs_components.png", "reconstructions.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_compare_with_noise_and_a_local_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(
        data,
        x_train=rng.integers(0, 256, (50, 4, 4), dtype=np.uint8), y_train=np.zeros(50),
        x_test=rng.integers(0, 256, (20, 4, 4), dtype=np.uint8), y_test=np.zeros(20),
    )  # fmt: skip
    status = run(
        tmp_path, "--dataset", str(data), "--n-components", "3", "--reducers", "pca",
        "--noise", "masking", "--noise-level", "0.2",
    )  # fmt: skip
    assert status == 0
    header = (tmp_path / "results.csv").read_text().splitlines()[0]
    assert header.endswith("noisy_mse,psnr,input_psnr")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--reducers", "tsne"], "invalid choice: 'tsne'"),
        (["--noise", "masking", "--noise-level", "3"], "at most 1"),
        (["--dataset", "nowhere.npz"], "No data file"),
        (["--n-components"], "expected at least one argument"),
    ],
)
def test_bad_options_one_line_and_status_2(tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as info:
        status = run(tmp_path, *options)
        raise SystemExit(status)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_python_m_skae_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "compare", "--epochs", "-1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "skae compare: error: argument --epochs: must be a positive integer, got -1"
    )
