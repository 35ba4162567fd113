"""Resumable training: a fit killed with SIGKILL resumes from its checkpoint."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse

from skae import AutoencoderTransformer
from skae._checkpoint import Checkpoint, data_fingerprint
from skae.exceptions import DivergenceError

PARAMS = dict(n_components=3, hidden_layer_sizes=(16,), epochs=6, batch_size=16,
              dropout=0.1, random_state=0)  # fmt: skip

KILLED_FIT = """
import os, signal, sys
import keras, numpy as np
from skae import AutoencoderTransformer

class KillAt(keras.callbacks.Callback):
    # SIGKILL at the start of an epoch: the ones before it are saved.
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

X = np.load(sys.argv[1])
AutoencoderTransformer(**{params}, checkpoint_dir=sys.argv[2],
                       callbacks=[KillAt()]).fit(X)
"""


class Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def killed_fit(tmp_path, X, kill_at, params=PARAMS):
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(KILLED_FIT).format(kill_at=kill_at, params=params)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "X.npy"), str(tmp_path / "ckpt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]


@pytest.mark.parametrize("random_state", [0, None])
def test_killed_fit_resumes_at_the_last_finished_epoch(tmp_path, X_small, random_state):
    params = {**PARAMS, "random_state": random_state}
    killed_fit(tmp_path, X_small, kill_at=4, params=params)
    assert (tmp_path / "ckpt" / "skae.json").exists()
    seen = Epochs()
    ae = AutoencoderTransformer(
        **params, checkpoint_dir=tmp_path / "ckpt", callbacks=[seen]
    ).fit(X_small)
    assert seen.seen == [4, 5]  # not started over
    assert ae.n_iter_ == 6 and len(ae.loss_curve_) == 6
    assert not (tmp_path / "ckpt" / "skae.json").exists()  # removed when done
    if random_state is not None:
        # The same model as a fit that was never interrupted.
        whole = AutoencoderTransformer(**params).fit(X_small)
        assert ae.loss_curve_ == whole.loss_curve_
        assert_array_equal(ae.transform(X_small), whole.transform(X_small))


def test_checkpoint_of_another_fit_is_refused(tmp_path, X_small):
    killed_fit(tmp_path, X_small, kill_at=2)
    other = AutoencoderTransformer(**{**PARAMS, "n_components": 2},
                                   checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    with pytest.raises(ValueError, match="different fit.*n_components"):
        other.fit(X_small)
    with pytest.raises(ValueError, match="different fit.*n_samples"):
        AutoencoderTransformer(**PARAMS, checkpoint_dir=tmp_path / "ckpt").fit(
            X_small[:30]
        )


def test_unreadable_checkpoint(tmp_path, X_small):
    (tmp_path / "skae.lock").touch()  # skae's folder, with a damaged skae.json
    (tmp_path / "skae.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable skae.json"):
        AutoencoderTransformer(**PARAMS, checkpoint_dir=tmp_path).fit(X_small)


def test_finished_fit_leaves_no_checkpoint(tmp_path, X_small):
    AutoencoderTransformer(**{**PARAMS, "epochs": 2},
                           checkpoint_dir=tmp_path).fit(X_small)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


# -- checkpoint_dir never touches what skae did not write ----------------------

FAST = dict(n_components=3, hidden_layer_sizes=(8,), epochs=3, batch_size=16,
            random_state=0)  # fmt: skip


class InterruptAt(keras.callbacks.Callback):
    """Ctrl-C at the start of the given epoch: the fit keeps its checkpoint."""

    def __init__(self, epoch, exception=KeyboardInterrupt):
        super().__init__()
        self.epoch, self.exception = epoch, exception

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise self.exception


def interrupted_fit(X, directory, **params):
    """A fit stopped by Ctrl-C in its second epoch; returns the estimator."""
    ae = AutoencoderTransformer(**{**FAST, **params}, checkpoint_dir=directory,
                                callbacks=[InterruptAt(1)])  # fmt: skip
    with pytest.warns(UserWarning, match="interrupted"):
        return ae.fit(X)


def contents(folder):
    """Every path under ``folder`` with the bytes of the files."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "names",
    [("notes.txt",), ("keras/latest.weights.h5", "history.json"), ("skae.json",)],
    ids=["any file", "keras and history", "skae.json"],
)
def test_folder_with_foreign_files_is_refused_and_left_alone(tmp_path, X_small, names):
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"the user's own")
    before = contents(tmp_path)
    ae = AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*files that skae did not"):
        ae.fit(X_small)
    assert contents(tmp_path) == before


@pytest.mark.parametrize("name", ["notes.txt", "keras/notes.txt"])
def test_foreign_file_in_skaes_folder_is_refused_and_left_alone(tmp_path, X_small,
                                                                name):  # fmt: skip
    interrupted_fit(X_small, tmp_path)
    (tmp_path / name).write_bytes(b"the user's own")
    before = contents(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*files that skae did not"):
        AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path).fit(X_small)
    assert contents(tmp_path) == before  # skae's checkpoint is kept too


@pytest.mark.parametrize("path", ["file", "file/ckpt"], ids=["a file", "under a file"])
def test_path_that_cannot_be_a_folder_is_refused_before_training(tmp_path, X_small,
                                                                 path):  # fmt: skip
    (tmp_path / "file").write_bytes(b"the user's own")
    seen = Epochs()
    ae = AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path / path,
                                callbacks=[seen])  # fmt: skip
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*file"):
        ae.fit(X_small)
    assert seen.seen == []
    assert contents(tmp_path) == {"file": b"the user's own"}


def test_two_fits_on_one_folder_at_once(tmp_path, X_small):
    with Checkpoint(tmp_path / "ckpt", {}):  # another fit holds the lock
        ae = AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path / "ckpt")
        with pytest.raises(ValueError, match=r"checkpoint_dir=.*in use by another"):
            ae.fit(X_small)
    ae.fit(X_small)  # free again once the other fit is done
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("ending", ["finished", "Ctrl-C", "diverged", "error"])
def test_lock_is_released_however_the_fit_ends(tmp_path, X_small, ending):
    params = {"checkpoint_dir": tmp_path, "optimizer": "sgd"}
    if ending == "Ctrl-C":
        params["callbacks"] = [InterruptAt(1)]
    elif ending == "error":
        params["callbacks"] = [InterruptAt(1, RuntimeError("boom"))]
    elif ending == "diverged":
        params["learning_rate"] = 1e12
    ae = AutoencoderTransformer(**FAST, **params)
    if ending == "Ctrl-C":
        with pytest.warns(UserWarning, match="interrupted"):
            ae.fit(X_small)
    elif ending == "finished":
        ae.fit(X_small)
    else:
        with pytest.raises((RuntimeError, DivergenceError)):
            ae.fit(X_small)
    kept = (tmp_path / "skae.json").exists()
    assert kept == (ending in ("Ctrl-C", "error"))  # to resume from
    assert kept or list(tmp_path.iterdir()) == []
    with Checkpoint(tmp_path, {}):
        pass  # the lock can be taken


def test_finished_fit_removes_the_folder_it_created(tmp_path, X_small):
    AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path / "ckpt").fit(X_small)
    assert list(tmp_path.iterdir()) == []


def test_resumed_fit_removes_the_folder_the_stopped_one_created(tmp_path, X_small):
    interrupted_fit(X_small, tmp_path / "ckpt")
    AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path / "ckpt").fit(X_small)
    assert list(tmp_path.iterdir()) == []


# -- only the same fit on the same data resumes --------------------------------


def as_kind(X, kind, tmp_path, name):
    if kind == "memmap":
        np.save(tmp_path / f"{name}.npy", X)
        return np.load(tmp_path / f"{name}.npy", mmap_mode="r")
    if kind == "csr":
        return sparse.csr_matrix(np.where(X > 0.5, X, 0))
    return X


@pytest.mark.parametrize("kind", ["dense", "memmap", "csr"])
def test_other_data_of_the_same_shape_does_not_resume(tmp_path, X_small, kind):
    other = X_small.copy()
    other[7, 3] += 0.25
    ckpt = tmp_path / "ckpt"
    interrupted_fit(as_kind(X_small, kind, tmp_path, "X"), ckpt)
    ae = AutoencoderTransformer(**FAST, checkpoint_dir=ckpt)
    with pytest.raises(ValueError, match="different fit.*data differs"):
        ae.fit(as_kind(other, kind, tmp_path, "other"))
    seen = Epochs()
    ae.set_params(callbacks=[seen]).fit(as_kind(X_small, kind, tmp_path, "again"))
    assert seen.seen == [1, 2]  # the same data resumes
    assert not ckpt.exists()


@pytest.mark.parametrize("kind", ["dense", "memmap", "csr"])
def test_data_fingerprint(tmp_path, kind):
    X = np.random.default_rng(0).uniform(size=(1000, 5)).astype(np.float32)

    def fingerprint(X, name="X"):
        return data_fingerprint(as_kind(X, kind, tmp_path, name))

    same = fingerprint(X)
    assert fingerprint(X.copy(), "copy") == same
    for row in (0, 999):  # the first and last rows are always sampled
        changed = X.copy()
        changed[row, 2] += 0.5
        assert fingerprint(changed, f"row{row}") != same
    assert fingerprint(X[:-1], "shorter") != same
    assert fingerprint(X.astype(np.float64), "float64") != same
    if kind == "memmap":  # killed on an array, resumed on a memmap of it
        assert same == data_fingerprint(X)


def test_fit_stopped_by_ctrl_c_resumes_when_fit_again(tmp_path, X_small):
    ae = interrupted_fit(X_small, tmp_path)
    seen = Epochs()
    ae.set_params(callbacks=[seen]).fit(X_small)
    assert seen.seen == [1, 2] and ae.n_iter_ == 3
    assert list(tmp_path.iterdir()) == []


def test_warm_start_goes_on_after_its_own_ctrl_c(tmp_path, X_small):
    # The stopped run's epochs are in the estimator: its checkpoint gives way.
    ae = interrupted_fit(X_small, tmp_path, warm_start=True)
    assert ae.n_iter_ == 1
    seen = Epochs()
    ae.set_params(callbacks=[seen]).fit(X_small)
    assert seen.seen == [0, 1, 2] and ae.n_iter_ == 4
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "loss, encoder", [(keras.losses.MeanSquaredError, None), ("mse", "class")]
)
def test_classes_as_settings_are_fingerprinted(tmp_path, X_small, loss, encoder):
    class Encoder(keras.Sequential):
        def __init__(self, n_features, n_components, **kwargs):
            super().__init__([keras.layers.Dense(n_components)], **kwargs)

    params = dict(loss=loss, encoder=Encoder if encoder else None)
    ae = AutoencoderTransformer(**FAST, **params, checkpoint_dir=tmp_path)
    ae.set_params(warm_start=True).fit(X_small).fit(X_small)
    assert ae.n_iter_ == 6


def test_warm_start_does_not_resume_another_fits_checkpoint(tmp_path, X_small):
    interrupted_fit(X_small, tmp_path, warm_start=True)
    fitted = AutoencoderTransformer(**FAST, warm_start=True).fit(X_small)
    before = fitted.transform(X_small)
    fitted.set_params(checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="different fit.*first_epoch"):
        fitted.fit(X_small)
    assert_array_equal(fitted.transform(X_small), before)


def test_backup_without_its_skae_json_is_not_resumed(tmp_path, X_small):
    # What a fit killed while removing its finished checkpoint could leave.
    interrupted_fit(X_small, tmp_path)
    (tmp_path / "skae.json").unlink()
    seen = Epochs()
    AutoencoderTransformer(**FAST, checkpoint_dir=tmp_path,
                           callbacks=[seen]).fit(X_small)  # fmt: skip
    assert seen.seen == [0, 1, 2]
