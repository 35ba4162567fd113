"""
===========================================
Saving and loading a fitted autoencoder
===========================================

A fitted :class:`~skae.AutoencoderTransformer` pickles like any scikit-learn
estimator: its Keras model is stored as its configuration and weights (and the
optimizer's state, so training can resume). This example saves a fitted
autoencoder and a whole fitted :class:`~sklearn.pipeline.Pipeline` with
:func:`joblib.dump`, loads them back with :func:`joblib.load`, and checks that
the loaded copies give exactly the same outputs; then does the same with
:func:`skae.save` and :func:`skae.load`, skae's own format.

.. warning::

    Loading a pickle (``joblib.load``, ``pickle.load``) can run arbitrary code.
    Only load files that you created yourself or that come from a source you
    trust. :func:`skae.load` runs no code from the file.
"""

# %%
# Fit an autoencoder
# ------------------
# Digits with pixel values divided by 16, so that they lie in [0, 1]. With
# ``loss="binary_crossentropy"`` the reconstruction layer uses a sigmoid
# (``output_activation="auto"``), so reconstructions also lie in [0, 1].

import tempfile
import warnings
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import skae
from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

autoencoder = AutoencoderTransformer(
    n_components=16,
    hidden_layer_sizes=(64,),
    loss="binary_crossentropy",
    epochs=30,
    batch_size=64,
    random_state=0,
)
with warnings.catch_warnings():
    # 30 epochs are a short run on purpose; the loss is still going down.
    warnings.simplefilter("ignore", ConvergenceWarning)
    autoencoder.fit(X_train)

# %%
# Save and load the estimator
# ---------------------------

tmpdir = tempfile.TemporaryDirectory()
path = Path(tmpdir.name) / "autoencoder.joblib"
joblib.dump(autoencoder, path)
loaded = joblib.load(path)

codes = autoencoder.transform(X_test)
print("Same codes after loading:", np.array_equal(codes, loaded.transform(X_test)))
same = np.array_equal(
    autoencoder.inverse_transform(codes), loaded.inverse_transform(codes)
)
print("Same reconstructions:", same)
print(f"Loaded model's score (minus mean squared error): {loaded.score(X_test):.4f}")

# %%
# skae's own format: a file that runs no code when loaded
# --------------------------------------------------------
# :func:`skae.save` writes the parameters and fitted attributes as JSON and the
# Keras model in Keras's format; :func:`skae.load` reads them back without
# unpickling anything, so it is the format to share models in.

skae_path = Path(tmpdir.name) / "autoencoder.skae"
skae.save(autoencoder, skae_path)
from_skae = skae.load(skae_path)
print("Same codes from skae.load:", np.array_equal(codes, from_skae.transform(X_test)))

# %%
# Save and load a whole pipeline
# ------------------------------
# The same goes for a fitted pipeline that contains the autoencoder.

pipe = make_pipeline(
    AutoencoderTransformer(
        n_components=16,
        hidden_layer_sizes=(64,),
        epochs=30,
        batch_size=64,
        random_state=0,
    ),
    LogisticRegression(max_iter=1000),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    pipe.fit(X_train, y_train)

pipe_path = Path(tmpdir.name) / "pipeline.joblib"
joblib.dump(pipe, pipe_path)
loaded_pipe = joblib.load(pipe_path)

print(
    "Same pipeline codes:",
    np.array_equal(pipe[:-1].transform(X_test), loaded_pipe[:-1].transform(X_test)),
)
print(
    "Same predictions:",
    np.array_equal(pipe.predict(X_test), loaded_pipe.predict(X_test)),
)
print(f"Test accuracy of the loaded pipeline: {loaded_pipe.score(X_test, y_test):.3f}")
tmpdir.cleanup()

# %%
# Originals and reconstructions by the loaded model
# -------------------------------------------------
# Top row: test digits. Bottom row: what the loaded autoencoder rebuilds from
# their 16 code values.

n = 8
reconstructions = loaded.inverse_transform(loaded.transform(X_test[:n]))
fig, axes = plt.subplots(2, n, figsize=(n, 2.4))
for i in range(n):
    for row, images in enumerate((X_test, reconstructions)):
        ax = axes[row, i]
        ax.imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_ylabel("original")
axes[1, 0].set_ylabel("loaded\nmodel")
fig.tight_layout()
plt.show()
