"""Grid searches spread over processes: loky workers and a Dask cluster.

Each parallel search runs in a fresh Python with a time limit, so a hang fails
the test instead of stalling the suite, and it limits TensorFlow's threads in
the workers the two ways ``docs/scale.rst`` shows: a loky initializer, and
variables in the environment of the process that starts the workers. The
scripts import this module for the search, so the functions below are what the
workers run.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

#: Seconds a parallel search may take before it counts as hung; it takes about
#: 15 s on an idle 2-core machine, most of it TensorFlow starting in the workers.
TIMEOUT = 300

LOKY = """
import json
from joblib import parallel_config
from test_parallel import data, limit_tensorflow_threads, make_search, report

if __name__ == "__main__":
    with parallel_config(backend="loky", initializer=limit_tensorflow_threads):
        search = make_search(n_jobs=2).fit(data())
    print(json.dumps(report(search)))
"""

#: The variables go first, as docs/scale.rst says: the workers inherit them.
DASK = """
import os
os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
os.environ["TF_NUM_INTEROP_THREADS"] = "1"

import json
import joblib
from distributed import Client, LocalCluster
from test_parallel import data, make_search, report

if __name__ == "__main__":
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            search = make_search(n_jobs=-1).fit(data())
        workers = sorted(client.run(os.getpid).values())
    print(json.dumps({**report(search), "workers": workers}))
"""

#: One small fit, then the number of threads of the process.
THREAD_PROBE = """
import os
import warnings

import numpy as np
from skae import AutoencoderTransformer

warnings.simplefilter("ignore")
X = np.random.default_rng(0).uniform(size=(40, 6)).astype(np.float32)
AutoencoderTransformer(n_components=2, epochs=1, random_state=0).fit(X)
print(len(os.listdir("/proc/self/task")))
"""


def _score(est, X, y=None):
    return est.score(X)


def _pid(est, X, y=None):
    return os.getpid()


def _intra_op_setting(est, X, y=None):
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    return configured or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0))


def limit_tensorflow_threads():
    """The loky initializer of docs/scale.rst."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def data():
    return np.random.default_rng(0).uniform(size=(40, 6)).astype(np.float32)


def make_search(n_jobs=None):
    """Scaler and autoencoder, 2 candidates x 2 folds, with probes as scores."""
    ae = AutoencoderTransformer(
        hidden_layer_sizes=(8,), epochs=2, batch_size=16, random_state=0
    )
    scoring = {"score": _score, "pid": _pid, "intra": _intra_op_setting}
    return GridSearchCV(
        make_pipeline(StandardScaler(), ae),
        {"autoencodertransformer__n_components": [2, 3]},
        cv=2, scoring=scoring, refit=False, n_jobs=n_jobs,
    )  # fmt: skip


def report(search):
    """The scores, and per fit the process and its thread setting, as JSON data."""
    res = search.cv_results_
    splits = [f"split{k}_test_" for k in range(search.n_splits_)]
    per_fit = {
        key: [int(v) for split in splits for v in res[split + key]]
        for key in ("pid", "intra")
    }
    return {"scores": res["mean_test_score"].tolist(), "parent": os.getpid(), **per_fit}


def _run_script(code, tmp_path):
    """Run ``code`` in a fresh Python, from a file (Dask's workers import it).

    Fails if it runs longer than ``TIMEOUT``; returns its last line, as JSON.
    """
    script = tmp_path / "search.py"
    script.write_text(code)
    path = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True,
        timeout=TIMEOUT, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sequential():
    """The search in this process, one fit after another, TensorFlow's defaults."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return report(make_search().fit(data()))


def test_grid_search_with_loky_workers_equals_sequential(sequential, tmp_path):
    result = _run_script(LOKY, tmp_path)
    # The fits ran in worker processes, each limited to one thread a pool ...
    assert result["parent"] not in result["pid"]
    assert result["intra"] == [1] * 4
    # ... and with an int random_state their scores are bitwise those of one
    # process, whatever the number of TensorFlow threads.
    assert_array_equal(result["scores"], sequential["scores"])


def test_grid_search_on_dask_local_cluster_equals_sequential(sequential, tmp_path):
    pytest.importorskip("distributed", reason="needs dask[distributed]")
    result = _run_script(DASK, tmp_path)
    assert set(result["pid"]) <= set(result["workers"])
    assert result["parent"] not in result["pid"]
    assert result["intra"] == [1] * 4
    assert_array_equal(result["scores"], sequential["scores"])


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)"
)
def test_tensorflow_sizes_its_thread_pools_from_its_variables():
    # The variables only help if TensorFlow reads them. loky's own limit
    # for the workers (OMP_NUM_THREADS=cpu_count//n_jobs and the like) is not
    # enough: TensorFlow ignores it and sizes its pools from the CPU count.
    def start(n):
        env = {
            **os.environ, "TF_NUM_INTRAOP_THREADS": str(n),
            "TF_NUM_INTEROP_THREADS": str(n), "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        return subprocess.Popen(
            [sys.executable, "-c", THREAD_PROBE], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    procs = {n: start(n) for n in (1, 3)}
    threads = {n: int(p.communicate(timeout=TIMEOUT)[0]) for n, p in procs.items()}
    # Two more threads in each of the intra-op and inter-op pools.
    assert threads[3] - threads[1] >= 4, threads
