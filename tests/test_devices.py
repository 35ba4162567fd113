"""Device selection and per-model mixed precision (CPU-side checks)."""

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skae import AutoencoderTransformer, VariationalAutoencoderTransformer, _devices


def small(**params):
    params = {"n_components": 3, "hidden_layer_sizes": (8,), "epochs": 2,
              "random_state": 0, **params}  # fmt: skip
    return AutoencoderTransformer(**params)


@pytest.mark.parametrize(
    "device, parsed",
    [("auto", ("auto", None)), ("cpu", ("cpu", None)), ("GPU", ("gpu", None)),
     ("gpu:1", ("gpu", 1)), ("cpu:0", ("cpu", 0))],
)  # fmt: skip
def test_parse(device, parsed):
    assert _devices.parse(device) == parsed


@pytest.mark.parametrize(
    "device", ["tpu", "gpu:-1", "auto:1", "gpu1", "", 3, "cpu:5", "cpu:1"]
)
def test_bad_device_names_are_refused(device, X_small):
    with pytest.raises(ValueError, match="'device' parameter"):
        small(device=device).fit(X_small)


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_cpu_device_is_recorded(device, X_small):
    ae = small(device=device).fit(X_small)
    assert ae.device_ == "cpu"
    assert "CPU" in str(ae.model_.weights[0].value.device).upper()


def test_asking_for_a_missing_gpu_is_an_error_not_a_cpu_run(X_small):
    est = small(device="gpu")
    with pytest.raises(RuntimeError, match=r"asks for GPU 0, but .* sees 0 GPU"):
        est.fit(X_small)
    assert not hasattr(est, "model_")


def test_resolution_with_gpus_present(monkeypatch):
    monkeypatch.setattr(_devices, "gpu_count", lambda: 2)
    monkeypatch.setattr(_devices, "enable_memory_growth", lambda: None)
    assert _devices.resolve("auto") == "gpu:0"
    assert _devices.resolve("gpu:1") == "gpu:1"
    with pytest.raises(RuntimeError, match="GPU 2"):
        _devices.resolve("gpu:2")
    # Loading a model fitted on GPU 2 of another machine: the best there is.
    assert _devices.resolve("gpu:2", strict=False) == "gpu:0"


def test_a_gpu_fitted_model_loads_and_transforms_on_a_cpu_machine(X_small, pickled):
    ae = small().fit(X_small)
    expected = ae.transform(X_small)
    ae.device_ = "gpu:0"  # as pickled on a GPU machine
    loaded = pickled(ae)
    assert loaded.device_ == "cpu"
    assert_array_equal(loaded.transform(X_small), expected)


def test_memory_growth_leaves_cpu_only_and_configured_processes_alone(monkeypatch):
    # No GPU here: nothing to switch on, and nothing raised.
    _devices.enable_memory_growth()
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    _devices.enable_memory_growth()


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_is_per_model_with_float32_io(precision, X_small, pickled):
    policy = keras.config.dtype_policy().name
    ae = small(precision=precision).fit(X_small)
    assert keras.config.dtype_policy().name == policy  # the global one untouched
    hidden = ae.encoder_.get_layer("encoder_dense_0")
    assert hidden.dtype_policy.name == precision
    assert hidden.kernel.dtype == "float32"
    assert ae.decoder_.get_layer("reconstruction").compute_dtype == "float32"
    Z = ae.transform(X_small)
    assert Z.dtype == np.float32 and np.all(np.isfinite(Z))
    assert ae.inverse_transform(Z).dtype == np.float32
    reference = small().fit(X_small)
    assert_allclose(ae.score(X_small), reference.score(X_small), rtol=0.1)
    if precision == "mixed_float16":
        assert isinstance(ae.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    assert_array_equal(pickled(ae).transform(X_small), Z)


def test_mixed_float16_refuses_values_beyond_float16(X_small):
    with pytest.raises(ValueError, match="float16 network overflows"):
        small(precision="mixed_float16").fit(X_small * 1000)


def test_variational_mixed_precision(X_small):
    vae = VariationalAutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), epochs=2, random_state=0,
        precision="mixed_float16",
    ).fit(X_small)  # fmt: skip
    assert np.all(np.isfinite(vae.kl_loss_curve_))
    assert vae.sample(2, random_state=0).dtype == np.float32
