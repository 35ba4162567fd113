"""How batches reach a model on TensorFlow: whole compiled runs, or tf.data.

Two ways, both fed the batches of :class:`skae._data.Batches` (the same rows in
the same order, converted to the model's dtype one batch at a time, with the
same noise and targets), and both training bitwise the same model:

* :func:`run_epochs`, skae's own epoch loop. Keras's ``Model.fit`` pays per
  epoch (a new dataset iterator: about 10 ms) and per step (Python callbacks
  and a function call: 2-3 ms), which dominates on small tables: digits, 50
  epochs, was 2.2-3.3 s of which 0.75 s were the steps themselves
  (``benchmarks/perf_small.py``). Here a run of consecutive batches (up to
  :data:`CHUNK_BYTES` of them) is concatenated in NumPy and trained in one
  call of a compiled function: a ``tf.while_loop`` of ``Model.train_step``
  over the batches' bounds. Keras's own ``train_step`` and ``test_step`` run,
  so losses, sample weights, loss scaling, regularization and metrics are
  Keras's; the callbacks see what ``Model.fit`` shows them at every epoch.
  Used when :func:`compiled_loop_applies`. Under ``model.jit_compile`` each
  step inside the loop is compiled by XLA, as ``Model.fit`` compiles it.
* :func:`fit_input` for ``Model.fit`` (when a callback watches batches,
  progress bars, a ``distribution``, a checkpoint). Keras's TensorFlow backend
  feeds a ``keras.utils.PyDataset`` through ``tf.data.Dataset.from_generator``;
  measured on MNIST (784-256-128-32, batch 256, 2 CPUs;
  ``benchmarks/perf_overhead.py``), that costs an epoch about twice the time
  of a plain Keras fit on arrays, mostly in the kernel (page faults), and
  leaves the process slower for every later fit. Producing the same batches
  from a tf.data pipeline, ``range(n_batches).map(numpy_function(batches[i]))``,
  costs what a plain Keras fit costs and leaves no trace. Other backends get
  the ``PyDataset`` itself, and so does TensorFlow when :func:`fit_input` is
  called with ``tf_data=False`` (the benchmark and the tests compare the two
  feeds that way).

A memmap or sparse ``X`` is read one batch at a time either way; nothing is
copied whole. The epoch's row order is read when a batch is built, after
``on_epoch_begin`` (where training calls ``Batches.set_epoch``): Keras makes a
new iterator at the start of every epoch of a dataset whose length it knows,
and :func:`run_epochs` builds its runs after calling the callbacks.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ._data import same_places
from ._models import OUTPUT_DTYPE

#: Bytes of converted batches (inputs, targets, weights) trained per call of
#: the compiled loop: about 10 MNIST batches of 256 rows, the whole epoch of a
#: small table. Memory stays bounded for any ``X`` (the run is held about three
#: times at its peak: its batches, their concatenation, TensorFlow's copy); at
#: 32 MB, one epoch on a 4 GB memmap peaked at +669 MB of RSS, +261 MB of it
#: anonymous. A call costs well under a millisecond more than its steps.
CHUNK_BYTES = 8 << 20

#: Callback methods that watch single batches: a callback that overrides one
#: of them gets Keras's ``Model.fit``, which calls them at every batch.
BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
)


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
    first = same_places(probe)
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


# -- skae's own epoch loop -------------------------------------------------------

#: The compiled loop of each model, made once and kept while the model lives
#: (``partial_fit`` calls and warm starts reuse it: no new trace).
_LOOPS = weakref.WeakKeyDictionary()
_LOOPS_LOCK = threading.Lock()


def compiled_loop_applies(config, callbacks) -> bool:
    """Whether :func:`run_epochs` trains a session (else ``Model.fit`` does).

    It does on TensorFlow, unless one of these needs Keras's own loop: a
    ``distribution`` (its replicas run Keras's distributed step), a
    checkpoint (Keras's ``BackupAndRestore`` resumes through ``Model.fit``),
    ``verbose`` (Keras's progress bar counts batches) or a callback that
    overrides a batch hook (:data:`BATCH_HOOKS`), such as Keras's
    ``TensorBoard`` or ``TerminateOnNaN``.

    Parameters
    ----------
    config : skae._training.TrainingConfig
    callbacks : list of keras.callbacks.Callback
        All the session's callbacks, skae's own included.

    Returns
    -------
    applies : bool
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    if config.distribution is not None or config.checkpoint_dir is not None:
        return False
    if config.verbose:
        return False
    base = keras.callbacks.Callback
    return not any(
        getattr(type(callback), hook, None) is not getattr(base, hook)
        for callback in callbacks
        for hook in BATCH_HOOKS
    )


def run_epochs(model, batches, val_batches, *, epochs, callbacks):
    """Train ``model`` for ``epochs`` epochs, as ``Model.fit`` would.

    The callbacks see the calls ``Model.fit`` makes at the start and end of
    training, of every epoch and of every validation, with the same logs
    (the epoch's mean loss, and ``val_loss`` with validation); they may stop
    training with ``model.stop_training``. A ``KeyboardInterrupt`` or an
    error propagates as it does out of ``Model.fit``.

    Parameters
    ----------
    model : keras.Model
        A compiled model, trained in place.
    batches : skae._data.Batches
        The training batches; ``set_epoch`` is left to the callbacks.
    val_batches : skae._data.Batches or None
        Validation batches, evaluated at every epoch's end.
    epochs : int
    callbacks : list of keras.callbacks.Callback
    """
    import keras

    loop = _loop(model)
    callbacks = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=False, model=model,
        epochs=epochs, steps=len(batches), verbose=0,
    )  # fmt: skip
    if not model.optimizer.built:
        # Built here, not in the first trace: creating the optimizer's
        # variables inside a compiled function doubles its tracing time.
        model.optimizer.build(model.trainable_variables)
    model.stop_training = False
    callbacks.on_train_begin()
    logs = None
    for epoch in range(epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        epoch_logs = loop.run("train", batches)
        if val_batches is not None:
            callbacks.on_test_begin()
            val_logs = evaluate(model, val_batches)
            callbacks.on_test_end(val_logs)
            epoch_logs.update({f"val_{key}": v for key, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        logs = epoch_logs
        if model.stop_training:
            break
    if epochs > 0 and isinstance(model.optimizer, keras.optimizers.Optimizer):
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs)


def predict(model, x):
    """Return ``model``'s outputs for the batch ``x`` in inference mode, as NumPy.

    On TensorFlow a compiled function per model and input dtype, traced once
    for any number of rows: one row took 0.3 ms here against 0.5 ms through
    Keras's ``predict_on_batch``, whose functions, alike in every model, also
    make TensorFlow warn of "retracing" after a few models. Keras's
    ``predict_on_batch`` elsewhere.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch(x)
    return _loop(model).predict(x)


def apply(model, x, dtype=OUTPUT_DTYPE) -> np.ndarray:
    """Run ``model`` (one output) on the batch ``x``, as an array of ``dtype``."""
    return np.asarray(predict(model, x), dtype=dtype)


def evaluate(model, batches) -> dict:
    """Return the logs of ``model.evaluate`` over ``batches``, as floats."""
    model.reset_metrics()
    return _loop(model).run("test", batches)


def _loop(model):
    with _LOOPS_LOCK:  # estimators fit and predict on several threads at once
        loop = _LOOPS.get(model)
        if loop is None:
            loop = _LOOPS[model] = _CompiledLoop(model)
    return loop


class _CompiledLoop:
    """One model's compiled runs of its steps, and its compiled predictions.

    A function is traced once per kind and batch structure (the variational
    autoencoder's targets, sample weights, the dtype of inputs), for any
    number of rows and batches, and kept as its concrete function. It holds
    the model weakly, so that a model and its loop are freed together. Each
    function is made from its own callable object, so that TensorFlow counts
    its traces apart from other models': a grid search of many models warns
    of no "retracing".
    """

    def __init__(self, model):
        self.model = weakref.ref(model)
        self.functions = {}

    def run(self, kind, batches) -> dict:
        """Run ``kind`` ("train" or "test") steps over all ``batches``."""
        import tensorflow as tf

        logs = {}
        xla = bool(self.model().jit_compile)
        for arrays, bounds, structure, layout in _runs(batches):
            key = (kind, layout, xla)
            if key not in self.functions:
                self.functions[key] = _compile(
                    _Steps(self.model, kind, structure, layout, xla), layout
                )
            logs = self.functions[key](
                [tf.convert_to_tensor(a) for a in arrays], tf.convert_to_tensor(bounds)
            )
        return {key: float(value) for key, value in logs.items()}

    def predict(self, x):
        """``model.predict_step(x)`` for one batch ``x``, as NumPy arrays."""
        import tensorflow as tf

        key = ("predict", x.dtype, x.shape[1:])
        function = self.functions.get(key)
        if function is None:
            spec = tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))
            function = self.functions[key] = tf.function(
                _Predict(self.model), input_signature=[spec], autograph=False
            ).get_concrete_function()
        out = call_flat(function, [tf.constant(x)])
        return tf.nest.map_structure(lambda t: t.numpy(), out)


def call_flat(function, tensors):
    """Call the concrete ``function`` on a flat list of ``tensors``.

    ``ConcreteFunction.__call__`` first binds its arguments to the function's
    signature, then calls ``_call_flat``: the binding was 0.05 ms of the
    0.23 ms a one-row call of an MNIST encoder took, timed back to back (see
    "Serving one row at a time" in docs/performance.rst). The inputs here are
    already the flat tensors of the signature, so the binding is skipped
    where this TensorFlow has ``_call_flat`` (a private method; every
    supported version has it, ``tests/test_pipeline.py``); elsewhere the
    public call runs.
    """
    flat = getattr(function, "_call_flat", None)
    if flat is None:
        return function(*tensors)
    return flat(tensors, function.captured_inputs)


class _Predict:
    def __init__(self, model_ref):
        self.model = model_ref

    def __call__(self, x):
        return self.model().predict_step(x)


class _Steps:
    """``kind`` steps over the batches of a run: the body of a compiled call.

    With ``xla``, each step is compiled by XLA as ``Model.fit`` compiles it
    under ``jit_compile=True`` (the same step function, so the same model).
    """

    def __init__(self, model_ref, kind, structure, layout, xla=False):
        self.model, self.kind, self.structure = model_ref, kind, structure
        self.places = layout[1]
        self.xla = xla

    def __call__(self, arrays, bounds):
        import tensorflow as tf

        model = self.model()
        step = model.train_step if self.kind == "train" else model.test_step
        if self.xla:
            step = tf.function(step, jit_compile=True, autograph=False)
        by_place = dict(zip(sorted(set(self.places)), arrays, strict=True))

        def body(i):
            flat = [by_place[k][bounds[i] : bounds[i + 1]] for k in self.places]
            step(tf.nest.pack_sequence_as(self.structure, flat))
            return (i + 1,)

        n_batches = tf.shape(bounds, out_type=tf.int64)[0] - 1
        tf.while_loop(lambda i: i < n_batches, body, (tf.constant(0, tf.int64),))
        return model.get_metrics_result()


def _runs(batches):
    """Yield runs of consecutive batches of about :data:`CHUNK_BYTES`.

    Each run is ``(arrays, bounds, structure, layout)``: the batches'
    distinct arrays concatenated, the row at which each batch starts (and
    the end), the nesting of a batch, and a hashable description of the
    arrays' places in it, their dtypes and row shapes.
    """
    import tensorflow as tf

    pending, size = [], 0
    for i in range(len(batches)):
        flat = tf.nest.flatten(batches[i])
        places = same_places(flat)
        unique = sorted(set(places))
        pending.append([flat[k] for k in unique])
        size += sum(flat[k].nbytes for k in unique)
        if size < CHUNK_BYTES and i < len(batches) - 1:
            continue
        structure = tf.nest.map_structure(lambda _: None, batches[i])
        layout = (
            repr(structure),
            tuple(places),
            tuple((a.dtype.name, a.shape[1:]) for a in pending[0]),
        )
        arrays = [np.concatenate(column) for column in zip(*pending, strict=True)]
        bounds = np.cumsum([0] + [len(run[0]) for run in pending], dtype=np.int64)
        pending, size = [], 0
        yield arrays, bounds, structure, layout


def _compile(steps, layout):
    """Return ``steps`` compiled for runs of batches of ``layout``."""
    import tensorflow as tf

    arrays = [
        tf.TensorSpec((None, *shape), tf.as_dtype(dtype)) for dtype, shape in layout[2]
    ]
    signature = [arrays, tf.TensorSpec((None,), tf.int64)]
    # Keras's own step functions are not converted by AutoGraph either. The
    # concrete function: calls skip tf.function's dispatch (0.1-0.2 ms each).
    return tf.function(
        steps, input_signature=signature, autograph=False
    ).get_concrete_function()
