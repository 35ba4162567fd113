"""skae.save / skae.load: a file format that runs no code when loaded."""

import errno
import json
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
import zipfile

import keras
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    VariationalAutoencoderTransformer,
    _devices,
)
from skae._persistence_checks import FITTED
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


@pytest.fixture(scope="module")
def pristine(fitted, tmp_path_factory):
    """The bytes of ``fitted`` saved once, copied by each test that needs a file."""
    path = tmp_path_factory.mktemp("pristine") / "ae.skae"
    skae.save(fitted, path)
    return path.read_bytes()


@pytest.fixture
def saved(pristine, tmp_path):
    path = tmp_path / "ae.skae"
    path.write_bytes(pristine)
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


def assert_same(got, expected, name):
    """Assert equal values, and arrays equal bit for bit."""
    if not isinstance(expected, np.ndarray):
        assert got == expected, name
        return
    assert isinstance(got, np.ndarray), name
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape), name
    if expected.dtype == object:
        assert got.tolist() == expected.tolist(), name
    else:
        assert got.tobytes() == expected.tobytes(), name


@pytest.mark.parametrize(
    "cls",
    [
        AutoencoderTransformer,
        VariationalAutoencoderTransformer,
        AutoencoderOutlierDetector,
    ],  # fmt: skip
)
def test_every_declared_fitted_attribute_round_trips(cls, X, tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = cls(
        n_components=2, hidden_layer_sizes=(4,), epochs=2, early_stopping=True,
        validation_fraction=0.2, random_state=0,
    ).fit(df)  # fmt: skip
    skae.save(est, tmp_path / "est.skae")
    loaded = skae.load(tmp_path / "est.skae")
    kind = {VariationalAutoencoderTransformer: "variational",
            AutoencoderOutlierDetector: "detector"}.get(cls)  # fmt: skip
    for name, (_, has) in FITTED.items():
        if has in ("variational", "detector") and has != kind:
            assert not hasattr(est, name) and not hasattr(loaded, name), name
            continue
        assert hasattr(est, name), f"the fit does not exercise {name}"
        assert_same(getattr(loaded, name), getattr(est, name), name)
    assert est.validation_scores_ is not None
    # Nothing fitted is left out of the declaration but the Keras models.
    assert set(vars(loaded)) == set(vars(est))


def test_loaded_estimator_is_the_same_and_trains_on_identically(fitted, saved, X):
    loaded = skae.load(saved)
    assert loaded.get_params() == fitted.get_params()
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
        ("deep json", "corrupted skae.json"),
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
    elif damage in ("bad json", "deep json"):
        with zipfile.ZipFile(saved) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        members["skae.json"] = b"{broken" if damage == "bad json" else b"[" * 10**5
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


@pytest.mark.parametrize("load", ["skae", "pickle"])
def test_a_loaded_model_runs_where_it_was_fitted(fitted, tmp_path, monkeypatch, load):
    def reload(est):
        if load == "pickle":
            return pickle.loads(pickle.dumps(est))
        skae.save(est, tmp_path / "ae.skae")
        return skae.load(tmp_path / "ae.skae")

    on_cpu, on_gpu = (pickle.loads(pickle.dumps(fitted)) for _ in range(2))
    on_cpu.device_, on_gpu.device_ = "cpu", "gpu:0"
    assert on_cpu.device == "auto"
    monkeypatch.setattr(_devices, "gpu_count", lambda: 1)  # a machine with a GPU
    assert reload(on_cpu).device_ == "cpu"
    monkeypatch.setattr(_devices, "gpu_count", lambda: 0)  # one without
    assert reload(on_gpu).device_ == "cpu"


def test_files_written_before_load(saved, fitted, X):
    # Before: the code width was stored; device_ and _model_settings were not.
    def older(meta):
        meta["fitted"]["_n_features_out"] = 3
        del meta["fitted"]["device_"], meta["fitted"]["_model_settings"]
        return meta

    rewrite(saved, meta=older)
    loaded = skae.load(saved)
    assert loaded.device_ == _devices.restore(None, loaded.device)
    assert loaded._n_features_out == 3 and not hasattr(loaded, "_model_settings")
    assert_array_equal(loaded.transform(X), fitted.transform(X))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No skae file"):
        skae.load(tmp_path / "nothing.skae")


# -- bad paths and failed saves -----------------------------------------------------


def partials(folder):
    return sorted(p.name for p in folder.rglob("*.partial"))


@pytest.mark.parametrize(
    "where, error",
    [
        ("folder", IsADirectoryError),
        ("missing folder", FileNotFoundError),
        ("file as folder", NotADirectoryError),
    ],
)
def test_save_to_a_bad_path(fitted, tmp_path, monkeypatch, where, error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    given = {
        "folder": "./models",
        "missing folder": "./missing/ae.skae",
        "file as folder": "./notes.txt/ae.skae",
    }[where]
    with pytest.raises(error, match=re.escape(repr(given))) as info:
        skae.save(fitted, given)
    assert ".partial" not in str(info.value)
    assert partials(tmp_path) == []
    assert (tmp_path / "notes.txt").read_text() == "mine"


def not_json(monkeypatch, fitted):
    # An array-like that scikit-learn accepts and JSON cannot hold.
    ae = AutoencoderTransformer(hidden_layer_sizes=range(8, 4, -2))
    return ae, TypeError, "cannot store hidden_layer_sizes=range"


def disk_full(monkeypatch, fitted):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "write", full)
    return fitted, OSError, r"could not write '[^']*ae\.skae': No space left"


def model_refuses(monkeypatch, fitted):
    def refuse(*args, **kwargs):
        raise ValueError("this model cannot be serialized")

    monkeypatch.setattr(type(fitted.model_), "save", refuse)
    return fitted, ValueError, "cannot be serialized"


@pytest.mark.parametrize("failure", [not_json, disk_full, model_refuses])
def test_a_failed_save_leaves_no_trace(
    fitted, pristine, tmp_path, monkeypatch, failure
):
    # A good file is already there: a failed save must neither clobber it
    # nor leave a half-written file next to it.
    path = tmp_path / "ae.skae"
    path.write_bytes(pristine)
    estimator, error, match = failure(monkeypatch, fitted)
    with pytest.raises(error, match=match) as info:
        skae.save(estimator, path)
    monkeypatch.undo()
    assert ".partial" not in str(info.value)
    assert path.read_bytes() == pristine
    assert partials(tmp_path) == []
    assert skae.load(path).n_iter_ == fitted.n_iter_


def test_save_leaves_other_files_alone(fitted, tmp_path):
    (tmp_path / "ae.skae.partial").write_text("mine")
    skae.save(fitted, tmp_path / "ae.skae")
    assert (tmp_path / "ae.skae.partial").read_text() == "mine"
    assert skae.load(tmp_path / "ae.skae").n_iter_ == fitted.n_iter_


def test_save_refuses_what_load_would_refuse(tmp_path):
    with pytest.raises(ValueError, match="'n_components' parameter of Autoencoder"):
        skae.save(AutoencoderTransformer(n_components=0), tmp_path / "ae.skae")
    with pytest.raises(ValueError, match="noise_clip"):
        skae.save(AutoencoderTransformer(noise_clip=(1, 0)), tmp_path / "ae.skae")
    assert list(tmp_path.iterdir()) == []


# -- tampered and corrupted files ---------------------------------------------------


def top(key, value):
    def change(meta):
        meta[key] = value
        return meta

    return change


def drop(key):
    def change(meta):
        del meta[key]
        return meta

    return change


def param(name, value):
    def change(meta):
        meta["params"][name] = value
        return meta

    return change


def attribute(name, value):
    def change(meta):
        meta["fitted"][name] = value
        return meta

    return change


def drop_attribute(name):
    def change(meta):
        del meta["fitted"][name]
        return meta

    return change


def array(values, dtype):
    return {"__ndarray__": values, "dtype": dtype}


def wider_input(meta):
    # Consistent in itself, but the model takes 10 features, not 11.
    fitted = meta["fitted"]
    fitted["n_features_in_"] = 11
    for name in ("_data_min", "_data_max"):
        fitted[name]["__ndarray__"].append(0.5)
    return meta


def as_vae(meta):
    # A VAE's metadata around an autoencoder's model.
    meta["class"] = "VariationalAutoencoderTransformer"
    meta["fitted"]["reconstruction_loss_curve_"] = [0.1]
    meta["fitted"]["kl_loss_curve_"] = [0.1]
    return meta


def keras_relu(meta):
    relu = keras.saving.serialize_keras_object(keras.activations.relu)
    meta["params"]["activation"] = {"__keras__": relu}
    return meta


@pytest.mark.parametrize(
    "tamper, match",
    [
        pytest.param(top("class", ["Evil"]), "unknown class", id="class-a-list"),
        pytest.param(top("params", [1, 2]), "'params' must be", id="params-a-list"),
        pytest.param(drop("params"), "'params' must be", id="params-missing"),
        pytest.param(top("fitted", [1]), "'fitted' must be", id="fitted-a-list"),
        pytest.param(drop("fitted"), "'fitted' must be", id="fitted-missing"),
        pytest.param(top("versions", "3.0"), "'versions' must be", id="versions-a-str"),
        pytest.param(
            top("random_states", {"a": 1}), "random_states", id="random-states-a-dict"
        ),
        pytest.param(top("random_states", []), "random_states", id="random-states-few"),
        pytest.param(
            top("random_states", [array([1, 2, 3], "int64")] * 2),
            "random_states",
            id="random-state-shape",
        ),
        pytest.param(
            top("random_states", [array([1, 2], "float64")] * 2),
            "random_states",
            id="random-state-dtype",
        ),
        pytest.param(param("evil", 1), "no parameter 'evil'", id="unknown-param"),
        pytest.param(param("n_components", -1), "n_components", id="n-components-neg"),
        pytest.param(param("epochs", "ten"), "epochs", id="epochs-a-str"),
        pytest.param(param("noise_clip", [1, 0]), "noise_clip", id="noise-clip-order"),
        pytest.param(
            param("optimizer", {"__keras__": {"class_name": "Nope", "config": {}}}),
            "optimizer",
            id="optimizer-unknown-keras-object",
        ),
        pytest.param(keras_relu, "activation", id="keras-object-in-plain-param"),
        pytest.param(
            param("hidden_layer_sizes", array([8], "V9")),
            "hidden_layer_sizes",
            id="param-array-dtype",
        ),
        pytest.param(attribute("n_iter_", "2"), "n_iter_", id="n-iter-a-str"),
        pytest.param(attribute("n_iter_", -1), "n_iter_", id="n-iter-negative"),
        pytest.param(attribute("n_iter_", True), "n_iter_", id="n-iter-a-bool"),
        pytest.param(attribute("loss_curve_", ["a"]), "loss_curve_", id="curve-of-str"),
        pytest.param(attribute("loss_curve_", 0.5), "loss_curve_", id="curve-a-number"),
        pytest.param(attribute("history_", {"loss": "x"}), "history_", id="history"),
        pytest.param(
            attribute("best_validation_score_", "high"),
            "best_validation_score_",
            id="best-score-a-str",
        ),
        pytest.param(attribute("_seed", -5), "_seed", id="seed-negative"),
        pytest.param(
            attribute("_data_min", array([0.0], "float64")),
            "_data_min",
            id="data-min-length",
        ),
        pytest.param(
            attribute("_data_min", array(["0"] * 10, "float64")),
            "_data_min",
            id="data-min-of-str",
        ),
        pytest.param(
            attribute("_data_max", array([0.5] * 10, "V8")),
            "_data_max",
            id="data-max-dtype",
        ),
        pytest.param(
            attribute("_data_max", [0.5] * 10), "_data_max", id="data-max-a-list"
        ),
        pytest.param(
            attribute("feature_names_in_", array(["a"], "object")),
            "feature_names_in_",
            id="feature-names-length",
        ),
        pytest.param(
            attribute("feature_names_in_", array(list(range(10)), "int64")),
            "feature_names_in_",
            id="feature-names-of-int",
        ),
        pytest.param(
            attribute("transform", None), "unknown fitted attribute", id="unknown-attr"
        ),
        pytest.param(
            attribute("kl_loss_curve_", [0.1]), "kl_loss_curve_", id="vae-attr-on-ae"
        ),
        pytest.param(
            drop_attribute("n_features_in_"), "n_features_in_", id="no-n-features-in"
        ),
        pytest.param(drop_attribute("_seed"), "_seed", id="no-seed"),
        pytest.param(wider_input, "its model takes 10", id="n-features-in-vs-model"),
        pytest.param(
            attribute("_n_features_out", 5), "_n_features_out", id="n-features-out"
        ),
        pytest.param(attribute("device_", "tpu:0"), "device_", id="device-unknown"),
        pytest.param(attribute("device_", 0), "device_", id="device-a-number"),
        pytest.param(as_vae, "model", id="vae-class-autoencoder-model"),
    ],
)
def test_tampered_metadata_is_refused(saved, tamper, match):
    rewrite(saved, meta=tamper)
    with pytest.raises(ValueError, match=match) as info:
        skae.load(saved)
    assert str(info.value).startswith(f"{str(saved)!r} is not a valid skae file: ")


def _zip(**members):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name.replace("_", "."), data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(b"\x00garbage" * 10, id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(_zip(notes_txt="hello"), id="zip-without-keras-config"),
        pytest.param(_zip(config_json="{broken"), id="zip-with-broken-config"),
    ],
)
def test_corrupted_model_is_not_a_valid_skae_file(saved, model):
    rewrite(saved, model=model)
    with pytest.raises(ValueError, match="is not a valid skae file") as info:
        skae.load(saved)
    assert str(info.value).startswith(repr(str(saved)))
    assert "File not found" not in str(info.value)


def test_version_warning_points_at_the_caller(saved):
    rewrite(saved, meta=lambda meta: {**meta, "versions": {"skae": "0.0.1"}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skae.load(saved)
    assert [w.filename for w in caught] == [__file__]


def test_array_parameters_round_trip(tmp_path):
    ae = AutoencoderTransformer(hidden_layer_sizes=np.array([8, 4]))
    skae.save(ae, tmp_path / "ae.skae")
    loaded = skae.load(tmp_path / "ae.skae")
    assert isinstance(loaded.hidden_layer_sizes, np.ndarray)
    assert_array_equal(loaded.hidden_layer_sizes, [8, 4])


def test_code_width_survives_a_later_set_params(X, tmp_path):
    # n_components changed after the fit: the fitted model still makes codes
    # of the fitted width, in memory and after loading.
    vae = VariationalAutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), epochs=1, random_state=0
    ).fit(X)
    vae.set_params(n_components=5)
    skae.save(vae, tmp_path / "vae.skae")
    loaded = skae.load(tmp_path / "vae.skae")
    assert_array_equal(loaded.sample(3, random_state=0), vae.sample(3, random_state=0))


@pytest.mark.parametrize("load", ["skae", "pickle"])
def test_changed_settings_are_refused_after_loading(saved, fitted, X, load):
    ae = skae.load(saved) if load == "skae" else pickle.loads(pickle.dumps(fitted))
    ae.set_params(n_components=5)
    with pytest.raises(ValueError, match=r"n_components \(now 5\).*changed"):
        ae.partial_fit(X)
