"""AutoencoderOutlierDetector: scikit-learn's outlier-detector API on skae.

The detector is an :class:`~skae.AutoencoderTransformer` (same parameters,
same training, ``transform`` still gives codes) whose ``score_samples`` is an
outlier score: how badly a row is reconstructed, per feature relative to the
training data, plus how far its code lies from the training codes. Only the
scoring and the threshold live here; the model, training and persistence
are the transformer's.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import OutlierMixin
from sklearn.utils.validation import check_is_fitted

from ._autoencoder import AutoencoderTransformer
from ._compat import Interval, StrOptions

#: ``n_components=None``: one code value per this many features, at most
#: ``MAX_AUTO_COMPONENTS`` (see the parameter).
FEATURES_PER_COMPONENT, MAX_AUTO_COMPONENTS = 10, 32

#: Smallest per-feature error scale, as a share of the mean over features.
ERROR_SCALE_FLOOR = 1e-3

#: ``contamination="auto"``: robust standard deviations (1.4826 MAD) of the
#: training scores below their median from which a row is an outlier.
AUTO_THRESHOLD_MADS = 3.0


class AutoencoderOutlierDetector(OutlierMixin, AutoencoderTransformer):
    """Unsupervised outlier detection with a PCA-anchored autoencoder.

    The autoencoder learns to rebuild the training data through a narrow
    code. A row is scored by two things the model learned about the bulk of
    the data (both measured relative to the training rows, so that neither
    dominates and no feature's scale does):

    - its reconstruction error, each feature's squared error divided by that
      feature's mean squared error on the training rows (a row that breaks
      the pattern the features follow);
    - the Mahalanobis distance of its code from the training codes (a row
      that follows the pattern, but lies far out along it).

    ``score_samples`` is minus the mean of the two, each divided by its
    median over the training rows: about -1 for a typical row, lower for
    outliers. The API is scikit-learn's outlier detectors' (as
    :class:`~sklearn.ensemble.IsolationForest`): ``fit`` on unlabeled data
    (outliers included), ``predict`` gives +1 for inliers and -1 for
    outliers, ``decision_function`` is ``score_samples - offset_``, negative
    for outliers. :meth:`reconstruction_error` with ``per_feature=True``
    says which features make a row an outlier
    (:func:`skae.plotting.plot_outlier_features` draws it).

    Scale the data first (:class:`~sklearn.preprocessing.StandardScaler` in
    a :class:`~sklearn.pipeline.Pipeline`).

    Parameters
    ----------
    n_components : int or None, default=None
        Width of the code. None: one value per 10 features, at least 1 and
        at most 32 (measured on the six ODDS tables of
        ``benchmarks/outliers.py``: a code of a tenth of the features
        separated outliers better than a quarter or a half, whose wider
        codes rebuild outliers too well).
    contamination : "auto" or float in (0, 0.5], default="auto"
        The share of outliers expected in the training data: ``offset_`` is
        then that quantile of the training scores. ``"auto"``: a row is an
        outlier when its score is more than 3 robust standard deviations
        (1.4826 times the median absolute deviation) below the training
        scores' median.
    hidden_layer_sizes, architecture, image_shape, filters, encoder, decoder, \
init, activation, output_activation, loss, optimizer, learning_rate, alpha, \
activity_l1, dropout, batch_norm, batch_size, epochs, early_stopping, \
validation_fraction, n_iter_no_change, tol, noise, noise_level, noise_clip, \
callbacks, random_state, checkpoint_dir, on_divergence, precision, device, \
distribution, jit_compile, verbose, warm_start : see AutoencoderTransformer
        As in :class:`~skae.AutoencoderTransformer`. The statistics of the
        scores are computed on the data of the last ``fit`` (or
        ``partial_fit``) call.

    Attributes
    ----------
    offset_ : float
        The threshold: ``decision_function = score_samples - offset_``.
    error_scale_ : ndarray of shape (`n_features_in_`,)
        Each feature's mean squared reconstruction error on the training
        rows, at least 1e-3 times their mean over the features (a feature
        that is rebuilt perfectly, such as an image's blank border, would
        otherwise weigh without bound).
    code_mean_ : ndarray of shape (n_components,)
        Mean of the training codes.
    code_precision_ : ndarray of shape (n_components, n_components)
        Pseudo-inverse of the covariance of the training codes.
    score_scales_ : ndarray of shape (2,)
        Medians of the normalized reconstruction error and of the squared
        code distance over the training rows.
    model_, encoder_, decoder_, device_, n_features_in_, feature_names_in_, \
n_iter_, loss_curve_, validation_scores_, best_validation_score_, history_
        As in :class:`~skae.AutoencoderTransformer`.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Outlier detection by random splits.
    sklearn.neighbors.LocalOutlierFactor : Outlier detection by local density.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderOutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    >>> X[:5] += 8 * rng.normal(size=(5, 6))          # five outliers
    >>> det = AutoencoderOutlierDetector(epochs=20, random_state=0).fit(X)
    >>> det.predict(X[:5])
    array([-1, -1, -1, -1, -1])
    >>> det.reconstruction_error(X[:1], per_feature=True).shape
    (1, 6)
    """

    _parameter_constraints: dict = {
        **AutoencoderTransformer._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
    }

    def __init__(
        self,
        n_components=None,
        *,
        contamination="auto",
        hidden_layer_sizes=(256, 128),
        architecture="dense",
        image_shape=None,
        filters=(32, 64),
        encoder=None,
        decoder=None,
        init="auto",
        activation="relu",
        output_activation="auto",
        loss="mse",
        optimizer="adam",
        learning_rate=0.001,
        alpha=0.0,
        activity_l1=0.0,
        dropout=0.0,
        batch_norm=False,
        batch_size=256,
        epochs="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-5,
        noise=None,
        noise_level=0.1,
        noise_clip=None,
        callbacks=None,
        random_state=None,
        checkpoint_dir=None,
        on_divergence="raise",
        precision="float32",
        device="auto",
        distribution=None,
        jit_compile="auto",
        verbose=0,
        warm_start=False,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            architecture=architecture,
            image_shape=image_shape,
            filters=filters,
            encoder=encoder,
            decoder=decoder,
            init=init,
            activation=activation,
            output_activation=output_activation,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            alpha=alpha,
            activity_l1=activity_l1,
            dropout=dropout,
            batch_norm=batch_norm,
            batch_size=batch_size,
            epochs=epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            noise=noise,
            noise_level=noise_level,
            noise_clip=noise_clip,
            callbacks=callbacks,
            random_state=random_state,
            checkpoint_dir=checkpoint_dir,
            on_divergence=on_divergence,
            precision=precision,
            device=device,
            distribution=distribution,
            jit_compile=jit_compile,
            verbose=verbose,
            warm_start=warm_start,
        )
        self.contamination = contamination

    def _code_width(self):
        if self.n_components is not None:
            return int(self.n_components)
        auto = self.n_features_in_ // FEATURES_PER_COMPONENT
        return int(min(max(1, auto), MAX_AUTO_COMPONENTS))

    def _fit(self, X, sample_weight, incremental):
        super()._fit(X, sample_weight, incremental)
        self._fit_scores(X)
        return self

    def _fit_scores(self, X):
        """Record the training statistics the scores are relative to."""
        errors = self.reconstruction_error(X, per_feature=True)
        scale = errors.mean(axis=0)
        # A feature rebuilt (almost) perfectly on the training rows, such as
        # an image's always-blank border, must not divide by ~0.
        floor = ERROR_SCALE_FLOOR * float(np.mean(scale))
        self.error_scale_ = np.maximum(scale, max(floor, np.finfo(np.float64).tiny))
        codes = self.transform(X).astype(np.float64)
        self.code_mean_ = codes.mean(axis=0)
        covariance = np.atleast_2d(np.cov(codes, rowvar=False))
        if len(codes) < 2:
            covariance = np.zeros((codes.shape[1], codes.shape[1]))
        self.code_precision_ = np.linalg.pinv(covariance, hermitian=True)
        parts = self._score_parts(X, errors, codes)
        self.score_scales_ = np.maximum(np.median(parts, axis=0), 1e-12)
        scores = -np.mean(parts / self.score_scales_, axis=1)
        if self.contamination == "auto":
            median = np.median(scores)
            mad = 1.4826 * np.median(np.abs(scores - median))
            self.offset_ = float(median - AUTO_THRESHOLD_MADS * mad)
        else:
            self.offset_ = float(np.percentile(scores, 100 * self.contamination))

    def _score_parts(self, X, errors=None, codes=None):
        """Per row: the normalized reconstruction error and the code distance."""
        if errors is None:
            errors = self.reconstruction_error(X, per_feature=True)
        if codes is None:
            codes = self.transform(X).astype(np.float64)
        error = np.mean(errors / self.error_scale_, axis=1)
        centred = codes - self.code_mean_
        distance = np.einsum("ij,jk,ik->i", centred, self.code_precision_, centred)
        return np.column_stack([error, np.maximum(distance, 0)])

    def score_samples(self, X):
        """Outlier score of each row: higher is more normal.

        Minus the mean of the row's normalized reconstruction error and its
        squared code distance, each divided by its median over the training
        rows (about -1 for a typical row).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data, scaled like the training data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The opposite of the outlier score: the lower, the more abnormal.
        """
        check_is_fitted(self)
        return -np.mean(self._score_parts(X) / self.score_scales_, axis=1)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data, scaled like the training data.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            Negative for outliers, positive for inliers.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Whether each row is an inlier (+1) or an outlier (-1).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data, scaled like the training data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 for inliers, -1 for outliers.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def score(self, X, y=None, sample_weight=None):
        """Weighted mean of :meth:`score_samples` (higher: more normal data).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean.

        Returns
        -------
        score : float
            The weighted mean score: higher for data more like the training
            data.
        """
        return float(np.average(self.score_samples(X), weights=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "outlier_detector"
        return tags
