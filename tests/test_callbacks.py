import pickle
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.callbacks import TensorBoardImages

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorBoardImages needs the TensorFlow backend",
)


@pytest.fixture
def X16():
    return np.random.default_rng(0).uniform(size=(64, 16)).astype(np.float32)


def fit_with(X, callback, **params):
    defaults = dict(
        n_components=2, hidden_layer_sizes=(8,), epochs=2, batch_size=32,
        random_state=0,
    )  # fmt: skip
    ae = AutoencoderTransformer(**{**defaults, **params, "callbacks": [callback]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ae.fit(X)


def read_events(log_dir):
    """Return {tag: {step: (plugin name, value)}} from every event file."""
    records = {}
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for raw in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                steps = records.setdefault(value.tag, {})
                steps[event.step] = (plugin, tf.make_ndarray(value.tensor))
    return records


def decode_images(record):
    """Decode an image summary: (width, height, png, png, ...) -> uint8 array."""
    width, height, *pngs = record
    images = np.stack([tf.io.decode_png(png).numpy() for png in pngs])
    assert images.shape[1:3] == (int(height), int(width))
    return images


def to_pixels(rows, low, high, shape):
    scaled = np.clip((np.asarray(rows, dtype=float) - low) / (high - low), 0, 1)
    return np.round(scaled * 255).astype(np.uint8).reshape(-1, *shape)


def test_writes_loss_originals_and_reconstructions_every_epoch(X16, tmp_path):
    ae = fit_with(X16, TensorBoardImages(tmp_path, X16[:4], (4, 4)))
    events = read_events(tmp_path)

    assert set(events) == {"loss", "originals", "reconstructions"}
    for tag in events:
        assert sorted(events[tag]) == [0, 1]
    assert {plugin for plugin, _ in events["loss"].values()} == {"scalars"}
    assert {plugin for plugin, _ in events["originals"].values()} == {"images"}
    assert_allclose(
        [events["loss"][step][1] for step in (0, 1)], ae.history_["loss"], rtol=1e-6
    )

    x = X16[:4]
    low, high = x.min(), x.max()
    for step in (0, 1):
        originals = decode_images(events["originals"][step][1])
        assert_array_equal(originals, to_pixels(x, low, high, (4, 4, 1)))
    # The last epoch's reconstructions are the fitted model's.
    reconstructions = decode_images(events["reconstructions"][1][1])
    expected = to_pixels(ae.inverse_transform(ae.transform(x)), low, high, (4, 4, 1))
    assert reconstructions.shape == (4, 4, 4, 1)
    assert np.abs(reconstructions.astype(int) - expected).max() <= 1
    assert not np.array_equal(reconstructions, originals)

    # Copies (clone) and pickles leave the trained model and the writer behind.
    callback = ae.callbacks[0]
    assert callback.model is ae.model_
    for copy in (clone(ae).callbacks[0], pickle.loads(pickle.dumps(callback))):
        assert copy.model is None
        assert_array_equal(copy.images, x)
        assert copy.image_shape == (4, 4)


def test_val_loss_and_every_n_epochs(X16, tmp_path):
    callback = TensorBoardImages(tmp_path, X16, (4, 4), n_images=3, every_n_epochs=2)
    ae = fit_with(X16, callback, early_stopping=True, hidden_layer_sizes=())
    events = read_events(tmp_path)

    assert set(events) == {"loss", "val_loss", "originals", "reconstructions"}
    for tag in events:
        assert sorted(events[tag]) == [1]
    assert_allclose(events["val_loss"][1][1], ae.history_["val_loss"][1], rtol=1e-6)
    assert decode_images(events["originals"][1][1]).shape == (3, 4, 4, 1)


def tiny_model(n_features):
    inputs = keras.Input((n_features,))
    return keras.Model(inputs, keras.layers.Dense(n_features)(inputs))


def train_on(callback, model, epochs):
    """Call the hooks the way one ``Model.fit`` call does, without training."""
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    callback.on_train_end()


def test_steps_continue_on_the_same_model_and_restart_on_a_new_one(tmp_path):
    callback = TensorBoardImages(tmp_path / "a", np.zeros((2, 4)), (2, 2))
    model = tiny_model(4)
    # Two partial_fit calls on one model: each is a fit whose epochs count from 0.
    train_on(callback, model, epochs=1)
    train_on(callback, model, epochs=2)
    assert sorted(read_events(tmp_path / "a")["loss"]) == [0, 1, 2]

    callback.log_dir = tmp_path / "b"
    train_on(callback, tiny_model(4), epochs=1)
    assert sorted(read_events(tmp_path / "b")["loss"]) == [0]


def test_every_n_epochs_counts_over_calls(tmp_path):
    callback = TensorBoardImages(tmp_path, np.zeros((2, 4)), (2, 2), every_n_epochs=2)
    model = tiny_model(4)
    train_on(callback, model, epochs=3)
    train_on(callback, model, epochs=3)
    events = read_events(tmp_path)
    for tag in ("loss", "originals", "reconstructions"):
        assert sorted(events[tag]) == [1, 3, 5]
    # The logged value of the epoch, not of another one.
    assert_allclose(events["loss"][3][1], 1.0)


def test_images_must_match_the_model(tmp_path):
    callback = TensorBoardImages(tmp_path, np.zeros((2, 9)), (3, 3))
    callback.set_model(tiny_model(4))
    with pytest.raises(ValueError, match="9 features per sample, but the model"):
        callback.on_train_begin()


def test_other_backends_are_refused(monkeypatch, tmp_path):
    callback = TensorBoardImages(tmp_path, np.zeros((2, 4)), (2, 2))
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match="TensorFlow backend.*'jax'"):
        callback.on_train_begin()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "images, image_shape, params, match",
    [
        (np.zeros((2, 4)), (2, 3), {}, "asks for 6"),
        (np.zeros((2, 2, 2)), (2, 2), {}, "2-D array"),
        (np.zeros((0, 4)), (2, 2), {}, "non-empty"),
        (np.zeros((2, 8)), (2, 2, 2), {}, "1, 3 or 4 channels"),
        (np.zeros((2, 4)), (4,), {}, "image_shape"),
        (np.zeros((2, 4)), (2, 2), {"n_images": 0}, "n_images"),
        (np.zeros((2, 4)), (2, 2), {"every_n_epochs": 1.5}, "every_n_epochs"),
    ],
)
def test_invalid_parameters(images, image_shape, params, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        TensorBoardImages(tmp_path, images, image_shape, **params)
