"""
=================================================================
Selecting dimensionality reduction with Pipeline and GridSearchCV
=================================================================

:class:`~skae.AutoencoderTransformer` stands wherever
:class:`~sklearn.decomposition.PCA` does. This example puts both in the
``reduce`` step of one :class:`~sklearn.pipeline.Pipeline` and lets
:class:`~sklearn.model_selection.GridSearchCV` choose between them and the
number of components, judged by the accuracy of the
:class:`~sklearn.linear_model.LogisticRegression` that classifies the reduced
digits.

It follows scikit-learn's `Selecting dimensionality reduction with Pipeline
and GridSearchCV
<https://scikit-learn.org/stable/auto_examples/compose/plot_compare_reduction.html>`_
example, with an autoencoder as one of the candidates.
"""

# %%
# Data and pipeline
# -----------------
# The 8x8 digits, with pixel values divided by 16 so that they lie in [0, 1];
# the pipeline then standardizes them, which suits the autoencoder's default
# ``loss="mse"`` as well as PCA. The autoencoder is small and trains for few
# epochs, with a larger learning rate than the default, so that the nine
# autoencoder fits of the grid search stay quick on a CPU. ``random_state=0``
# makes every fit, and so the whole search, reproducible.

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X = X / 16

pipe = Pipeline(
    [
        ("scaling", StandardScaler()),
        # the reduce step is a placeholder: the grid below fills it in
        ("reduce", "passthrough"),
        ("classify", LogisticRegression(max_iter=1000)),
    ]
)

autoencoder = AutoencoderTransformer(
    hidden_layer_sizes=(64,),
    epochs=10,
    learning_rate=3e-3,
    batch_size=128,
    random_state=0,
)

param_grid = {
    "reduce": [PCA(random_state=0), autoencoder],
    "reduce__n_components": [4, 8, 16],
}
grid = GridSearchCV(pipe, param_grid, cv=3)

# %%
# Search
# ------
# Ten epochs are not enough for the autoencoder's loss to level off, so
# every fit warns with a :class:`~sklearn.exceptions.ConvergenceWarning`; we
# know, and silence it here. Longer training (or ``early_stopping=True``) gives
# better codes at the cost of time.

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    grid.fit(X, y)

results = pd.DataFrame(grid.cv_results_)
results["reducer"] = results["param_reduce"].map(lambda est: type(est).__name__)
table = results.pivot(
    index="param_reduce__n_components", columns="reducer", values="mean_test_score"
)
table.index.name = "n_components"
print(table.round(3))
print(f"\nBest: {grid.best_params_}, accuracy {grid.best_score_:.3f}")

# %%
# Mean test accuracy per reducer and number of components
# -------------------------------------------------------

n_components = table.index.to_numpy()
width = 0.35
x = np.arange(len(n_components))
fig, ax = plt.subplots(figsize=(6, 4))
for offset, reducer in zip((-width / 2, width / 2), table.columns, strict=True):
    ax.bar(x + offset, table[reducer], width, label=reducer)
ax.set_xticks(x, [str(n) for n in n_components])
ax.set_xlabel("n_components")
ax.set_ylabel("Mean test accuracy (3-fold CV)")
ax.set_ylim(0, 1.1)
ax.set_yticks(np.linspace(0, 1, 6))
ax.set_title("Digits: reduce, then LogisticRegression")
ax.legend(loc="upper left", ncols=2)
fig.tight_layout()
plt.show()

# %%
# With as few as 4 or 8 components the small autoencoder, trained for only 10
# epochs, keeps about as much of what separates the digits as the same number
# of principal components; with 16 components PCA is ahead. The autoencoder's
# numbers depend on its training budget (``epochs``, ``hidden_layer_sizes``,
# ``learning_rate``), which this example keeps small to run quickly; PCA has no
# such knob, is closed-form and fits in milliseconds. Any other reducer can
# join the same grid with no change to the rest of the pipeline.
