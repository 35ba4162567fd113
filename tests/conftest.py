import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture
def X_small():
    """60 x 10 float32 in [0, 1]: enough to train a tiny model in a second."""
    return np.random.default_rng(0).uniform(size=(60, 10)).astype(np.float32)


@pytest.fixture(scope="session")
def digits():
    """200 of scikit-learn's 8x8 digits scaled to [0, 1], as float32."""
    data = load_digits()
    return data.data[:200].astype(np.float32) / 16, data.target[:200]


@pytest.fixture
def pickled():
    """A function that round-trips an object through joblib, in memory."""
    import io

    import joblib

    def roundtrip(obj):
        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        buffer.seek(0)
        return joblib.load(buffer)

    return roundtrip
