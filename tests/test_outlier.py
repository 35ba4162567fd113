"""AutoencoderOutlierDetector and reconstruction_error."""

import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    VariationalAutoencoderTransformer,
)


def _detector(**params):
    defaults = dict(hidden_layer_sizes=(32,), epochs=10, random_state=0)
    return AutoencoderOutlierDetector(**{**defaults, **params})


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


@pytest.fixture
def planted():
    """400 rows on a 3-D subspace of 12 features, 20 planted outliers."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 12))
    X += 0.1 * rng.normal(size=X.shape)
    y = np.zeros(len(X), dtype=int)
    X[:10] += 4 * rng.normal(size=(10, 12))  # off the subspace
    X[10:20] = 6 * rng.normal(size=(10, 3)) @ rng.normal(size=(3, 12))  # far along
    y[:20] = 1
    return X, y


def test_detects_both_kinds_of_outlier(planted):
    X, y = planted
    det = _fit(_detector(), X)
    scores = det.score_samples(X)
    assert roc_auc_score(y, -scores) > 0.95
    labels = det.predict(X)
    assert set(np.unique(labels)) <= {-1, 1}
    assert (labels[:20] == -1).mean() > 0.8 and (labels[20:] == 1).mean() > 0.9


def test_decision_function_is_score_minus_offset(planted):
    X, _ = planted
    det = _fit(_detector(), X)
    assert_allclose(det.decision_function(X), det.score_samples(X) - det.offset_)
    assert_array_equal(det.predict(X), np.where(det.decision_function(X) < 0, -1, 1))
    # about -1 for a typical training row, by construction
    assert np.median(det.score_samples(X)) == pytest.approx(-1, abs=0.5)


@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_contamination_sets_the_share_of_training_outliers(planted, contamination):
    X, _ = planted
    det = _detector(contamination=contamination)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = det.fit_predict(X)
    assert (labels == -1).mean() == pytest.approx(contamination, abs=1 / len(X))


def test_contamination_out_of_range_is_refused(planted):
    with pytest.raises(InvalidParameterError, match="contamination"):
        _detector(contamination=0.7).fit(planted[0])


@pytest.mark.parametrize(
    "n_features, expected", [(6, 1), (21, 2), (166, 16), (784, 32)]
)
def test_n_components_from_n_features(n_features, expected):
    X = np.random.default_rng(0).normal(size=(40, n_features))
    det = _fit(_detector(epochs=1), X)
    assert det.transform(X).shape == (40, expected)
    assert det.code_precision_.shape == (expected, expected)


@pytest.mark.parametrize(
    "cls",
    [
        AutoencoderTransformer,
        VariationalAutoencoderTransformer,
        AutoencoderOutlierDetector,
    ],  # fmt: skip
)
def test_per_feature_errors_average_to_the_row_error(planted, cls):
    X = planted[0]
    est = _fit(
        cls(n_components=3, hidden_layer_sizes=(16,), epochs=2, random_state=0), X
    )
    per_feature = est.reconstruction_error(X, per_feature=True)
    per_row = est.reconstruction_error(X)
    assert per_feature.shape == X.shape and per_row.shape == (len(X),)
    assert per_feature.dtype == per_row.dtype == np.float64
    assert_allclose(per_feature.mean(axis=1), per_row, rtol=1e-12)
    rebuilt = est.inverse_transform(est.transform(X))
    assert_allclose(per_feature, (X - rebuilt) ** 2, rtol=1e-4, atol=1e-6)
    if cls is AutoencoderTransformer:
        assert_allclose(-per_row, est.score_samples(X), rtol=1e-4, atol=1e-7)


def test_reconstruction_error_refuses_a_non_bool_per_feature(planted):
    est = _fit(_detector(epochs=1), planted[0])
    with pytest.raises(TypeError, match="per_feature"):
        est.reconstruction_error(planted[0], per_feature="yes")


def test_per_feature_errors_point_at_the_broken_feature():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 8))
    X[0, 5] += 15
    det = _fit(_detector(), StandardScaler().fit_transform(X))
    errors = det.reconstruction_error(
        StandardScaler().fit(X).transform(X[:1]), per_feature=True
    )
    assert int(np.argmax(errors[0])) == 5


def test_in_a_pipeline_after_standard_scaler(planted):
    X, y = planted
    pipe = make_pipeline(StandardScaler(), _detector())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = pipe.fit(X * 100 + 7).predict(X * 100 + 7)
    assert (labels[:20] == -1).mean() > 0.8
    assert roc_auc_score(y, -pipe.score_samples(X * 100 + 7)) > 0.95


def test_persists_with_joblib_in_a_fresh_process_and_skae_save(planted, tmp_path):
    X, _ = planted
    det = _fit(_detector(), X)
    expected = det.decision_function(X)
    joblib.dump(det, tmp_path / "det.joblib")
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np
        det = joblib.load({str(tmp_path / "det.joblib")!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "out.npy")!r}, det.decision_function(X))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    skae.save(det, tmp_path / "det.skae")
    loaded = skae.load(tmp_path / "det.skae")
    assert type(loaded) is AutoencoderOutlierDetector
    assert_array_equal(loaded.decision_function(X), expected)
    assert loaded.offset_ == det.offset_


def test_a_file_with_a_bad_precision_matrix_is_refused(planted, tmp_path):
    import json
    import zipfile

    det = _fit(_detector(epochs=1), planted[0])
    skae.save(det, tmp_path / "det.skae")
    with zipfile.ZipFile(tmp_path / "det.skae") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(parts["skae.json"])
    meta["fitted"]["code_precision_"]["__ndarray__"] = [[1.0, "x"]]
    parts["skae.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "bad.skae", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="code_precision_ must be a square matrix"):
        skae.load(tmp_path / "bad.skae")


def test_images_with_the_conv_architecture(digits):
    X, y = digits
    det = _fit(_detector(architecture="conv", image_shape=(8, 8), filters=(8,)), X)
    assert det.predict(X).shape == (len(X),)
    assert np.isfinite(det.score_samples(X)).all()
