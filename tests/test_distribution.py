"""Data-parallel training with a tf.distribute strategy on two logical CPUs.

TensorFlow can split the CPU into logical devices only before it
initializes, so each check runs in a fresh process.
"""

import subprocess
import sys
import textwrap

import keras
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.distribute strategies need the TensorFlow backend",
)

SCRIPT = textwrap.dedent(
    """
    import io, warnings
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import joblib
    import numpy as np
    from sklearn.base import clone
    from sklearn.datasets import load_digits
    from skae import AutoencoderTransformer

    warnings.simplefilter("ignore")
    X = (load_digits().data[:512] / 16).astype(np.float32)
    params = dict(n_components=4, hidden_layer_sizes=(16,), epochs=3,
                  batch_size=64, random_state=0)
    single = AutoencoderTransformer(**params).fit(X)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    est = AutoencoderTransformer(**params, distribution=strategy)
    cloned = clone(est)  # deep-copies the strategy
    dist = est.fit(X)
    print("device", dist.device_)
    print("variable", type(dist.model_.weights[0]).__name__)
    dist0 = dist.transform(X)
    print("diff", float(np.abs(single.transform(X) - dist0).max()))
    gap = np.subtract(single.loss_curve_, dist.loss_curve_)
    print("loss", float(np.max(np.abs(gap))))
    # Training on (warm start) stays distributed and the estimator pickles.
    dist.set_params(warm_start=True, epochs=1).fit(X)
    buffer = io.BytesIO()
    joblib.dump(dist, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    print("pickled", loaded.distribution is None,
          bool(np.array_equal(loaded.transform(X), dist.transform(X))))
    print("clone", bool(np.array_equal(cloned.fit(X).transform(X), dist0)))
    """
)


def test_mirrored_strategy_matches_single_device_training():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["device"] == "distributed: MirroredStrategy(cpu:0, cpu:1)"
    assert "Mirrored" not in lines["variable"]  # model_ is a plain model again
    # Two replicas of 32 rows reduce their gradients in another order than
    # one batch of 64: the results agree to float32 rounding, amplified a
    # little over 3 epochs.
    assert float(lines["diff"]) < 1e-4, lines["diff"]
    assert float(lines["loss"]) < 1e-5, lines["loss"]
    assert lines["pickled"] == "True True"
    assert lines["clone"] == "True"  # a clone trains identically
