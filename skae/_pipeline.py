"""What ``Model.fit`` is given: a tf.data pipeline on TensorFlow.

Keras's TensorFlow backend feeds a ``keras.utils.PyDataset`` through
``tf.data.Dataset.from_generator``. Measured on MNIST (784-256-128-32, batch
256, 2 CPUs; ``benchmarks/perf_overhead.py``), that costs an epoch about
twice the time of a plain Keras fit on arrays, mostly in the kernel (page
faults), and leaves the process slower for every later fit. Producing the same
batches from a tf.data pipeline,
``range(n_batches).map(numpy_function(batches[i]))``, costs what a plain Keras
fit costs and leaves no trace.

The batches are those of :class:`skae._data.Batches`, built by the same code:
the same rows in the same order, converted to the model's dtype one batch at a
time, with the same noise and targets. A memmap or sparse ``X`` is read one
batch at a time as before; nothing is copied whole. Training on either path
gives bitwise the same model. Other backends get the ``PyDataset`` itself, and
so does TensorFlow when :func:`fit_input` is called with ``tf_data=False``
(the benchmark and the tests compare the two feeds that way).

The epoch's row order is read when a batch is built, and Keras builds the
batches of an epoch only after ``on_epoch_begin`` (where training calls
``Batches.set_epoch``): it makes a new iterator at the start of every epoch of
a dataset whose length it knows.
"""

from __future__ import annotations


def fit_input(batches, *, tf_data=True):
    """Return what ``Model.fit`` should be given to train on ``batches``.

    Parameters
    ----------
    batches : skae._data.Batches
    tf_data : bool, default=True
        On TensorFlow, feed a tf.data pipeline (True) or ``batches`` itself,
        the ``PyDataset`` (False). Other backends always get ``batches``.

    Returns
    -------
    data : tf.data.Dataset or skae._data.Batches
    """
    import keras

    if not tf_data or keras.backend.backend() != "tensorflow":
        return batches
    return tf_dataset(batches)


def tf_dataset(batches):
    """Return a tf.data pipeline that yields ``batches[i]`` for every ``i``.

    Each batch is built by ``batches[i]`` in a ``numpy_function``, several at
    a time on tf.data's threads, in order. One batch is built here first to
    learn the structure, dtypes and shapes of a batch; an array that appears
    twice in it (the clean rows as input and target) crosses into TensorFlow
    once.
    """
    import tensorflow as tf

    sample = batches[0]
    probe = tf.nest.flatten(sample)
    # For each place in a batch, the first place holding the same array.
    first = [
        next(k for k in range(j + 1) if probe[k] is a) for j, a in enumerate(probe)
    ]
    unique = sorted(set(first))
    dtypes = [tf.as_dtype(probe[k].dtype) for k in unique]
    shapes = [(None, *probe[k].shape[1:]) for k in unique]
    structure = tf.nest.map_structure(lambda _: None, sample)
    del sample, probe

    def load(i):
        flat = tf.nest.flatten(batches[int(i)])
        for j, k in enumerate(first):
            if flat[j] is not flat[k]:
                raise RuntimeError("batches changed their structure between calls")
        return [flat[k] for k in unique]

    def batch(i):
        tensors = tf.numpy_function(load, [i], dtypes, stateful=True)
        for tensor, shape in zip(tensors, shapes, strict=True):
            tensor.set_shape(shape)
        by_place = dict(zip(unique, tensors, strict=True))
        return tf.nest.pack_sequence_as(structure, [by_place[k] for k in first])

    return (
        tf.data.Dataset.range(len(batches))
        .map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
