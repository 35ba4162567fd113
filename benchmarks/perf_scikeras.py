"""Section 2: skae against scikeras's autoencoder recipe.

scikeras's recipe (a ``BaseWrapper`` subclass that builds its own model)
against skae at 784-32-784 and 784-256-128-32: fit time and test MSE over
several seeds, the two libraries' fits interleaved. Runs last: a seeded
scikeras fit can leave TensorFlow's op determinism on.

Bars, per architecture: the median paired fit-time ratio skae / scikeras is
<= :data:`TIME_MARGIN`; skae's mean test MSE is at most scikeras's plus one
standard error of the difference.
"""

import os
import warnings

import common
import numpy as np

#: Each setting in the full run and with ``--quick``.
SETTINGS = {"rows": (30_000, 512), "epochs": (5, 1), "seeds": ((0, 1, 2, 3, 4), (0,))}

#: The noise margin on the fit-time ratio, the tolerance of bar 1: single fits
#: of one seed gave 0.78x and 1.08x for the same code in two earlier runs.
TIME_MARGIN = 1.05
LIBRARIES = ("skae", "scikeras")
ARCHITECTURES = {"784-32-784": (), "784-256-128-32": common.HIDDEN}


def autoencoder_class():
    """scikeras's autoencoder recipe: a BaseWrapper that builds its own model.

    ``_keras_build_fn`` receives the routed constructor parameters and ``meta``
    (``n_features_in_``), builds an encoder and a decoder model, keeps the
    encoder for ``transform`` and returns the autoencoder for scikeras to
    compile and train on ``(X, X)``.
    """
    import keras
    from scikeras.wrappers import BaseWrapper
    from sklearn.base import TransformerMixin
    from sklearn.utils.validation import check_is_fitted

    class ScikerasAutoencoder(TransformerMixin, BaseWrapper):
        def _keras_build_fn(self, n_components, hidden_layer_sizes, meta):
            n_features = meta["n_features_in_"]
            x = enc_in = keras.Input((n_features,))
            for units in hidden_layer_sizes:
                x = keras.layers.Dense(units, activation="relu")(x)
            encoder = keras.Model(enc_in, keras.layers.Dense(n_components)(x))
            x = dec_in = keras.Input((n_components,))
            for units in hidden_layer_sizes[::-1]:
                x = keras.layers.Dense(units, activation="relu")(x)
            decoder = keras.Model(dec_in, keras.layers.Dense(n_features)(x))
            self.encoder_ = encoder
            inputs = keras.Input((n_features,))
            return keras.Model(inputs, decoder(encoder(inputs)))

        def fit(self, X, y=None, sample_weight=None, **kwargs):
            return super().fit(X, X, sample_weight=sample_weight, **kwargs)

        def transform(self, X):
            check_is_fitted(self)
            X = self.feature_encoder_.transform(np.asarray(X, dtype=np.float32))
            return self.encoder_.predict(X, verbose=0, batch_size=4096)

        def reconstruct(self, X):
            return self.predict(np.asarray(X, dtype=np.float32), batch_size=4096)

    return ScikerasAutoencoder


def op_determinism_enabled():
    from tensorflow.python.framework import config  # private; as scikeras does

    return bool(config.is_op_determinism_enabled())


def library_fit(library, data, test, rows, hidden, epochs, seed=0):
    """Fit time and test MSE of skae or the scikeras recipe, seeded."""
    X, X_test = common.load_rows(data, rows), common.load_rows(test)
    before = op_determinism_enabled()
    load = os.getloadavg()[0]
    params = dict(n_components=common.N_COMPONENTS, hidden_layer_sizes=tuple(hidden),
                  batch_size=256, epochs=epochs, random_state=seed)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if library == "skae":
            from skae import AutoencoderTransformer

            est = AutoencoderTransformer(**params)
        else:
            est = autoencoder_class()(
                loss="mse", optimizer="adam", optimizer__learning_rate=1e-3,
                shuffle=True, verbose=0, **params,
            )  # fmt: skip
        fit_s, _ = common.timed(lambda: est.fit(X))
        if library == "skae":
            recon = est.inverse_transform(est.transform(X_test))
        else:
            recon = est.reconstruct(X_test)
        assert est.transform(X_test[:10]).shape == (10, common.N_COMPONENTS)
    return {
        "fit_s": fit_s,
        "test_mse": common.mse(recon, X_test),
        "loadavg_1min_at_start": load,
        "op_determinism_before": before,
        "op_determinism_after": op_determinism_enabled(),
    }


def fit_order(s):
    """``(seed, architecture, library)`` of every fit, in the order they run.

    In fresh processes each seed and architecture is a back-to-back pair of
    fits, skae first at even seed positions and scikeras first at odd ones, so
    the machine's load drifts hit both libraries alike. In one process
    (``--quick``) every skae fit comes first: a seeded scikeras fit may leave
    TensorFlow's op determinism on, which must not reach skae.
    """
    seeds, libs, archs = s["seeds"], LIBRARIES, ARCHITECTURES
    if not s["fresh"]:
        return [(seed, a, lib) for lib in libs for seed in seeds for a in archs]
    return [
        (seed, a, lib)
        for i, seed in enumerate(seeds)
        for a in archs
        for lib in (libs if i % 2 == 0 else libs[::-1])
    ]


def summary(name, fits, seeds):
    """One architecture's fits over the seeds, and its two bars.

    No slower: the median over seeds of skae's fit time over scikeras's in the
    same back-to-back pair is at most ``TIME_MARGIN``. MSE no worse: skae's
    mean test MSE exceeds scikeras's by at most one standard error of the
    difference of the means (Welch: ``sqrt(sd_a**2/n + sd_b**2/n)``; 0 for one
    seed, which makes it a strict comparison). The seeds are not paired across
    libraries: the same integer starts different random streams in each.
    """
    a = [fits[seed, name, "skae"] for seed in seeds]
    b = [fits[seed, name, "scikeras"] for seed in seeds]
    t_a, t_b = [f["fit_s"] for f in a], [f["fit_s"] for f in b]
    m_a, m_b = [f["test_mse"] for f in a], [f["test_mse"] for f in b]
    ratios = [x / y for x, y in zip(t_a, t_b, strict=True)]
    (mean_a, sd_a), (mean_b, sd_b) = common.mean_std(m_a), common.mean_std(m_b)
    n = len(seeds)
    se = ((sd_a**2 + sd_b**2) / n) ** 0.5 if n > 1 else 0.0
    diff = mean_a - mean_b
    return {
        "architecture": name,
        "seeds": list(seeds),
        "skae_fit_s": t_a,
        "scikeras_fit_s": t_b,
        "fit_time_ratios_skae_to_scikeras": ratios,
        "skae_fit_s_median": common.median(t_a),
        "scikeras_fit_s_median": common.median(t_b),
        "fit_time_ratio_of_medians": common.median(t_a) / common.median(t_b),
        "fit_time_ratio_median_paired": common.median(ratios),
        "skae_test_mse": m_a,
        "scikeras_test_mse": m_b,
        "skae_mse_mean": mean_a,
        "skae_mse_std": sd_a,
        "scikeras_mse_mean": mean_b,
        "scikeras_mse_std": sd_b,
        "mse_diff_skae_minus_scikeras": diff,
        "mse_diff_standard_error": se,
        "time_bar_met": bool(common.median(ratios) <= TIME_MARGIN),
        "mse_bar_met": bool(diff <= se),
    }


def measure(s):
    try:
        import scikeras

        autoencoder_class()
    except ModuleNotFoundError:
        common.log("  scikeras is not installed: comparison skipped")
        return {"skipped": "scikeras is not installed (pip install -e '.[bench]')."}
    except Exception as exc:  # report why, skip the section
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    args = dict(data=s["train_npy"], test=s["test_npy"], rows=s["rows"],
                epochs=s["epochs"])  # fmt: skip
    fits, order = {}, fit_order(s)
    for i, (seed, name, library) in enumerate(order):
        fits[seed, name, library] = r = common.run_task(
            s, library_fit, library=library, hidden=list(ARCHITECTURES[name]),
            seed=seed, **args,
        )  # fmt: skip
        common.log(
            f"  fit {i + 1}/{len(order)}: {library} {name} seed {seed}: "
            f"{r['fit_s']:.1f} s, mse {r['test_mse']:.5f}, "
            f"load {r['loadavg_1min_at_start']:.1f}"
        )
    seeds = list(s["seeds"])
    return {
        "scikeras_version": scikeras.__version__,
        "rows": s["rows"],
        "test_rows": s["test_rows"],
        "epochs": s["epochs"],
        "seeds": seeds,
        "fresh_process_per_fit": s["fresh"],
        "time_margin": TIME_MARGIN,
        "table": [summary(name, fits, seeds) for name in ARCHITECTURES],
        "fits_in_order": [
            {
                "seed": seed,
                "architecture": name,
                "library": library,
                **fits[seed, name, library],
            }
            for seed, name, library in order
        ],  # fmt: skip
        "op_determinism_after_scikeras": any(
            f["op_determinism_after"]
            for (_, _, library), f in fits.items()
            if library == "scikeras"
        ),
        "note": "both fit with random_state=seed, batch_size=256, Adam(1e-3), MSE, "
        "linear code and output; fit time is the whole fit() call (model build "
        "and tracing included).",
    }


TITLE = "2. Against scikeras (run last)"


def bars(sk):
    """Per architecture: skae no slower, and its MSE no worse."""
    out = {}
    for x in sk["table"]:
        name = x["architecture"]
        out[
            f"2. {name}: skae fit no slower than scikeras (median paired ratio "
            f"<= {sk['time_margin']:g})"
        ] = x["time_bar_met"]
        out[
            f"2. {name}: skae test MSE no worse than scikeras (mean difference <= 1 SE)"
        ] = x["mse_bar_met"]
    return out


def _pm(mean, std, digits=5, sign=""):
    """``mean ± std``, or ``mean`` alone when there is no spread (one value)."""
    text = f"{mean:{sign}.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


BARS_TEXT = (
    "Bars. *No slower*: the median over seeds of the paired ratio (skae's fit "
    "time over scikeras's in the same back-to-back pair, which shares the "
    "machine's load) is <= {margin:g}; the 5% margin is bar 1's and covers the "
    "noise of a shared 2-core machine, where one fit of each gave 0.78x and 1.08x "
    "for the same code in two earlier runs. *MSE no worse*: skae's mean test MSE "
    "exceeds scikeras's by at most one standard error of the difference of the "
    "means, SE = sqrt(sd_skae² / n + sd_scikeras² / n) (sample sd over the seeds; "
    "SE = 0 for a single seed, a strict comparison). The comparison is unpaired: "
    "the same seed starts different random streams in the two libraries. One SE "
    "is a stricter trigger than a significance test (about two SE): a skae mean "
    "worse by more than the seed-to-seed noise of the means fails, even when that "
    "is not yet significant.\n"
)


def render(sk):
    n = len(sk["seeds"])
    met = common.met
    out = common.md_table(
        ["architecture", "skae fit, median (s)", "scikeras fit, median (s)",
         "ratio of medians", "paired ratio, median (range)", "skae MSE, mean ± sd",
         "scikeras MSE, mean ± sd", "skae − scikeras MSE ± SE", "no slower",
         "MSE no worse"],
        [
            [x["architecture"], f"{x['skae_fit_s_median']:.2f}",
             f"{x['scikeras_fit_s_median']:.2f}",
             f"{x['fit_time_ratio_of_medians']:.2f}",
             f"{x['fit_time_ratio_median_paired']:.2f} "
             f"({min(ratios):.2f}-{max(ratios):.2f})",
             _pm(x["skae_mse_mean"], x["skae_mse_std"]),
             _pm(x["scikeras_mse_mean"], x["scikeras_mse_std"]),
             _pm(x["mse_diff_skae_minus_scikeras"],
                 x["mse_diff_standard_error"] if n > 1 else None, sign="+"),
             met(x["time_bar_met"]), met(x["mse_bar_met"])]
            for x in sk["table"]
            for ratios in [x["fit_time_ratios_skae_to_scikeras"]]
        ],
        align="lrrrrrrrl",
    )  # fmt: skip
    where = (
        "each fit in a fresh process; each seed and architecture is a back-to-back "
        "pair, skae first for even-position seeds and scikeras first for odd ones"
        if sk["fresh_process_per_fit"]
        else "one process, skae fits first"
    )
    out.append(
        f"\nscikeras {sk['scikeras_version']}, {sk['rows']} train / "
        f"{sk['test_rows']} test rows, {sk['epochs']} epochs, {n} seed"
        f"{'s' if n > 1 else ''} per library and architecture "
        f"({', '.join(map(str, sk['seeds']))}), {where}; {sk['note']} "
        f"TensorFlow op determinism on after a seeded scikeras fit: "
        f"{sk['op_determinism_after_scikeras']}.\n"
    )
    out.append(BARS_TEXT.format(margin=sk["time_margin"]))
    first = {}
    for f in sk["fits_in_order"]:
        first.setdefault((f["architecture"], f["seed"]), f["library"])
    out += common.md_table(
        ["architecture", "seed", "first", "skae fit (s)", "scikeras fit (s)", "ratio",
         "skae MSE", "scikeras MSE"],
        [
            [x["architecture"], seed, first[x["architecture"], seed],
             f"{x['skae_fit_s'][i]:.2f}", f"{x['scikeras_fit_s'][i]:.2f}",
             f"{x['fit_time_ratios_skae_to_scikeras'][i]:.2f}",
             f"{x['skae_test_mse'][i]:.5f}", f"{x['scikeras_test_mse'][i]:.5f}"]
            for x in sk["table"]
            for i, seed in enumerate(x["seeds"])
        ],
        align="lrlr",
    )  # fmt: skip
    out.append("")
    return "\n".join(out)
