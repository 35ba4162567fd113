"""Where every random number in skae comes from.

One int seed per model, drawn once from ``random_state``, feeds everything
random in the model's life through numbered streams: Keras initializers and
dropout get seeds drawn from a generator of it, and each epoch's shuffling,
validation split and noise get a generator of their own
(:func:`epoch_rng`). Nothing draws from NumPy's global generator.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

#: The random streams drawn from one seed, by what they decide.
SHUFFLE_STREAM, SPLIT_STREAM, NOISE_STREAM, VALIDATION_NOISE_STREAM = 0, 1, 2, 3

_SEED_BOUND = np.iinfo(np.int32).max


def draw_seed(random_state) -> int:
    """Return one int32 seed drawn from ``random_state``.

    ``None`` draws fresh entropy from the operating system instead of NumPy's
    global generator, so that nothing in skae advances global random state.
    An int gives the same seed every time.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(_SEED_BOUND))


def seed_from(rng: np.random.Generator) -> int:
    """Return an int32 seed drawn from the generator ``rng`` (for Keras)."""
    return int(rng.integers(_SEED_BOUND))


def rng_from(random_state) -> np.random.Generator:
    """Return a NumPy generator seeded by :func:`draw_seed` of ``random_state``."""
    return np.random.default_rng(draw_seed(random_state))


def epoch_rng(
    seed: int, epoch: int, stream: int = SHUFFLE_STREAM, batch: int | None = None
) -> np.random.Generator:
    """Return the generator of one random stream at one epoch (and batch)."""
    key = [seed, epoch, stream] if batch is None else [seed, epoch, stream, batch]
    return np.random.default_rng(key)
