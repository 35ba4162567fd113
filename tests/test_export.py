"""Exports for serving (``export``) and skl2onnx converters (``skae.onnx``).

The ONNX tests need the ``onnx`` extra and skip without it; CI installs it.
"""

import sys

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
import skae.onnx
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    VariationalAutoencoderTransformer,
)

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(16,), epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    from skae.datasets import load_digits

    X, y = load_digits()
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def fitted(data):
    return AutoencoderTransformer(n_components=4, **SMALL).fit(data[0])


def _onnx_runtime():
    for name in ("onnxruntime", "tf2onnx", "skl2onnx"):
        pytest.importorskip(name)
    import onnxruntime

    return onnxruntime


def _run(ort, path_or_model, X):
    source = path_or_model
    if not isinstance(source, str):
        source = source.SerializeToString()
    session = ort.InferenceSession(source)
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="loaded with TensorFlow here"
)
@pytest.mark.parametrize("part", ["encoder", "decoder", "autoencoder"])
def test_a_saved_model_gives_the_estimators_numbers(fitted, data, tmp_path, part):
    X = data[0][:20].astype(np.float32)
    codes = fitted.transform(X)
    given, expected = {
        "encoder": (X, codes),
        "decoder": (codes, fitted.inverse_transform(codes)),
        "autoencoder": (X, fitted.inverse_transform(codes)),
    }[part]
    path = fitted.export(tmp_path / part, part=part)
    assert path == tmp_path / part and path.is_dir()
    loaded = tf.saved_model.load(str(path))  # held: its variables live with it
    served = loaded.serve(given).numpy()
    assert_allclose(served, expected, rtol=0, atol=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="loaded with TensorFlow here"
)
def test_the_variational_sampler_exports(data, tmp_path):
    vae = VariationalAutoencoderTransformer(n_components=3, **SMALL).fit(data[0])
    z = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    loaded = tf.saved_model.load(str(vae.export(tmp_path / "s", part="sampler")))
    assert_allclose(loaded.serve(z).numpy(), vae.inverse_transform(z), atol=1e-6)


def test_export_checks_its_arguments(fitted, data, tmp_path):
    with pytest.raises(ValueError, match="part must be one of"):
        fitted.export(tmp_path / "x", part="sampler")
    with pytest.raises(ValueError, match="format must be one of"):
        fitted.export(tmp_path / "x", format="keras")
    with pytest.raises(NotFittedError):
        AutoencoderTransformer().export(tmp_path / "x")


def test_an_onnx_export_gives_the_estimators_numbers(fitted, data, tmp_path):
    ort = _onnx_runtime()
    X = data[0][:20].astype(np.float32)
    path = fitted.export(tmp_path / "encoder.onnx", format="onnx")
    (codes,) = _run(ort, str(path), X)
    assert_allclose(codes, fitted.transform(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["autoencoder", "variational"])
def test_a_pipeline_converts_to_one_onnx_graph(data, kind):
    ort = _onnx_runtime()
    from skl2onnx import to_onnx

    skae.onnx.register()
    X, y = data
    X32 = X.astype(np.float32)
    cls = {"autoencoder": AutoencoderTransformer,
           "variational": VariationalAutoencoderTransformer}[kind]  # fmt: skip
    reduce = cls(n_components=4, **SMALL)
    pipe = make_pipeline(StandardScaler(), reduce, LogisticRegression(max_iter=300))
    pipe.fit(X, y)
    labels, _ = _run(ort, to_onnx(pipe, X32[:1]), X32)
    assert_array_equal(labels, pipe.predict(X32))
    front = make_pipeline(*pipe[:2])
    (codes,) = _run(ort, to_onnx(front, X32[:1]), X32)
    assert_allclose(codes, front.transform(X32), rtol=0, atol=1e-4)
    # float64 input: the graph casts before the network, as transform does
    (codes,) = _run(ort, to_onnx(front, X[:1]), X)
    assert_allclose(codes, front.transform(X), rtol=0, atol=1e-4)


def test_the_outlier_detector_converts(data):
    ort = _onnx_runtime()
    from skl2onnx import to_onnx

    skae.onnx.register()
    X = data[0].astype(np.float32)
    pipe = make_pipeline(StandardScaler(), AutoencoderOutlierDetector(**SMALL)).fit(X)
    labels, scores = _run(ort, to_onnx(pipe, X[:1]), X)
    decision = pipe.decision_function(X)
    assert scores.shape == (len(X), 1) and labels.shape == (len(X),)
    assert_allclose(scores[:, 0], decision, rtol=0, atol=1e-4)
    clear = np.abs(decision) > 1e-3  # float32 against float64 at the threshold
    assert_array_equal(labels[clear], pipe.predict(X)[clear])
    assert set(np.unique(labels)) <= {-1, 1}


def test_register_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match=r"skae\[onnx\]"):
        skae.onnx.register()
