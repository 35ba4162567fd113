"""
===========================================================
Outlier detection, and which features make a row an outlier
===========================================================

:class:`~skae.AutoencoderOutlierDetector` has the API of scikit-learn's
outlier detectors: ``fit`` on unlabeled data, ``predict`` gives +1 for
inliers and -1 for outliers, ``score_samples`` is lower for more abnormal
rows. Its score combines each row's reconstruction error, feature by
feature, with the distance of its code from the training codes. Unlike a
forest or a neighbour count, it can also say *which* features make a row
abnormal: ``reconstruction_error(X, per_feature=True)``.

The data: scikit-learn's breast cancer table, the 357 benign tumours as
inliers and 20 malignant ones (5 %) as outliers, all fitted together with
the labels unseen, as in the unsupervised protocol of the outlier-detection
benchmarks.
"""

# %%
# Data and detectors
# ------------------

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderOutlierDetector
from skae.plotting import plot_outlier_features

data = load_breast_cancer()
benign = np.flatnonzero(data.target == 1)
malignant = np.random.default_rng(0).choice(np.flatnonzero(data.target == 0), 20, False)
rows = np.concatenate([benign, malignant])
X, is_outlier = data.data[rows], np.r_[np.zeros(len(benign)), np.ones(20)]

detector = make_pipeline(StandardScaler(), AutoencoderOutlierDetector(random_state=0))
forest = make_pipeline(StandardScaler(), IsolationForest(random_state=0))

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    labels = detector.fit_predict(X)
forest.fit(X)

for name, model in (("autoencoder", detector), ("IsolationForest", forest)):
    auc = roc_auc_score(is_outlier, -model.score_samples(X))
    print(f"{name}: ROC-AUC {auc:.3f}")
print(
    f"predicted outliers: {(labels == -1).sum()}, of which malignant: "
    f"{int(is_outlier[labels == -1].sum())}"
)

# %%
# Scores
# ------
# ``score_samples`` is about -1 for a typical training row; the threshold
# ``offset_`` (``contamination="auto"``) sits three robust standard
# deviations below the median score. Here it flags 51 rows, 15 of them
# malignant: real scores have a heavier tail than that rule assumes. When
# the share of outliers is known, ``contamination=0.05`` sets the threshold
# at that quantile of the training scores instead.

scores = detector.score_samples(X)
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(scores.min(), scores.max(), 40)
ax.hist(scores[is_outlier == 0], bins, alpha=0.7, label="benign (inliers)")
ax.hist(scores[is_outlier == 1], bins, alpha=0.7, label="malignant (outliers)")
ax.axvline(detector[-1].offset_, color="k", linestyle="--", label="offset_")
ax.set_xlabel("score_samples (lower = more abnormal)")
ax.set_ylabel("rows")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Which features?
# ---------------
# The per-feature reconstruction errors of the five most abnormal rows, each
# divided by its feature's mean error on the training rows; the cells show
# the standardized values.

X_scaled = detector[0].transform(X)
fig = plot_outlier_features(
    detector[-1], X_scaled, n_rows=5, n_features=8, feature_names=data.feature_names
)
plt.show()
