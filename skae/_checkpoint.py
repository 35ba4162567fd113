"""Resumable training: what ``checkpoint_dir`` holds and how it is read.

A checkpoint directory holds, while a ``fit`` is under way:

- ``skae.json``: the seed of the run and a fingerprint of the estimator's
  settings and data shape, so that only the same fit resumes from it;
- ``history.json``: the per-epoch logs so far, and ``random.npz``: the state
  of the model's random generators (dropout), which Keras does not save;
- ``keras/``: Keras's ``BackupAndRestore`` state (weights, optimizer state,
  epoch), written at the end of every epoch.

A ``fit`` that finishes, or diverges, removes them. One that is killed leaves
them, and the next ``fit`` with the same settings and directory resumes after
the last finished epoch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

_META, _HISTORY, _RANDOM, _KERAS = "skae.json", "history.json", "random.npz", "keras"


class Checkpoint:
    """The checkpoint of one fit in ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Where the checkpoint lives; created if missing.
    fingerprint : dict
        JSON-serializable description of the fit (settings, data shape). A
        checkpoint left by a fit with another fingerprint is an error.
    """

    def __init__(self, directory, fingerprint):
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def load(self):
        """Return the seed of a checkpoint to resume, or None if there is none.

        Raises
        ------
        ValueError
            When the directory holds the checkpoint of a different fit, or
            files skae cannot read.
        """
        path = self.directory / _META
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            seed, fingerprint = int(meta["seed"]), meta["fingerprint"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"checkpoint_dir={str(self.directory)!r} holds an unreadable "
                f"{_META} ({exc}); delete the directory to start afresh."
            ) from exc
        if fingerprint != self.fingerprint:
            changed = sorted(
                key
                for key in set(fingerprint) | set(self.fingerprint)
                if fingerprint.get(key) != self.fingerprint.get(key)
            )
            raise ValueError(
                f"checkpoint_dir={str(self.directory)!r} holds the checkpoint of "
                f"a different fit (it differs in {', '.join(changed)}). Use "
                "another directory, or delete this one to start afresh."
            )
        return seed

    def start(self, seed):
        """Record the seed of a new run."""
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {"seed": seed, "fingerprint": self.fingerprint}
        (self.directory / _META).write_text(json.dumps(meta))

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

    def clear(self):
        """Remove the checkpoint (the directory itself is kept)."""
        for name in (_META, _HISTORY, _HISTORY + ".tmp", _RANDOM, "random.tmp.npz"):
            (self.directory / name).unlink(missing_ok=True)
        shutil.rmtree(self.directory / _KERAS, ignore_errors=True)
