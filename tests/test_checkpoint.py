"""Resumable training: a fit killed with SIGKILL resumes from its checkpoint."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skae import AutoencoderTransformer

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
    (tmp_path / "skae.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable skae.json"):
        AutoencoderTransformer(**PARAMS, checkpoint_dir=tmp_path).fit(X_small)


def test_finished_fit_leaves_no_checkpoint(tmp_path, X_small):
    AutoencoderTransformer(**{**PARAMS, "epochs": 2},
                           checkpoint_dir=tmp_path).fit(X_small)  # fmt: skip
    assert list(tmp_path.iterdir()) == []
