"""Resumable training: what ``checkpoint_dir`` holds and how it is read.

``checkpoint_dir`` is a folder of skae's own. A ``fit`` takes it only when it
is new, empty, or holds nothing but skae's files (``skae.lock`` marks a
folder as skae's); a folder with any other file is refused, and nothing in it
is touched. While a ``fit`` is under way the folder holds:

- ``skae.lock``: the marker, and the lock that one fit holds from before it
  reads the checkpoint until after it removes it, so that a second fit on the
  same folder is refused. It is a ``flock`` lock, which the operating system
  releases when the process dies: a killed fit never leaves a stale lock. On
  platforms without ``fcntl`` (Windows) two fits sharing a folder are not
  detected;
- ``skae.json``: the seed of the run and a fingerprint of the estimator's
  settings and of the data (shape, dtype and a hash of a sample of rows, see
  :func:`data_fingerprint`), so that only the same fit on the same data
  resumes from it;
- ``history.json``: the per-epoch logs so far, and ``random.npz``: the state
  of the model's random generators (dropout), which Keras does not save;
- ``keras/``: Keras's ``BackupAndRestore`` state (weights, optimizer state,
  epoch), written at the end of every epoch.

A ``fit`` that finishes, or diverges, removes these files (only these, by
name) and then the folder itself if skae created it and it is empty; a folder
that existed before is kept. One that is killed leaves them, and the next
``fit`` with the same settings, data and folder resumes after the last
finished epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from scipy import sparse

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_LOCK, _META, _HISTORY, _RANDOM, _KERAS = (
    "skae.lock",
    "skae.json",
    "history.json",
    "random.npz",
    "keras",
)
#: The files skae writes at the top of the folder (``_KERAS`` is a folder).
_FILES = (_META, _META + ".tmp", _HISTORY, _HISTORY + ".tmp", _RANDOM, "random.tmp.npz")
#: What Keras's ``BackupAndRestore`` writes in ``keras/`` (with ``.bkp`` copies).
_KERAS_FILES = ("latest.weights.h5", "training_metadata.json")
#: Rows hashed by :func:`data_fingerprint`, evenly spaced, first and last included.
_SAMPLED_ROWS = 64


def data_fingerprint(X):
    """Return a cheap fingerprint of the training data ``X``.

    A hash of the shape, the dtype and up to ``_SAMPLED_ROWS`` rows evenly
    spaced from the first to the last, read one at a time: a memory-mapped
    ``X`` is never read whole, nor is any ``X`` copied. It tells data apart
    that differs in shape, dtype, layout (dense or sparse) or in a sampled
    row, not data that differs only in rows between the sampled ones.

    Parameters
    ----------
    X : ndarray, memmap or scipy.sparse CSR matrix of shape (n_samples, n_features)
        Validated training data.

    Returns
    -------
    fingerprint : str
        A hexadecimal digest; equal for a dense array and a memmap of it.
    """
    n_samples = X.shape[0]
    rows = np.linspace(0, n_samples - 1, min(n_samples, _SAMPLED_ROWS))
    is_sparse = sparse.issparse(X)
    digest = hashlib.sha256(
        repr(("csr" if is_sparse else "dense", X.shape, X.dtype.str)).encode()
    )
    if is_sparse:
        digest.update(str(int(X.indptr[-1])).encode())  # the number of entries
    for row in np.unique(rows.round().astype(np.intp)):
        if is_sparse:
            start, stop = X.indptr[row], X.indptr[row + 1]
            parts = (
                np.asarray(X.indices[start:stop], dtype=np.int64),
                X.data[start:stop],
            )
        else:
            parts = (X[row],)
        for part in parts:
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


class Checkpoint:
    """The checkpoint of one fit in ``directory``; a context holding its lock.

    Entering the context checks the folder (creating it if missing) and takes
    its lock, or raises ``ValueError``; leaving it releases the lock, however
    the fit ended. Every other method is called inside the context.

    Parameters
    ----------
    directory : str or path-like
        Where the checkpoint lives; created if missing.
    fingerprint : dict
        JSON-serializable description of the fit (settings, data). A
        checkpoint left by a fit with another fingerprint is an error.
    seed : int or None, default=None
        The seed of a warm-started fit: :meth:`resume_or_start` then resumes
        only a checkpoint of that seed, and :meth:`load` lets the fit's own
        stopped run give way. None for a new fit, which resumes any
        checkpoint of the same fingerprint.
    """

    def __init__(self, directory, fingerprint, seed=None):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.seed = seed
        self._fd = None
        self._created = self._cleared = False

    def __enter__(self):
        created = self._acquire()
        try:
            self._created = self._mark(created)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            if self._fd is not None and os.listdir(self.directory) == [_LOCK]:
                self.clear()  # nothing was saved: leave no trace
        except OSError:
            pass
        finally:
            self._release()

    @classmethod
    def for_fit(cls, directory, settings, X, *, first_epoch, seed=None):
        """Return the checkpoint of a fit of ``X`` with ``settings``.

        The fingerprint holds the settings, the data's shape and
        :func:`data_fingerprint`, and the epoch the fit starts at.
        """
        fingerprint = {
            **settings,
            "n_samples": X.shape[0],
            "n_features": X.shape[1],
            "data": data_fingerprint(X),
            "first_epoch": first_epoch,
        }
        # Through JSON once, so that it compares equal to what is read back.
        fingerprint = json.loads(json.dumps(fingerprint, default=repr))
        return cls(directory, fingerprint, seed=seed)

    def resume_or_start(self, seed):
        """Return the seed to train with: a resumed checkpoint's, or ``seed``.

        A new checkpoint is started with ``seed``. A warm start (``seed``
        given to the constructor too) resumes only a checkpoint of its own
        seed.

        Raises
        ------
        ValueError
            As :meth:`load`, or when a warm start finds another seed's
            checkpoint.
        """
        resumed = self.load()
        if resumed is None:
            self.start(seed)
            return seed
        if self.seed is not None and resumed != self.seed:
            raise self._different("it was started with another seed")
        return resumed

    def _name(self):
        return f"checkpoint_dir={str(self.directory)!r}"

    def _acquire(self):
        """Check the folder, create it if missing, and take its lock.

        Returns whether the folder was created here.
        """
        # A fit that finishes between our check and our lock removes its
        # lock file and maybe the folder: then look again.
        for _ in range(5):
            created = self._prepare()
            try:
                fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                continue
            try:
                self._lock(fd)
                if (
                    fcntl is None
                    or os.fstat(fd).st_ino == os.stat(self.directory / _LOCK).st_ino
                ):
                    self._fd = fd
                    break
            except FileNotFoundError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        else:
            raise self._in_use()
        return created

    def _prepare(self):
        """Refuse a path that is no folder of skae's; create it if missing.

        Returns whether the folder was created here.
        """
        directory, created = self.directory, False
        not_a_folder = ValueError(
            f"{self._name()} is a file, not a folder; give the path of a new "
            "or empty folder for the checkpoint."
        )
        if not directory.is_dir():
            if directory.exists() or directory.is_symlink():
                raise not_a_folder
            try:
                directory.mkdir(parents=True)
                created = True
            except FileExistsError:
                if not directory.is_dir():
                    raise not_a_folder from None
            except OSError as exc:
                raise ValueError(
                    f"{self._name()} cannot be created ({exc.strerror or exc}); "
                    "give the path of a new or empty folder in a writable "
                    "place, not under a file."
                ) from exc
        foreign = self._foreign()
        if foreign:
            shown = ", ".join(sorted(foreign)[:5]) + (
                ", ..." if len(foreign) > 5 else ""
            )
            raise ValueError(
                f"{self._name()} holds files that skae did not write ({shown}). "
                "skae keeps a checkpoint in a folder of its own and removes it "
                "when the fit finishes: give a new or empty folder, e.g. "
                f"checkpoint_dir={str(directory / 'skae_checkpoint')!r}."
            )
        return created

    def _foreign(self):
        """Return the names in the folder that are not skae's files."""
        with os.scandir(self.directory) as entries:
            entries = list(entries)
        names = {entry.name for entry in entries}
        if not names:
            return set()
        if _LOCK not in names:  # a folder skae never took: nothing is skae's
            return names
        foreign = set()
        for entry in entries:
            if entry.name == _KERAS and entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as inside:
                    foreign.update(
                        f"{_KERAS}/{e.name}"
                        for e in inside
                        if not (
                            _is_keras_file(e.name) and e.is_file(follow_symlinks=False)
                        )
                    )
            elif not (
                entry.name in (_LOCK, *_FILES) and entry.is_file(follow_symlinks=False)
            ):
                foreign.add(entry.name)
        return foreign

    def _lock(self, fd):
        """Lock ``fd`` for this fit alone, or raise."""
        if fcntl is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._in_use() from None
        except OSError as exc:
            raise ValueError(
                f"{self._name()} cannot be locked ({exc.strerror or exc}); give "
                "a folder on a local file system."
            ) from exc

    def _in_use(self):
        return ValueError(
            f"{self._name()} is in use by another fit (in this process or "
            "another one); give each fit its own checkpoint_dir, or wait until "
            "the other fit is done."
        )

    def _mark(self, created):
        """Note in the lock file that the folder is skae's.

        The note also says whether skae created the folder (then the fit that
        finishes removes it, even one that resumed); returns that.
        """
        os.lseek(self._fd, 0, os.SEEK_SET)
        text = os.read(self._fd, 4096).decode(errors="replace")
        if text:
            try:
                return bool(json.loads(text)["created"])
            except (ValueError, KeyError, TypeError):
                return False
        note = {
            "note": "skae's checkpoint folder; skae removes it when the fit ends.",
            "created": created,
        }
        os.write(self._fd, json.dumps(note).encode())
        return created

    def _release(self):
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def _different(self, reason):
        return ValueError(
            f"{self._name()} holds the checkpoint of a different fit ({reason}). "
            "Use another directory, or delete this one to start afresh."
        )

    def _superseded(self, seed, fingerprint):
        """Whether the checkpoint is a warm-started estimator's own, stopped run.

        Ctrl-C keeps the checkpoint and the epochs it finished in the
        estimator; the estimator's next warm fit starts where they end, so
        the checkpoint differs only in ``first_epoch`` and holds nothing the
        estimator lacks. It is then replaced by the new fit's.
        """
        if self.seed is None or seed != self.seed:
            return False
        keys = set(fingerprint) | set(self.fingerprint)
        if {k for k in keys if fingerprint.get(k) != self.fingerprint.get(k)} != {
            "first_epoch"
        }:
            return False
        done = fingerprint.get("first_epoch", 0) + len(self.history())
        return done == self.fingerprint["first_epoch"]

    def load(self):
        """Return the seed of a checkpoint to resume, or None if there is none.

        Raises
        ------
        ValueError
            When the directory holds the checkpoint of a different fit or of
            other data, or files skae cannot read.
        """
        path = self.directory / _META
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            seed, fingerprint = int(meta["seed"]), meta["fingerprint"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{self._name()} holds an unreadable {_META} ({exc}); delete the "
                "directory to start afresh."
            ) from exc
        if fingerprint != self.fingerprint and self._superseded(seed, fingerprint):
            return None
        if fingerprint != self.fingerprint:
            changed = sorted(
                key
                for key in set(fingerprint) | set(self.fingerprint)
                if fingerprint.get(key) != self.fingerprint.get(key)
            )
            settings = [key for key in changed if key != "data"]
            reasons = [f"it differs in {', '.join(settings)}"] if settings else []
            if "data" in changed:
                reasons.append("the data differs")
            raise self._different("; ".join(reasons))
        return seed

    def start(self, seed):
        """Record the seed of a new run.

        What a run left without its ``skae.json`` (one killed while removing
        its checkpoint) is removed first, so that it is never resumed.
        """
        self._remove_state()
        meta = {"seed": seed, "fingerprint": self.fingerprint}
        tmp = self.directory / (_META + ".tmp")
        tmp.write_text(json.dumps(meta))
        tmp.replace(self.directory / _META)

    @property
    def keras_dir(self):
        """Directory for Keras's ``BackupAndRestore``."""
        return str(self.directory / _KERAS)

    def history(self):
        """Return the per-epoch logs saved so far (a list of dicts)."""
        path = self.directory / _HISTORY
        return json.loads(path.read_text()) if path.exists() else []

    def random_states(self):
        """Return the saved random-generator states (a list of arrays)."""
        with np.load(self.directory / _RANDOM) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    def save_epoch(self, epoch_logs, random_states):
        """Save the per-epoch logs and random-generator states, atomically."""
        tmp = self.directory / (_HISTORY + ".tmp")
        tmp.write_text(json.dumps(epoch_logs))
        tmp.replace(self.directory / _HISTORY)
        tmp = self.directory / "random.tmp.npz"
        np.savez(tmp, *random_states)
        tmp.replace(self.directory / _RANDOM)

    def _remove_state(self):
        """Remove the training state, ``skae.json`` first (then nothing resumes)."""
        for name in _FILES:
            (self.directory / name).unlink(missing_ok=True)
        keras_dir = self.directory / _KERAS
        if keras_dir.is_dir():
            for path in keras_dir.iterdir():
                if _is_keras_file(path.name):
                    path.unlink(missing_ok=True)
            _remove_empty(keras_dir)

    def clear(self):
        """Remove the checkpoint: skae's files only, by name.

        Then the folder itself, if skae created it and nothing else is in it.
        The lock is held until the context is left; clearing twice does
        nothing (the folder may be another fit's by then).
        """
        if self._cleared:
            return
        self._cleared = True
        self._remove_state()
        if fcntl is None:
            self._release()  # Windows cannot remove a file that is open
        (self.directory / _LOCK).unlink(missing_ok=True)
        if self._created:
            _remove_empty(self.directory)


def _is_keras_file(name):
    return name in _KERAS_FILES or name in {f"{n}.bkp" for n in _KERAS_FILES}


def _remove_empty(directory):
    """Remove ``directory`` if it is empty (``rmdir``, never ``rmtree``)."""
    try:
        directory.rmdir()
    except OSError:
        pass
