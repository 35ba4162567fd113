"""Section 0: small data, against scikit-learn's own ``MLPRegressor``.

Most scikit-learn users have small tables, where a fit is dominated by fixed
costs per step and per epoch, not by arithmetic. On scikit-learn's digits
(1,437 training rows x 64, scaled to [0, 1]; 360 test rows), the same
64-256-128-16-128-256-64 autoencoder, batch 256, the same number of epochs:

* ``skae``: ``AutoencoderTransformer`` with its defaults (PCA start, skae's
  compiled loop);
* ``skae_random``: ``init="random"``, the same network as the MLP's start;
* ``skae_model_fit``: the default estimator with a callback that watches
  batches, which makes skae train through Keras's ``Model.fit`` (what every
  fit cost before the compiled loop);
* ``mlp``: ``MLPRegressor(hidden_layer_sizes=(256, 128, 16, 128, 256))``
  fitted on ``(X, X)`` (Adam, ``max_iter`` = the epochs; its ``n_iter_`` is
  reported, since it may stop early on its training loss).

Fits are interleaved round by round, each in a fresh process in the full
run; medians of wall time, and the test MSE of each. Then a 12-fit
``GridSearchCV`` (4 code sizes x 3 folds) of skae against the same grid of
``MLPRegressor`` s, in one process each (a user's grid search).

Bar: skae's median fit time <= 1.0x the MLP's, with a lower test MSE.
"""

import time
import warnings

import common

#: Each setting in the full run and with ``--quick``.
SETTINGS = {
    "epochs": (50, 2),
    "rounds": (3, 1),
    "grid_components": ((4, 8, 16, 32), (4, 8)),
    "grid_folds": (3, 2),
}

HIDDEN = (256, 128)
N_COMPONENTS = 16
BATCH_SIZE = 256
KINDS = ("skae", "skae_random", "skae_model_fit", "mlp")


def _digits():
    from sklearn.model_selection import train_test_split

    from skae.datasets import load_digits

    X, _ = load_digits()
    return train_test_split(X, test_size=0.2, random_state=0)


def _mlp(n_components, epochs):
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(
        hidden_layer_sizes=(*HIDDEN, n_components, *HIDDEN[::-1]),
        max_iter=epochs, batch_size=BATCH_SIZE, random_state=0,
    )  # fmt: skip


def _skae(n_components, epochs, **params):
    from skae import AutoencoderTransformer

    return AutoencoderTransformer(
        n_components=n_components, hidden_layer_sizes=HIDDEN, epochs=epochs,
        batch_size=BATCH_SIZE, random_state=0, **params,
    )  # fmt: skip


def _batch_watcher():
    """A callback with a batch hook: skae then trains through ``Model.fit``."""
    import keras

    class BatchWatcher(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    return BatchWatcher()


def fit_one(kind, epochs):
    """Wall time, test MSE and epochs run of one fit of ``kind``."""
    X_train, X_test = _digits()
    if kind == "mlp":
        model = _mlp(N_COMPONENTS, epochs)
        seconds, _ = common.timed(lambda: model.fit(X_train, X_train))
        return {
            "wall_s": seconds,
            "test_mse": common.mse(model.predict(X_test), X_test),
            "epochs_run": int(model.n_iter_),
        }
    params = {
        "skae": {},
        "skae_random": {"init": "random"},
        "skae_model_fit": {"callbacks": [_batch_watcher()]},
    }[kind]
    model = _skae(N_COMPONENTS, epochs, **params)
    seconds, _ = common.timed(lambda: model.fit(X_train))
    return {
        "wall_s": seconds,
        "test_mse": common.mse(
            model.inverse_transform(model.transform(X_test)), X_test
        ),
        "epochs_run": int(model.n_iter_),
    }


def grid_search(kind, epochs, components, folds):
    """Wall time and best score of a grid search over the code size."""
    from sklearn.model_selection import GridSearchCV

    X_train, _ = _digits()
    if kind == "mlp":
        grid = GridSearchCV(
            _mlp(N_COMPONENTS, epochs),
            {"hidden_layer_sizes": [(*HIDDEN, k, *HIDDEN[::-1]) for k in components]},
            cv=folds, scoring="neg_mean_squared_error",
        )  # fmt: skip
        seconds, _ = common.timed(lambda: grid.fit(X_train, X_train))
    else:
        grid = GridSearchCV(
            _skae(N_COMPONENTS, epochs), {"n_components": list(components)}, cv=folds
        )
        seconds, _ = common.timed(lambda: grid.fit(X_train))
    return {"wall_s": seconds, "fits": len(components) * folds}


def measure(s):
    from sklearn.exceptions import ConvergenceWarning

    runs = {kind: [] for kind in KINDS}
    for i in range(s["rounds"]):
        for kind in KINDS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                runs[kind].append(
                    common.run_task(s, fit_one, kind=kind, epochs=s["epochs"])
                )
        common.log(
            f"  small data round {i + 1}/{s['rounds']}: "
            + ", ".join(f"{k} {runs[k][-1]['wall_s']:.2f} s" for k in KINDS)
        )
    med = {
        kind: {key: common.median([r[key] for r in rs]) for key in rs[0]}
        for kind, rs in runs.items()
    }
    grids = {}
    for kind in ("skae", "mlp"):
        start = time.perf_counter()
        grids[kind] = common.run_task(
            s, grid_search, kind=kind, epochs=s["epochs"],
            components=list(s["grid_components"]), folds=s["grid_folds"],
        )  # fmt: skip
        common.log(f"  grid search {kind}: {time.perf_counter() - start:.1f} s")
    ratio = med["skae"]["wall_s"] / med["mlp"]["wall_s"]
    return {
        "epochs": s["epochs"],
        "rounds": s["rounds"],
        "fresh_process_per_fit": s["fresh"],
        "runs": runs,
        "median": med,
        "ratio": ratio,
        "model_fit_ratio": med["skae_model_fit"]["wall_s"] / med["mlp"]["wall_s"],
        "grid": grids,
        "grid_ratio": grids["skae"]["wall_s"] / grids["mlp"]["wall_s"],
        "bar_met": bool(
            ratio <= 1.0 and med["skae"]["test_mse"] < med["mlp"]["test_mse"]
        ),
    }


TITLE = "0. Small data: digits against scikit-learn's MLPRegressor"


def bars(o):
    return {"0. skae fit <= 1.0x MLPRegressor on digits, lower MSE": o["bar_met"]}


NAMES = {
    "skae": "skae, defaults (PCA start, compiled loop)",
    "skae_random": 'skae, `init="random"`',
    "skae_model_fit": "skae through Keras's `Model.fit` (a batch callback)",
    "mlp": "`MLPRegressor` on `(X, X)`",
}


def render(o):
    mlp = o["median"]["mlp"]["wall_s"]
    out = common.md_table(
        ["fit", "median wall (s)", "x MLP", "test MSE", "epochs run"],
        [
            [name, f"{m['wall_s']:.2f}", f"{m['wall_s'] / mlp:.2f}",
             f"{m['test_mse']:.4f}", f"{m['epochs_run']:.0f}"]
            for key, name in NAMES.items()
            for m in [o["median"][key]]
        ],
    )  # fmt: skip
    where = "each in a fresh process" if o["fresh_process_per_fit"] else "one process"
    g = o["grid"]
    out.append(
        f"\nDigits, 1,437 training rows, {o['epochs']} epochs, batch 256, "
        f"{o['rounds']} interleaved rounds, {where}. skae / MLP = {o['ratio']:.2f} "
        f"(bar <= 1.0 with a lower MSE: {common.met(o['bar_met'])}); through "
        f"`Model.fit` it was {o['model_fit_ratio']:.2f}. A {g['skae']['fits']}-fit "
        f"`GridSearchCV` over the code size took {g['skae']['wall_s']:.1f} s with "
        f"skae and {g['mlp']['wall_s']:.1f} s with `MLPRegressor` "
        f"({o['grid_ratio']:.2f}x).\n"
    )
    return "\n".join(out)
