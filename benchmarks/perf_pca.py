"""Section 3: PCA against the autoencoder over ``n_components``.

Fit time, transform time per 1,000 rows and test MSE of ``PCA`` and of the
784-256-128-k autoencoder (MSE loss, batch 256), side by side. No bar: the
figures place skae next to the estimator it stands in for.
"""

import common
from sklearn.decomposition import PCA

#: Each setting in the full run and with ``--quick``.
SETTINGS = {
    "rows": (60_000, 2_048),
    "epochs": (4, 1),
    "components": ((8, 16, 32, 64), (32,)),
}


def transform_ms_per_1k(est, X):
    return 1e3 * common.median_seconds(lambda: est.transform(X), 3) / len(X) * 1e3


def ae_fit(data, test, rows, n_components, epochs):
    """Fit time, transform time and test MSE of one autoencoder."""
    X, X_test = common.load_rows(data, rows), common.load_rows(test)
    fit_s, ae = common.timed(
        lambda: common.skae_fit(
            X,
            n_components=n_components,
            hidden_layer_sizes=common.HIDDEN,
            epochs=epochs,
        )
    )
    return {
        "fit_s": fit_s,
        "transform_ms_per_1k": transform_ms_per_1k(ae, X_test),
        "test_mse": common.mse(ae.inverse_transform(ae.transform(X_test)), X_test),
    }


def measure(s):
    X, X_test = (
        common.load_rows(s["train_npy"], s["rows"]),
        common.load_rows(s["test_npy"]),
    )
    rows = []
    for k in s["components"]:
        fit_s, pca = common.timed(lambda k=k: PCA(k, random_state=0).fit(X))
        row = {
            "n_components": k,
            "pca_fit_s": fit_s,
            "pca_transform_ms_per_1k": transform_ms_per_1k(pca, X_test),
            "pca_test_mse": common.mse(
                pca.inverse_transform(pca.transform(X_test)), X_test
            ),
        }
        ae = common.run_task(
            s, ae_fit, data=s["train_npy"], test=s["test_npy"], rows=s["rows"],
            n_components=k, epochs=s["epochs"],
        )  # fmt: skip
        row.update({f"ae_{key}": value for key, value in ae.items()})
        row["mse_ratio_ae_to_pca"] = row["ae_test_mse"] / row["pca_test_mse"]
        row["fit_ratio_ae_to_pca"] = row["ae_fit_s"] / row["pca_fit_s"]
        row["transform_ratio_ae_to_pca"] = (
            row["ae_transform_ms_per_1k"] / row["pca_transform_ms_per_1k"]
        )
        rows.append(row)
        common.log(
            f"  n_components={k}: mse AE {row['ae_test_mse']:.5f} / PCA "
            f"{row['pca_test_mse']:.5f}, fit {row['ae_fit_s']:.1f} / "
            f"{row['pca_fit_s']:.2f} s"
        )
    return {
        "rows": len(X),
        "test_rows": len(X_test),
        "ae": f"hidden_layer_sizes={common.HIDDEN}, batch_size=256, epochs="
        f"{s['epochs']}, mse, random_state=0",
        "fresh_process_per_ae_fit": s["fresh"],
        "table": rows,
    }


TITLE = "3. Against PCA"


def bars(p):
    return {}


COLUMNS = {
    "n_components": "{n_components}",
    "PCA MSE": "{pca_test_mse:.5f}",
    "AE MSE": "{ae_test_mse:.5f}",
    "AE/PCA MSE": "{mse_ratio_ae_to_pca:.2f}",
    "PCA fit (s)": "{pca_fit_s:.2f}",
    "AE fit (s)": "{ae_fit_s:.1f}",
    "PCA transform (ms/1k rows)": "{pca_transform_ms_per_1k:.3f}",
    "AE transform (ms/1k rows)": "{ae_transform_ms_per_1k:.3f}",
}


def render(p):
    out = common.md_records(COLUMNS, p["table"], align="r")
    out.append(
        f"\n{p['rows']} train / {p['test_rows']} test rows; autoencoder: {p['ae']}.\n"
    )
    return "\n".join(out)
