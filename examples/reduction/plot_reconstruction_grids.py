"""
==============================================================
Reconstruction grids, loss curves and a 2-D code of the digits
==============================================================

The pictures of the TensorFlow autoencoder tutorials, drawn with
:mod:`skae.plotting` from a fitted :class:`~skae.AutoencoderTransformer`:
original images above their reconstructions at several code widths, next to
PCA's; the training and validation loss per epoch; and the digits in a
two-dimensional code, coloured by their label.
"""

# %%
import numpy as np
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer
from skae.datasets import load_digits
from skae.plotting import plot_latent, plot_loss_curves, plot_reconstructions

X, y = load_digits()
X_train, X_test, y_test = X[:1500], X[1500:], y[1500:]

# %%
# Reconstructions at 4 and 16 components
# --------------------------------------
rows = {"original": X_test}
for k in (4, 16):
    pca = PCA(n_components=k).fit(X_train)
    ae = AutoencoderTransformer(
        n_components=k, hidden_layer_sizes=(128, 64), epochs=30, batch_size=64,
        loss="binary_crossentropy",
        early_stopping=True,
        n_iter_no_change=5, random_state=0,
    ).fit(X_train)  # fmt: skip
    rows[f"PCA {k}"] = pca.inverse_transform(pca.transform(X_test))
    rows[f"autoencoder {k}"] = ae.inverse_transform(ae.transform(X_test))
    mse_pca = np.mean((rows[f"PCA {k}"] - X_test) ** 2)
    mse_ae = np.mean((rows[f"autoencoder {k}"] - X_test) ** 2)
    print(f"{k:>2} components: PCA MSE {mse_pca:.4f}, autoencoder MSE {mse_ae:.4f}")
plot_reconstructions(rows, (8, 8), n_images=12)

# %%
# Loss curves
# -----------
# With ``early_stopping=True`` a validation share is held out; training stops
# when the validation loss has not improved for ``n_iter_no_change`` epochs, or
# after ``epochs``, and the estimator keeps the state with the best validation
# loss. ``history_`` keeps both curves.
ae2 = AutoencoderTransformer(
    n_components=2, hidden_layer_sizes=(128, 64), epochs=50, batch_size=64,
    early_stopping=True, n_iter_no_change=5, random_state=0,
).fit(X_train)  # fmt: skip
stopped = "stopped early" if ae2.n_iter_ < ae2.epochs else "ran all its epochs"
print(f"{ae2.n_iter_} epochs of at most {ae2.epochs}: {stopped}")
plot_loss_curves(ae2)

# %%
# A two-dimensional code
# ----------------------
plot_latent(ae2.transform(X_test), y_test)
