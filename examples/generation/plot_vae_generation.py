"""
===============================================================
Generating digits with a variational autoencoder
===============================================================

A :class:`~skae.VariationalAutoencoderTransformer` learns a code whose
distribution is pulled towards a standard normal. Decoding draws from that
normal then makes *new* images, which the deterministic autoencoder and PCA
cannot do. This example fits one on scikit-learn's 8x8 digits with a
two-dimensional code, then

- looks at the training loss split into its reconstruction and KL parts,
- plots the codes (posterior means) of the digits,
- decodes random draws from the prior with ``sample``,
- and walks across the latent plane (a *latent traversal*).
"""

# %%
# Fit
# ---
# Pixels scaled to [0, 1] go with the binary cross-entropy loss, for which
# ``beta=1`` is the usual evidence lower bound.
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from skae import VariationalAutoencoderTransformer
from skae.plotting import plot_latent

X, y = load_digits(return_X_y=True)
X = MinMaxScaler().fit_transform(X)

vae = VariationalAutoencoderTransformer(
    n_components=2,
    hidden_layer_sizes=(128, 64),
    loss="binary_crossentropy",
    epochs=80,
    batch_size=128,
    learning_rate=3e-3,
    random_state=0,
).fit(X)

fig, (ax_rec, ax_kl) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
ax_rec.plot(vae.reconstruction_loss_curve_)
ax_rec.set(title="reconstruction (binary cross-entropy)", xlabel="epoch")
ax_kl.plot(vae.kl_loss_curve_, color="C1")
ax_kl.set(title="KL(q(z|x) || N(0, I)), nats per image", xlabel="epoch")

# %%
# The codes
# ---------
# ``transform`` returns the posterior mean: the classes separate in the plane
# and the cloud stays near the origin, at the scale of N(0, I).
plot_latent(vae.transform(X), y)

# %%
# New digits from the prior
# -------------------------
# ``sample(n)`` draws ``n`` codes from N(0, I) and decodes them.
samples = vae.sample(40, random_state=0)
fig, axes = plt.subplots(4, 10, figsize=(8, 3.4))
for ax, image in zip(axes.ravel(), samples, strict=True):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
fig.suptitle("decoded draws from N(0, I)")

# %%
# A latent traversal
# ------------------
# Decoding a grid of codes at the quantiles of the normal shows how the
# digits morph into each other along the two axes of the code.
n = 12
grid = norm.ppf(np.linspace(0.04, 0.96, n))
codes = np.array([[z1, z2] for z2 in grid[::-1] for z1 in grid])
images = vae.inverse_transform(codes).reshape(n, n, 8, 8)
images = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))  # a blank frame each
canvas = images.transpose(0, 2, 1, 3).reshape(n * 10, n * 10)
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest",
          extent=(grid[0], grid[-1], grid[0], grid[-1]))  # fmt: skip
ax.set(xlabel="code 1", ylabel="code 2", title="decoded latent plane")
plt.show()
