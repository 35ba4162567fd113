import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skae._cli import main


def run(tmp_path, *options):
    return main(["compare", "--out", str(tmp_path), "--max-train", "200",
                 "--epochs", "2", "--hidden", "16", *options])  # fmt: skip


def status_of(call):
    """Return the exit status of ``call()``, whether it returns it or exits."""
    try:
        return call()
    except SystemExit as exc:
        return exc.code


def assert_one_line_error(capsys, status, message):
    """Assert status 2 and one ``skae compare: error:`` line holding ``message``."""
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("skae compare: error: ")
    assert message in lines[0]
    return lines[0]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the comparison starts."""
    import skae

    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(skae, "compare_reducers", refuse)


def test_compare_digits_writes_table_and_figures(tmp_path, capsys):
    assert run(tmp_path, "--n-components", "2", "4") == 0
    out, err = capsys.readouterr()
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["reducer"], r["n_components"]) for r in rows] == [
        ("PCA", "2"), ("PCA", "4"), ("autoencoder", "2"), ("autoencoder", "4"),
        ("autoencoder (init=random)", "2"), ("autoencoder (init=random)", "4"),
    ]  # fmt: skip
    assert float(rows[1]["mse"]) < float(rows[0]["mse"])
    md = (tmp_path / "results.md").read_text()
    assert md == out and md.startswith("| reducer | n_components |")
    assert "[4/6] autoencoder n_components=4" in err
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
    status = status_of(lambda: run(tmp_path, *options))
    assert_one_line_error(capsys, status, message)


def test_python_m_skae_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "compare", "--epochs", "-1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "skae compare: error: argument --epochs: must be a positive integer, got '-1'"
    )


def test_help_shows_no_internal_names_and_explains_noise_level(capsys):
    assert status_of(lambda: main(["compare", "--help"])) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "_positive_int" not in out and "_non_negative_float" not in out
    assert "--noise-level" in out and "needs --noise" in out
    assert "--traceback" in out


@pytest.mark.parametrize(
    "options, message",
    [
        (["--n-components", "x"], "argument --n-components: must be a positive "
         "integer, got 'x'"),
        (["--epochs", "1.5"], "argument --epochs: must be a positive integer, "
         "got '1.5'"),
        (["--max-train", "many"], "argument --max-train: must be a positive "
         "integer, got 'many'"),
        (["--hidden", "wide"], "argument --hidden: must be a positive integer, "
         "got 'wide'"),
        (["--batch-size", ""], "argument --batch-size: must be a positive integer, "
         "got ''"),
        (["--noise", "gaussian", "--noise-level", "x"], "argument --noise-level: "
         "must be a finite number >= 0, got 'x'"),
        (["--noise", "gaussian", "--noise-level", "inf"], "argument --noise-level: "
         "must be a finite number >= 0, got 'inf'"),
        (["--random-state", "x"], "argument --random-state: must be an integer "
         "from 0 to 4294967295, got 'x'"),
        (["--random-state", "-1"], "argument --random-state: must be an integer "
         "from 0 to 4294967295, got '-1'"),
        (["--random-state", str(2**32)], "argument --random-state: must be an "
         "integer from 0 to 4294967295"),
    ],
)  # fmt: skip
def test_bad_values_read_plainly(tmp_path, capsys, no_training, options, message):
    line = assert_one_line_error(
        capsys, status_of(lambda: run(tmp_path, *options)), message
    )
    assert "invalid _" not in line


@pytest.mark.parametrize(
    "options",
    [
        ["--noise-level", "0.5"],
        ["--noise", "none", "--noise-level", "0.5"],
    ],
)
def test_noise_level_needs_noise(tmp_path, capsys, no_training, options):
    status = status_of(lambda: run(tmp_path, "--reducers", "pca", *options))
    assert_one_line_error(capsys, status, "argument --noise-level: needs --noise")


def test_every_noise_kind_is_a_choice():
    from skae._cli import build_parser
    from skae._noise import NOISE_KINDS

    for kind in NOISE_KINDS:
        assert build_parser().parse_args(["compare", "--noise", kind]).noise == kind


def test_noise_share_above_1_uses_the_subcommand_prefix(tmp_path, capsys):
    status = run(tmp_path, "--noise", "salt_and_pepper", "--noise-level", "1.5")
    line = assert_one_line_error(capsys, status, "at most 1")
    assert line.startswith("skae compare: error: argument --noise-level: ")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--n-components", "8", "65"], "argument --n-components: 65 is more than "
         "PCA can give here: at most 64 = min(1437 training rows, 64 features)"),
        (["--max-train", "10", "--n-components", "11"], "argument --n-components: "
         "11 is more than PCA can give here: at most 10 = min(10 training rows, 64 "
         "features)"),
    ],
)  # fmt: skip
def test_n_components_too_large_for_pca(tmp_path, capsys, no_training, options,
                                        message):  # fmt: skip
    status = main(["compare", "--out", str(tmp_path), "--reducers", "pca", *options])
    line = assert_one_line_error(capsys, status, message)
    assert "--reducers" in line  # says how to get around it


def _save_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _bad_dataset(tmp_path, kind):
    """Write a data file that ``--dataset`` cannot use; return its path."""
    z, y = np.zeros((4, 3, 3)), np.zeros(4)
    if kind == "text":
        path = tmp_path / "text.npz"
        path.write_text("hello")
        return path
    if kind == "npy":
        path = tmp_path / "one.npy"
        np.save(path, z)
        return path
    if kind == "layout":
        return _save_npz(tmp_path / "layout.npz", images=z)
    if kind == "strings":
        s = np.array([["a"]] * 4)
        return _save_npz(tmp_path / "s.npz", x_train=s, y_train=y, x_test=s, y_test=y)
    if kind == "empty":
        e = np.zeros((0, 3, 3))
        return _save_npz(tmp_path / "e.npz", x_train=e, y_train=[], x_test=z,
                         y_test=y)  # fmt: skip
    if kind == "nan":
        n = z + np.nan
        return _save_npz(tmp_path / "n.npz", x_train=n, y_train=y, x_test=z, y_test=y)
    if kind == "features":
        w = np.zeros((4, 4, 4))
        return _save_npz(tmp_path / "f.npz", x_train=z, y_train=y, x_test=w, y_test=y)
    if kind == "scalar":
        return _save_npz(tmp_path / "0d.npz", x_train=np.float64(1), y_train=y,
                         x_test=z, y_test=y)  # fmt: skip
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", "is not a .npz file"),
        ("npy", "is not a .npz file"),
        ("layout", "is not in Keras's layout"),
        ("strings", "x_train holds <U1 values, not numbers"),
        ("empty", "x_train has no rows"),
        ("nan", "x_train contains NaN or infinity"),
        ("features", "x_train has 9 values per sample but x_test has 16"),
        ("scalar", "x_train must have one row per sample"),
    ],
)
def test_unusable_dataset_files(tmp_path, capsys, no_training, kind, message):
    path = _bad_dataset(tmp_path, kind)
    status = run(tmp_path / "out", "--dataset", str(path), "--reducers", "pca")
    line = assert_one_line_error(capsys, status, message)
    assert line.startswith("skae compare: error: argument --dataset: ")
    assert not (tmp_path / "out").exists()


def test_unknown_dataset_name(tmp_path, capsys, no_training):
    status = run(tmp_path, "--dataset", "mnst")
    assert_one_line_error(
        capsys, status, "argument --dataset: 'mnst' is not digits, mnist, "
        "fashion_mnist or a .npz file"
    )  # fmt: skip


def _out_case(tmp_path, kind):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    if kind == "file":
        return a_file, "is a file, not a folder"
    if kind == "under a file":
        return a_file / "results", "Not a directory"
    if kind == "unwritable":
        return Path("/proc"), "cannot write there"
    if kind == "results.csv is a folder":
        (tmp_path / "out" / "results.csv").mkdir(parents=True)
        return tmp_path / "out", "results.csv is a folder"
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind", ["file", "under a file", "unwritable", "results.csv is a folder"]
)
def test_out_is_checked_before_training(tmp_path, capsys, no_training, kind):
    if kind == "unwritable" and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc, which even root cannot write")
    out, message = _out_case(tmp_path, kind)
    status = main(["compare", "--out", str(out), "--reducers", "pca",
                   "--n-components", "2"])  # fmt: skip
    line = assert_one_line_error(capsys, status, message)
    assert line.startswith(f"skae compare: error: argument --out: {out}")


@pytest.fixture
def pca_fails_at_4(monkeypatch):
    """Make PCA's fit raise ``error`` at n_components=4; return a setter."""
    from sklearn.decomposition import PCA

    fit = PCA.fit
    raised = {"error": RuntimeError("boom\nsecond line")}

    def failing_fit(self, X, y=None):
        if self.n_components == 4:
            raise raised["error"]
        return fit(self, X, y)

    monkeypatch.setattr(PCA, "fit", failing_fit)
    return raised


def _csv_rows(out):
    with open(out / "results.csv") as f:
        return [(r["reducer"], r["n_components"]) for r in csv.DictReader(f)]


def test_failed_fit_is_one_line_and_keeps_finished_rows(tmp_path, capsys,
                                                        pca_fails_at_4):  # fmt: skip
    status = run(tmp_path, "--reducers", "pca", "--n-components", "2", "4", "8")
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [
        "skae compare: error: PCA n_components=4 failed: RuntimeError: boom second "
        f"line (the 1 finished fit is in {tmp_path / 'results.csv'}; "
        "--traceback shows where it failed)"
    ]  # fmt: skip
    assert err.strip().splitlines()[-1] == errors[0]
    assert _csv_rows(tmp_path) == [("PCA", "2")]


def test_traceback_option_shows_the_failure(tmp_path, pca_fails_at_4):
    with pytest.raises(RuntimeError, match="boom"):
        run(tmp_path, "--reducers", "pca", "--n-components", "2", "4", "--traceback")
    assert _csv_rows(tmp_path) == [("PCA", "2")]


def test_interrupt_keeps_finished_rows(tmp_path, capsys, pca_fails_at_4):
    pca_fails_at_4["error"] = KeyboardInterrupt()
    status = run(tmp_path, "--reducers", "pca", "--n-components", "2", "4", "8")
    err = capsys.readouterr().err
    assert status == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "skae compare: interrupted (the 1 finished fit is in "
        f"{tmp_path / 'results.csv'})"
    )
    assert _csv_rows(tmp_path) == [("PCA", "2")]


def test_diverging_autoencoder_is_one_line_error(tmp_path, capsys):
    status = run(tmp_path, "--reducers", "autoencoder", "--n-components", "2",
                 "--noise", "gaussian", "--noise-level", "1e300")  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "skae compare: error: autoencoder n_components=2 failed: DivergenceError: "
        "Training diverged"
    )
    assert "no fit had finished" in last


def test_figure_failure_keeps_the_tables(tmp_path, capsys, monkeypatch):
    from skae import plotting

    def broken(*args, **kwargs):
        raise ValueError("cannot draw")

    monkeypatch.setattr(plotting, "plot_error_vs_components", broken)
    status = run(tmp_path, "--reducers", "pca", "--n-components", "2")
    captured = capsys.readouterr()
    assert status == 2 and "Traceback" not in captured.err
    assert captured.err.strip().splitlines()[-1] == (
        "skae compare: error: drawing the figures failed: ValueError: cannot draw "
        f"(results.csv and results.md are in {tmp_path}; --traceback shows where "
        "it failed)"
    )
    assert _csv_rows(tmp_path) == [("PCA", "2")]
    assert captured.out.startswith("| reducer |")


def test_unexpected_error_is_one_line_unless_traceback(tmp_path, capsys,
                                                       monkeypatch):  # fmt: skip
    from skae import datasets

    def buggy():
        raise RuntimeError("a bug")

    monkeypatch.setattr(datasets, "load_digits", buggy)
    status = run(tmp_path, "--reducers", "pca")
    assert_one_line_error(
        capsys, status, "RuntimeError: a bug (--traceback shows where it failed)"
    )
    with pytest.raises(RuntimeError, match="a bug"):
        run(tmp_path, "--reducers", "pca", "--traceback")


def test_the_command_prints_no_tensorflow_notices(tmp_path):
    # A fresh process, as a user runs it: TensorFlow's C++ start-up notices
    # (oneDNN, CUDA, absl) and Python log lines are not shown; skae's are.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "compare", "--reducers", "autoencoder",
         "--n-components", "2", "--epochs", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    lines = proc.stderr.splitlines()
    assert any(line.startswith("[1/1] autoencoder") for line in lines)
    noise = ("I0000", "W0000", "absl", "oneDNN", "cuda", "retracing", "tensorflow")
    assert not [line for line in lines if any(n in line for n in noise)], lines
