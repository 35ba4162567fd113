"""The only backend-specific code in skae: fast inference calls.

A direct eager call of a Keras model costs several milliseconds of Python
overhead per call on TensorFlow, and ``Model.predict`` tens of milliseconds.
On TensorFlow the forward pass is traced once per model into a
``tf.function`` with a fixed input signature (no retracing whatever the number
of rows); other backends use the direct call.
"""

from __future__ import annotations

import weakref

import keras

_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_function(model):
    """Return a callable ``fn(x) -> tensor`` running ``model`` in inference mode.

    Compiled once per model and cached for the model's lifetime.
    """
    fn = _compiled.get(model)
    if fn is None:
        fn = _compiled[model] = _compile(model)
    return fn


def _compile(model):
    # A weak reference, so the cache entry does not keep its own key alive.
    ref = weakref.ref(model)

    def call(x):
        return ref()(x, training=False)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = model.inputs[0]
        signature = [tf.TensorSpec((None, *spec.shape[1:]), spec.dtype)]
        return tf.function(call, input_signature=signature)
    return call
