"""
==============================================================
Denoising digits: PCA, kernel PCA and a denoising autoencoder
==============================================================

scikit-learn's example *Image denoising using kernel PCA* learns PCA and
kernel PCA bases from noisy images and reconstructs noisy test images with
them. Here the same settings (1,000 training and 100 test images, Gaussian
noise of standard deviation 0.25, ``PCA(32)``,
``KernelPCA(400, kernel="rbf", gamma=1e-3, alpha=5e-3)``) are applied to
scikit-learn's bundled 8x8 digits, and a denoising
:class:`~skae.AutoencoderTransformer` joins them.

The autoencoder is trained differently: it sees clean images, corrupts them
itself with fresh noise at every epoch (``noise="gaussian"``), and learns to
restore the clean image. That needs clean training images, which the PCAs
here never get.
"""

# %%
# Data: clean and noisy splits
# ----------------------------
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, KernelPCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer
from skae.plotting import plot_reconstructions

X, y = load_digits(return_X_y=True)
X = MinMaxScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, stratify=y, random_state=0, train_size=1_000, test_size=100
)
rng = np.random.RandomState(0)
X_test_noisy = X_test + rng.normal(scale=0.25, size=X_test.shape)
X_train_noisy = X_train + rng.normal(scale=0.25, size=X_train.shape)

# %%
# Fit the three denoisers
# -----------------------
pca = PCA(n_components=32, random_state=42).fit(X_train_noisy)
kernel_pca = KernelPCA(
    n_components=400, kernel="rbf", gamma=1e-3, fit_inverse_transform=True,
    alpha=5e-3, random_state=42,
).fit(X_train_noisy)  # fmt: skip
autoencoder = AutoencoderTransformer(
    n_components=32, hidden_layer_sizes=(256, 128), epochs=60, batch_size=32,
    noise="gaussian", noise_level=0.25, random_state=0,
).fit(X_train)  # fmt: skip

# %%
# Reconstruct the noisy test images
# ---------------------------------
reconstructions = {
    name: est.inverse_transform(est.transform(X_test_noisy))
    for name, est in [("PCA", pca), ("kernel PCA", kernel_pca),
                      ("autoencoder", autoencoder)]
}  # fmt: skip
print(f"noisy input      MSE: {np.mean((X_test_noisy - X_test) ** 2):.4f}")
for name, X_hat in reconstructions.items():
    print(f"{name:<16} MSE: {np.mean((X_hat - X_test) ** 2):.4f}")

# %%
# The first ten test digits, noisy and restored by each method.
plot_reconstructions(
    {"clean": X_test, "noisy": X_test_noisy, **reconstructions}, (8, 8),
    titles=[str(label) for label in y_test[:10]],
)  # fmt: skip

# %%
# With equal code widths (32), the autoencoder's nonlinear decoder and its
# training on corrupted inputs remove more of the noise than the linear PCA
# projection; kernel PCA's pre-images at these settings, tuned for 16x16 USPS
# digits, remove less. ``benchmarks/quality.py`` measures the same comparison.

# %%
# Corrupting data as training does
# --------------------------------
# :func:`skae.add_noise` draws the corruption a denoising autoencoder trains
# with (here Gaussian, standard deviation 0.25), seeded: a quick way to test
# it on noise of the kind, and the level, it learned to remove.
from skae import add_noise

X_test_corrupted = add_noise(X_test, "gaussian", 0.25, random_state=0)
restored = autoencoder.inverse_transform(autoencoder.transform(X_test_corrupted))
print(f"add_noise input  MSE: {np.mean((X_test_corrupted - X_test) ** 2):.4f}")
print(f"autoencoder      MSE: {np.mean((restored - X_test) ** 2):.4f}")
