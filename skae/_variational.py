"""VariationalAutoencoderTransformer: a VAE behind scikit-learn's API.

It is an :class:`~skae.AutoencoderTransformer` whose code is a Gaussian
posterior: the model (built in ``_models.build_autoencoder`` with
``variational=True``) outputs the reconstruction and the per-sample KL
divergence, which are trained with the reconstruction loss and ``beta`` times
the KL, divided by the number of features so that both are per-feature means.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._autoencoder import AutoencoderTransformer
from ._compat import Interval
from ._random import rng_from


class VariationalAutoencoderTransformer(AutoencoderTransformer):
    """A variational autoencoder: codes, reconstructions and new samples.

    The encoder outputs the mean and log-variance of a Gaussian over the code
    (``n_components`` values); training draws a code from it with the
    reparameterization trick, decodes it, and minimizes the reconstruction
    loss plus ``beta`` times ``KL(q(z|x) || N(0, I)) / n_features``. Because
    the codes are pulled towards N(0, I), decoding draws from N(0, I) makes
    new data: :meth:`sample`.

    ``transform`` returns the posterior mean (deterministic), so the
    estimator stands wherever :class:`~sklearn.decomposition.PCA` or
    :class:`~skae.AutoencoderTransformer` do.

    Parameters
    ----------
    n_components : int, default=32
        Dimension of the latent code.
    beta : float, default=1.0
        Weight of the KL term. 1 with ``loss="binary_crossentropy"`` is the
        usual evidence lower bound (per feature) for data in [0, 1]; larger
        values give smoother, more disentangled codes and blurrier
        reconstructions (a beta-VAE), smaller values sharper reconstructions
        and a latent space less like N(0, I). With ``loss="mse"`` the
        reconstruction term is much smaller than the ELBO's, so good values
        of ``beta`` are well below 1 (try 1e-3 to 1e-2 for data in [0, 1]).
    hidden_layer_sizes, architecture, image_shape, filters : \
see AutoencoderTransformer
        As in :class:`~skae.AutoencoderTransformer`.
    encoder : keras.Model, callable or None, default=None
        Your own encoder body: a Keras model (or builder, as in
        :class:`~skae.AutoencoderTransformer`) that maps rows (or images)
        to a flat hidden representation of any width. skae adds the two
        Dense heads that output the code's mean and log-variance.
    decoder : keras.Model, callable or None, default=None
        Your own decoder, as in :class:`~skae.AutoencoderTransformer`.
    init : {"auto", "random"}, default="auto"
        How the model starts: from Keras's Glorot initialization (both
        values). ``"pca"`` is refused: a variational code is a distribution
        that the KL term pulls towards N(0, I), and a PCA projection of the
        data, whose variances are the data's, is not a start that training
        only improves on as it is for
        :class:`~skae.AutoencoderTransformer`.
    activation, output_activation, loss, optimizer, learning_rate, alpha, \
activity_l1, dropout, batch_norm, batch_size, epochs, early_stopping, \
validation_fraction, n_iter_no_change, tol, noise, noise_level, noise_clip, \
callbacks, random_state, checkpoint_dir, on_divergence, precision, device, \
distribution, jit_compile, verbose, warm_start : see AutoencoderTransformer
        As in :class:`~skae.AutoencoderTransformer`. ``activity_l1``
        penalizes the posterior mean. ``early_stopping`` defaults to False
        here (``"auto"`` is accepted), and ``tol`` to 1e-4: the loss adds
        each row's KL divergence to the reconstruction error.

    Attributes
    ----------
    model_ : keras.Model
        The training model: rows in, ``{"reconstruction", "kl"}`` out (the
        reconstruction of a sampled code, and each row's KL divergence in
        nats). In inference it decodes the posterior mean.
    encoder_ : keras.Model
        Maps rows to the posterior mean, shape ``(n, n_components)``.
    posterior_ : keras.Model
        Maps rows to ``[mean, log_var]``, each ``(n, n_components)``.
    decoder_ : keras.Model
        Maps codes to reconstructions ``(n, n_features_in_)``.
    device_ : str
        The Keras device the model lives on (``"cpu"``, ``"gpu:0"``...).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs trained so far.
    loss_curve_ : list of float
        Total training loss at the end of each epoch.
    reconstruction_loss_curve_ : list of float
        The reconstruction part of ``loss_curve_``, per epoch.
    kl_loss_curve_ : list of float
        Mean KL divergence per sample, in nats, per epoch (the total adds
        ``beta * kl / n_features_in_``).
    validation_scores_, best_validation_score_, history_
        As in :class:`~skae.AutoencoderTransformer`; ``history_`` also has
        ``reconstruction_loss`` and ``kl_loss`` (and ``val_`` versions).

    See Also
    --------
    AutoencoderTransformer : The deterministic autoencoder.
    sklearn.decomposition.PCA : Linear dimensionality reduction.

    Notes
    -----
    ``score_samples`` returns, per sample, minus the training objective at the
    posterior mean: ``-(loss(x, decode(mean)) + beta * KL / n_features)``,
    with the training ``loss``; it is deterministic and higher is better.
    (It is not the ELBO, which would average reconstructions over sampled
    codes.) ``score`` is its mean, for ``GridSearchCV``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VariationalAutoencoderTransformer
    >>> X = load_digits().data[:200] / 16
    >>> vae = VariationalAutoencoderTransformer(
    ...     n_components=2, hidden_layer_sizes=(32,), loss="binary_crossentropy",
    ...     epochs=3, random_state=0)
    >>> vae.fit_transform(X).shape
    (200, 2)
    >>> vae.sample(5, random_state=0).shape
    (5, 64)
    """

    _variational = True
    _built_from = (*AutoencoderTransformer._built_from, "beta")

    _parameter_constraints: dict = {
        **AutoencoderTransformer._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=32,
        *,
        beta=1.0,
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
        learning_rate=1e-3,
        alpha=0.0,
        activity_l1=0.0,
        dropout=0.0,
        batch_norm=False,
        batch_size=256,
        epochs=50,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
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
        self.beta = beta

    # -- model -----------------------------------------------------------------

    def _resolved_init(self):
        if self.init == "pca":
            raise ValueError(
                "VariationalAutoencoderTransformer does not take init='pca': "
                "its code is a distribution pulled towards N(0, I), which a "
                "PCA projection of the data is not. Use init='auto' or "
                "'random', or AutoencoderTransformer for a PCA-anchored model."
            )
        return "random"

    def _kl_weight(self):
        return self.beta / self.n_features_in_

    def _compile_args(self):
        from ._layers import output_mean

        return {
            "loss": {"reconstruction": self.loss, "kl": output_mean},
            "loss_weights": {"reconstruction": 1.0, "kl": self._kl_weight()},
        }

    def _targets(self):
        return _vae_targets

    def _exportable(self):
        # The sampler: the decoder, fed draws from N(0, I) as sample() does.
        return {**super()._exportable(), "sampler": self.decoder_}

    def _set_model(self, model):
        import keras

        self.model_ = model
        self.posterior_ = model.get_layer("encoder")
        self.encoder_ = keras.Model(
            self.posterior_.inputs[0], self.posterior_.outputs[0], name="encoder_mean"
        )
        self.decoder_ = model.get_layer("decoder")

    def _record(self, result):
        super()._record(result)
        self.reconstruction_loss_curve_ = self.history_.get("reconstruction_loss", [])
        self.kl_loss_curve_ = self.history_.get("kl_loss", [])

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("posterior_", None)
        return state

    # -- using a fitted model --------------------------------------------------

    def _row_losses(self, x):
        from ._pipeline import predict

        out = predict(self.model_, x)
        reconstruction = np.asarray(out["reconstruction"], dtype=np.float64)
        kl = np.asarray(out["kl"], dtype=np.float64)[:, 0]
        recon_loss = _per_sample_loss(self.loss)(x.astype(np.float64), reconstruction)
        return recon_loss + self._kl_weight() * kl

    def sample(self, n_samples=1, random_state=None):
        """Generate new data: decode codes drawn from the prior N(0, I).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; None draws fresh entropy from the operating
            system (NumPy's global generator is not touched).

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_features_in_`), dtype float32
            Decoded samples.
        """
        check_is_fitted(self)
        if (
            not isinstance(n_samples, Integral)
            or isinstance(n_samples, bool)
            or n_samples < 1
        ):
            raise ValueError(
                f"n_samples must be a positive integer; got {n_samples!r}."
            )
        codes = rng_from(random_state).standard_normal(
            (int(n_samples), self._n_features_out)
        )
        return self.inverse_transform(codes)


def _vae_targets(x):
    """Targets of the VAE's two outputs: the clean rows, and nothing for the KL."""
    return {"reconstruction": x, "kl": np.zeros((len(x), 1), dtype=x.dtype)}


def _per_sample_loss(loss):
    """Return ``f(y_true, y_pred) -> (n_samples,)`` float64 values of ``loss``.

    ``loss`` is a Keras loss name, a ``keras.losses.Loss`` or a function
    ``loss(y_true, y_pred)``; values over several axes are averaged per row.
    """
    import keras

    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if isinstance(fn, keras.losses.Loss):
        fn = fn.call

    def per_sample(y_true, y_pred):
        values = np.asarray(keras.ops.convert_to_numpy(fn(y_true, y_pred)))
        values = values.astype(np.float64).reshape(len(y_true), -1)
        return values.mean(axis=1)

    return per_sample
