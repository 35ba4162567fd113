"""skae.save / skae.load: a file format that runs no code when loaded."""

import json
import pickle
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import AutoencoderTransformer
from skae.exceptions import InconsistentVersionWarning


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(60, 10)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(X):
    return AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=(8,), epochs=2, dropout=0.2,
        noise="gaussian", noise_clip=(0, 1), random_state=0,
    ).fit(X)  # fmt: skip


@pytest.fixture
def saved(fitted, tmp_path):
    path = tmp_path / "ae.skae"
    skae.save(fitted, path)
    return path


def rewrite(path, meta=None, drop=(), model=None):
    """Rewrite a .skae file with changed metadata or members."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if meta is not None:
        members["skae.json"] = json.dumps(meta(json.loads(members["skae.json"])))
    if model is not None:
        members["model.keras"] = model
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if name not in drop:
                archive.writestr(name, data)


def test_round_trip_in_a_fresh_process(fitted, saved, X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    x_path, z_path = str(tmp_path / "X.npy"), str(tmp_path / "Z.npy")
    script = textwrap.dedent(f"""
        import numpy as np, skae
        est = skae.load({str(saved)!r})
        np.save({z_path!r}, est.transform(np.load({x_path!r})))
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    assert_array_equal(np.load(tmp_path / "Z.npy"), fitted.transform(X))


def test_loaded_estimator_is_the_same_and_trains_on_identically(fitted, saved, X):
    loaded = skae.load(saved)
    assert loaded.get_params() == fitted.get_params()
    for name in ("n_iter_", "loss_curve_", "history_", "n_features_in_"):
        assert getattr(loaded, name) == getattr(fitted, name)
    assert_array_equal(loaded.inverse_transform(loaded.transform(X)),
                       fitted.inverse_transform(fitted.transform(X)))  # fmt: skip
    twin = pickle.loads(pickle.dumps(fitted))
    loaded.partial_fit(X)
    twin.partial_fit(X)
    assert_array_equal(loaded.transform(X), twin.transform(X))


def test_unfitted_and_feature_names(X, tmp_path):
    pd = pytest.importorskip("pandas")
    skae.save(AutoencoderTransformer(n_components=4), tmp_path / "u.skae")
    loaded = skae.load(tmp_path / "u.skae")
    assert loaded.n_components == 4 and not loaded.__sklearn_is_fitted__()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)])
    ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(), epochs=1).fit(df)
    skae.save(ae, tmp_path / "df.skae")
    assert list(skae.load(tmp_path / "df.skae").feature_names_in_) == list(df.columns)


def test_keras_objects_as_parameters(X, tmp_path):
    ae = AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(4,), epochs=1, random_state=0,
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss=keras.losses.Huber(delta=0.5),
    ).fit(X)  # fmt: skip
    skae.save(ae, tmp_path / "k.skae")
    loaded = skae.load(tmp_path / "k.skae")
    assert loaded.optimizer.get_config()["momentum"] == 0.9
    assert isinstance(loaded.loss, keras.losses.Huber)
    assert loaded.loss.get_config() == ae.loss.get_config()
    assert_array_equal(loaded.transform(X), ae.transform(X))


def test_what_cannot_be_saved_safely(X, tmp_path):
    def my_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred))

    with pytest.raises(TypeError, match="register_keras_serializable"):
        skae.save(AutoencoderTransformer(loss=my_loss), tmp_path / "a.skae")
    with pytest.raises(TypeError, match="random_state as an int or None"):
        skae.save(AutoencoderTransformer(random_state=np.random.RandomState(0)),
                  tmp_path / "b.skae")  # fmt: skip
    with pytest.warns(UserWarning, match="does not save callbacks"):
        skae.save(AutoencoderTransformer(callbacks=[keras.callbacks.History()]),
                  tmp_path / "c.skae")  # fmt: skip
    assert skae.load(tmp_path / "c.skae").callbacks is None
    with pytest.raises(TypeError, match="For a Pipeline"):
        skae.save(make_pipeline(StandardScaler()), tmp_path / "d.skae")
    assert not (tmp_path / "a.skae").exists()


def test_pipeline_recipe(X, tmp_path):
    pipe = make_pipeline(
        StandardScaler(), AutoencoderTransformer(n_components=2, epochs=1,
                                                 hidden_layer_sizes=(4,))
    ).fit(X)  # fmt: skip
    skae.save(pipe[-1], tmp_path / "step.skae")
    rest = pipe[:-1]  # the other steps, saved with a format you trust
    loaded = make_pipeline(rest[0], skae.load(tmp_path / "step.skae"))
    assert_array_equal(loaded.transform(X), pipe.transform(X))


def test_other_versions_warn(saved):
    def older(meta):
        meta["versions"]["keras"] = "3.0.0"
        return meta

    rewrite(saved, meta=older)
    with pytest.warns(InconsistentVersionWarning, match=r"keras 3\.0\.0 -> "):
        skae.load(saved)


@pytest.mark.parametrize(
    "damage, match",
    [
        ("truncate", "truncated or corrupted"),
        ("garbage", "truncated or corrupted"),
        ("foreign zip", "not a skae file: it has no skae.json"),
        ("bad json", "corrupted skae.json"),
        ("no model", "incomplete"),
        ("future format", "format version 99"),
        ("unknown class", "unknown class 'Evil'"),
        ("corrupted model", "Keras could not load the model safely"),
    ],
)
def test_damaged_files(saved, damage, match):
    data = saved.read_bytes()
    if damage == "truncate":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        saved.write_bytes(b"\x00not a zip" * 100)
    elif damage == "foreign zip":
        rewrite(saved, drop=("skae.json",))
    elif damage == "bad json":
        with zipfile.ZipFile(saved) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        members["skae.json"] = b"{broken"
        with zipfile.ZipFile(saved, "w") as archive:
            for name, blob in members.items():
                archive.writestr(name, blob)
    elif damage == "no model":
        rewrite(saved, drop=("model.keras",))
    elif damage == "future format":
        rewrite(saved, meta=lambda meta: {**meta, "format_version": 99})
    elif damage == "unknown class":
        rewrite(saved, meta=lambda meta: {**meta, "class": "Evil"})
    elif damage == "corrupted model":
        rewrite(saved, model=b"PK\x03\x04 this is not a keras file")
    with pytest.raises(ValueError, match=match):
        skae.load(saved)


def test_code_in_a_model_is_refused(saved, tmp_path):
    # A model with a Lambda layer carries Python code: safe_mode refuses it.
    inputs = keras.Input((10,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "evil.keras")
    rewrite(saved, model=(tmp_path / "evil.keras").read_bytes())
    with pytest.raises(ValueError, match="could not load the model safely"):
        skae.load(saved)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No skae file"):
        skae.load(tmp_path / "nothing.skae")
