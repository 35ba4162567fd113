"""Command line: ``python -m skae compare`` (also the ``skae`` console script).

Compares PCA with the autoencoder (and optionally kernel PCA) on a data set,
prints the results table and writes ``results.csv``, ``results.md`` and PNG
figures to an output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

from ._noise import NOISE_KINDS, check_level

REDUCERS = ("pca", "autoencoder", "autoencoder_random", "kernel_pca")
DATASETS = ("digits", "mnist", "fashion_mnist")
NOISES = ("none", *NOISE_KINDS)
#: ``--noise-level`` when ``--noise`` is given without it.
DEFAULT_NOISE_LEVEL = 0.3
#: What ``compare`` may write to ``--out``.
OUTPUTS = (
    "results.csv",
    "results.md",
    "error_vs_components.png",
    "reconstructions.png",
)
_MAX_SEED = 2**32 - 1


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class _CommandError(Exception):
    """A failure reported as one ``skae compare: error: ...`` line, status 2."""


def _number(kind, what, low, high=math.inf):
    """Return an argument type: a finite ``kind`` from ``low`` to ``high``."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (low <= value <= high and value != math.inf):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, "a positive integer", 1)
_non_negative_float = _number(float, "a finite number >= 0", 0)
_seed = _number(int, f"an integer from 0 to {_MAX_SEED}", 0, _MAX_SEED)


def build_parser():
    """Build the argument parser of the ``skae`` command."""
    parser = _Parser(prog="skae", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )
    cmp = commands.add_parser(
        "compare",
        help="compare PCA and the autoencoder on a data set",
        description="Fit each reducer at each n_components on the training split, "
        "measure reconstruction (and denoising) on the test split.",
        epilog="results.csv and results.md are rewritten after each fit, so a run "
        "that fails or is interrupted keeps the fits it finished. Bad options, data "
        "files and --out folders are reported before any training starts. Every "
        "error is one line on stderr with exit status 2 (130 after Ctrl-C); "
        "--traceback shows where a failure inside a fit or a figure happened.",
    )
    options = {
        "--dataset": dict(
            default="digits",
            help="digits (bundled with scikit-learn, default), mnist, fashion_mnist, "
            "or a path to a .npz in Keras's layout",
        ),
        "--n-components": dict(
            type=_positive_int, nargs="+", default=[2, 4, 8, 16, 32], metavar="K",
            help="code widths to compare (default: 2 4 8 16 32); PCA takes at most "
            "min(training rows, features)",
        ),
        "--reducers": dict(
            nargs="+", choices=REDUCERS,
            default=["pca", "autoencoder", "autoencoder_random"],
            help="which reducers to compare: autoencoder is the default, PCA-anchored "
            "model (init='auto'), autoencoder_random the same from random weights "
            "(init='random') (default: pca autoencoder autoencoder_random)",
        ),
        "--noise": dict(
            choices=NOISES, default="none",
            help="also measure denoising of test data corrupted with this noise; the "
            "autoencoder is then trained as a denoising autoencoder",
        ),
        "--noise-level": dict(
            type=_non_negative_float, default=None, metavar="LEVEL",
            help="strength of --noise: the standard deviation for gaussian, the "
            "share of values hit (at most 1) for the others (default: "
            f"{DEFAULT_NOISE_LEVEL}); needs --noise",
        ),
        "--epochs": dict(
            type=_positive_int, default=50,
            help="training epochs of the autoencoder (default: 50)",
        ),
        "--hidden": dict(
            type=_positive_int, nargs="*", default=[128, 64], metavar="UNITS",
            help="hidden layer sizes of the autoencoder's encoder (default: 128 64)",
        ),
        "--batch-size": dict(
            type=_positive_int, default=128,
            help="the autoencoder's batch size (default: 128)",
        ),
        "--max-train": dict(
            type=_positive_int, default=None, metavar="N",
            help="use at most N training samples",
        ),
        "--random-state": dict(
            type=_seed, default=0, metavar="SEED",
            help=f"seed of the split, the noise and the autoencoder, 0 to "
            f"{_MAX_SEED} (default: 0)",
        ),
        "--out": dict(type=Path, default=Path("results"), help="output folder"),
        "--verbose": dict(action="store_true", help="show the autoencoder's epochs"),
        "--traceback": dict(
            action="store_true",
            help="on a failure inside a fit or a figure, show Python's traceback "
            "instead of one line",
        ),
    }  # fmt: skip
    for flag, settings in options.items():
        cmp.add_argument(flag, **settings)
    return parser


def _check_noise(args):
    """Return (noise or None, noise level); raise on an unusable combination."""
    if args.noise == "none":
        if args.noise_level is not None:
            raise _CommandError(
                f"argument --noise-level: needs --noise ({', '.join(NOISE_KINDS)}); "
                "without it nothing is corrupted"
            )
        return None, DEFAULT_NOISE_LEVEL
    level = DEFAULT_NOISE_LEVEL if args.noise_level is None else args.noise_level
    try:
        check_level(args.noise, level, name="it")
    except ValueError as exc:
        raise _CommandError(
            f"argument --noise-level: {_one_line(exc, False).rstrip('.')}"
        ) from exc
    return args.noise, level


def _load(dataset, random_state):
    """Return (X_train, X_test, image_shape or None)."""
    from . import datasets

    path = Path(dataset)
    if dataset not in DATASETS and not path.suffix and not path.exists():
        known = f"{', '.join(DATASETS)} or a .npz file"  # misspelt, not missing
        raise _CommandError(f"argument --dataset: {dataset!r} is not {known}")
    try:
        if dataset == "digits":
            from sklearn.model_selection import train_test_split

            X, y = datasets.load_digits()
            X_train, X_test = train_test_split(
                X, test_size=0.2, random_state=random_state, stratify=y
            )
        elif dataset in DATASETS:
            (X_train, _), (X_test, _) = getattr(datasets, f"load_{dataset}")()
        else:
            (X_train, _), (X_test, _) = datasets.load_npz(dataset)
    except (OSError, ValueError) as exc:  # DatasetUnavailableError is an OSError
        raise _CommandError(f"argument --dataset: {_one_line(exc, False)}") from exc
    side = math.isqrt(X_train.shape[1])
    shape = (side, side) if side * side == X_train.shape[1] else None
    return X_train, X_test, shape


def _check_n_components(args, X_train):
    """Raise unless PCA (when compared) can give every ``--n-components``."""
    (n_rows, n_features), k = X_train.shape, max(args.n_components)
    if "pca" in args.reducers and k > min(n_rows, n_features):
        raise _CommandError(
            f"argument --n-components: {k} is more than PCA can give here: at most "
            f"{min(n_rows, n_features)} = min({n_rows} training rows, {n_features} "
            "features); use smaller widths or leave pca out of --reducers"
        )


def _prepare_out(out):
    """Create ``out`` and make sure the results can be written there."""
    if out.exists() and not out.is_dir():
        raise _CommandError(f"argument --out: {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise _CommandError(
            f"argument --out: {out}: cannot write there ({exc.strerror or exc})"
        ) from exc
    for name in OUTPUTS:
        if (out / name).is_dir():
            raise _CommandError(f"argument --out: {out}: {name} is a folder")


def _one_line(exc, name=True):
    """Return the text of ``exc`` on one line, prefixed with its class's name."""
    text = " ".join(str(exc).split())
    if len(text) > 500:
        text = text[:500] + " ..."
    if not name:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed(what, exc, kept):
    """Return the one-line error for ``exc`` inside ``what``."""
    return _CommandError(
        f"{what} failed: {_one_line(exc)} ({kept}; --traceback shows where it failed)"
    )


def _kept(out, done):
    """Say where the finished rows are."""
    if not done:
        return "no fit had finished"
    fits = "fit is" if len(done) == 1 else "fits are"
    return f"the {len(done)} finished {fits} in {out / 'results.csv'}"


def _write(path, text):
    """Replace the file ``path`` with ``text`` at once, never half written."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_text(text, newline="")
        part.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise _CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_tables(out, rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _write(out / "results.csv", text.getvalue())
    _write(out / "results.md", _markdown(rows))


def _reducers(args, noise, noise_level):
    from sklearn.decomposition import PCA, KernelPCA

    from . import AutoencoderTransformer

    def autoencoder(init):
        return lambda: AutoencoderTransformer(
            hidden_layer_sizes=tuple(args.hidden),
            init=init,
            epochs=args.epochs,
            batch_size=args.batch_size,
            noise=noise,
            noise_level=noise_level,
            random_state=args.random_state,
            verbose=2 if args.verbose else 0,
        )

    make = {
        "pca": lambda: PCA(random_state=args.random_state),
        "kernel_pca": lambda: KernelPCA(
            kernel="rbf", fit_inverse_transform=True, random_state=args.random_state
        ),
        "autoencoder": autoencoder("auto"),
        "autoencoder_random": autoencoder("random"),
    }
    names = {"pca": "PCA", "kernel_pca": "KernelPCA", "autoencoder": "autoencoder",
             "autoencoder_random": "autoencoder (init=random)"}  # fmt: skip
    return {names[r]: make[r]() for r in dict.fromkeys(args.reducers)}


def _markdown(rows):
    columns = list(rows[0])
    cells = [[f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in columns]
             for r in rows]  # fmt: skip
    head, *body = (f"| {' | '.join(line)} |" for line in (columns, *cells))
    rule = "|".join("---" if c == "reducer" else "---:" for c in columns)
    return "\n".join([head, f"|{rule}|", *body]) + "\n"


def _write_figures(args, rows, fitted, X_test, X_noisy, shape, log):
    try:
        import matplotlib.pyplot as plt

        from . import plotting
    except ImportError:
        log('matplotlib is not installed: no figures (pip install "skae[plot]")')
        return []

    def save(fig, name):
        fig.savefig(args.out / name, dpi=100)
        plt.close(fig)
        written.append(name)

    written = []
    metric = "psnr" if X_noisy is not None else "mse"
    fig = plotting.plot_error_vs_components(rows, metric=metric)
    save(fig, "error_vs_components.png")
    if shape is not None:
        k = max(args.n_components)
        source = X_test if X_noisy is None else X_noisy
        images = {"original": X_test}
        if X_noisy is not None:
            images["noisy"] = X_noisy
        for (name, width), est in fitted.items():
            if width == k:
                images[f"{name} ({k})"] = est.inverse_transform(est.transform(source))
        fig = plotting.plot_reconstructions(images, shape, n_images=10)
        save(fig, "reconstructions.png")
    return written


@contextlib.contextmanager
def _logged_warnings(log):
    """Log warnings as they come; yield the list of ConvergenceWarnings, untold."""
    from sklearn.exceptions import ConvergenceWarning

    unconverged = []

    def show(message, category, *args, **kwargs):
        if issubclass(category, ConvergenceWarning):
            unconverged.append(message)
        else:
            log(f"warning: {message}")

    with warnings.catch_warnings():
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.showwarning = show
        yield unconverged


def _run(args, reducers, X_train, X_test, noise, noise_level, clip, log):
    """Fit and measure every reducer, keeping the tables on disk up to date."""
    from . import compare_reducers

    order = [(name, k) for name in reducers for k in args.n_components]
    start, done = time.perf_counter(), []

    def progress(row):
        done.append(row)
        _write_tables(args.out, done)
        log(
            f"[{len(done)}/{len(order)}] {row['reducer']} n_components="
            f"{row['n_components']}: mse {row['mse']:.4g}, fit {row['fit_s']:.1f} s "
            f"({time.perf_counter() - start:.0f} s elapsed)"
        )

    try:
        _, fitted = compare_reducers(
            reducers, X_train, X_test, n_components=args.n_components, noise=noise,
            noise_level=noise_level, clip=clip, random_state=args.random_state,
            progress=progress, return_estimators=True,
        )  # fmt: skip
    except _CommandError:
        raise
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_kept(args.out, done)) from None
    except Exception as exc:
        if args.traceback:
            raise
        name, k = order[min(len(done), len(order) - 1)]
        raise _failed(f"{name} n_components={k}", exc, _kept(args.out, done)) from exc
    return done, fitted


def compare(args, log):
    """Run ``skae compare`` with parsed ``args``; return the exit status.

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``skae compare``, as :func:`build_parser` parses them.
    log : callable
        Called with each line of progress, meant for stderr.

    Returns
    -------
    status : int
        0 once the tables and figures are written.

    Raises
    ------
    _CommandError
        For unusable options, data or ``--out`` (before any training starts),
        and for a failure inside a fit or a figure.
    KeyboardInterrupt
        For Ctrl-C; during the fits, its message says what was kept.
    """
    import numpy as np

    from . import add_noise

    noise, noise_level = _check_noise(args)
    X_train, X_test, shape = _load(args.dataset, args.random_state)
    if args.max_train is not None and args.max_train < len(X_train):
        rng = np.random.default_rng(args.random_state)
        X_train = X_train[np.sort(rng.choice(len(X_train), args.max_train, False))]
    _check_n_components(args, X_train)
    _prepare_out(args.out)
    reducers = _reducers(args, noise, noise_level)
    total = len(reducers) * len(args.n_components)
    log(
        f"{args.dataset}: {len(X_train)} training and {len(X_test)} test samples, "
        f"{X_train.shape[1]} features; {total} fits"
        + (f"; test noise {noise} at {noise_level}" if noise else "")
    )
    if {"autoencoder", "autoencoder_random"} & set(args.reducers):
        log("loading TensorFlow (not counted in fit times)...")
        with _startup_notices_dropped(log):
            from . import _training  # noqa: F401

    clip = (0.0, 1.0) if noise == "gaussian" else None
    with _logged_warnings(log) as unconverged:
        rows, fitted = _run(
            args, reducers, X_train, X_test, noise, noise_level, clip, log
        )
        if unconverged:
            log(
                f"note: {len(unconverged)} fit(s) were still improving at their last "
                "epoch; more --epochs may reconstruct better"
            )
        print(_markdown(rows), end="")
        try:
            X_noisy = None
            if noise is not None:
                X_noisy = add_noise(
                    X_test, noise, noise_level, args.random_state, clip=clip
                )
            figures = _write_figures(args, rows, fitted, X_test, X_noisy, shape, log)
        except Exception as exc:
            if args.traceback:
                raise
            kept = f"results.csv and results.md are in {args.out}"
            raise _failed("drawing the figures", exc, kept) from exc
    outputs = ["results.csv", "results.md", *figures]
    log(f"wrote {', '.join(outputs)} to {args.out}/")
    return 0


def _quiet_process():
    """Silence TensorFlow's C++ and Python log lines in this process.

    Only the command's own process (``python -m skae``, the ``skae``
    script) calls this, before TensorFlow is imported: the command is an
    application and owns its process. The library never does; a user's
    settings (an ``TF_CPP_MIN_LOG_LEVEL`` already set) are kept.
    """
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


#: Lines TensorFlow's C++ start-up writes to stderr whatever the log level:
#: absl's note, oneDNN, CUDA and CPU-feature notices ("I0000 ...", "W0000 ...").
_STARTUP_NOTICE = re.compile(
    r"^([IWE]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|"
    r"To enable the following instructions|rebuild TensorFlow)"
)


@contextlib.contextmanager
def _startup_notices_dropped(log):
    """Drop TensorFlow's start-up notices from stderr while the body runs.

    They are written by C++ code straight to file descriptor 2, before any
    log level applies, so the descriptor itself is redirected to a file for
    the duration; every other line is passed on to ``log`` afterwards.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if line.strip() and not _STARTUP_NOTICE.match(line):
                    log(line)


def run():
    """Console entry point: quiet the process, run :func:`main`, return its status."""
    _quiet_process()
    return main()


def main(argv=None):
    """Entry point of the ``skae`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program's name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 on an error (reported as one line on stderr), 130
        after Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"

    def log(message):
        print(message, file=sys.stderr, flush=True)

    try:
        return compare(args, log)
    except _CommandError as exc:
        log(f"{prog}: error: {exc}")
    except KeyboardInterrupt as exc:  # its message, if any, says what was kept
        log(f"{prog}: interrupted" + (f" ({exc})" if str(exc) else ""))
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        log(f"{prog}: error: {_one_line(exc)} (--traceback shows where it failed)")
    return 2
