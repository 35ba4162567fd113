"""Which device a model runs on, for every Keras backend.

Keras's own ``keras.device`` scope places variables and computations on every
backend; what differs is how to ask a backend which GPUs it sees, which is
done here. Nothing here changes process-wide state, except TensorFlow's GPU
memory growth (see :func:`enable_memory_growth`), and only when the user has
not configured memory themselves.
"""

from __future__ import annotations

import os
import re

_DEVICE = re.compile(r"^(auto|cpu|gpu)(?::(\d+))?$")


def gpu_count() -> int:
    """Return the number of GPUs the active Keras backend sees (0 if none)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    return 0


def parse(device: str) -> tuple[str, int | None]:
    """Split ``"gpu:1"`` into ``("gpu", 1)``; raise on anything else."""
    match = _DEVICE.match(device.strip().lower()) if isinstance(device, str) else None
    # There is one CPU device: "cpu:0" is the CPU, "cpu:5" a mistake.
    if (
        match is None
        or (match.group(1) == "auto" and match.group(2))
        or (match.group(1) == "cpu" and match.group(2) not in (None, "0"))
    ):
        raise ValueError(
            f"The 'device' parameter must be 'auto', 'cpu', 'gpu' or 'gpu:N' "
            f"(e.g. 'gpu:1'); got {device!r}."
        )
    index = match.group(2)
    return match.group(1), None if index is None else int(index)


def resolve(device: str, *, strict: bool = True) -> str:
    """Return the Keras device name (``"cpu"``, ``"gpu:1"``) for ``device``.

    ``"auto"`` is the first GPU when the backend sees one, else the CPU.
    Asking for a GPU that is not there raises ``RuntimeError`` when
    ``strict``; otherwise (loading a model fitted on another machine) it
    falls back to what ``"auto"`` gives.
    """
    kind, index = parse(device)
    # "cpu", not "cpu:0": Keras 3.15's PyTorch backend loses the gradients
    # of a model trained under keras.device("cpu:0").
    if kind == "cpu":
        return "cpu"
    n_gpus = gpu_count()
    if kind == "auto":
        return _use_gpu(0) if n_gpus else "cpu"
    index = index or 0
    if index < n_gpus:
        return _use_gpu(index)
    if not strict:
        return resolve("auto")
    import keras

    raise RuntimeError(
        f"device={device!r} asks for GPU {index}, but the {keras.backend.backend()} "
        f"backend of Keras sees {n_gpus} GPU(s). Use device='auto' to take a "
        "GPU only when there is one, or check the GPU build of the backend "
        "(e.g. `nvidia-smi`, and CUDA_VISIBLE_DEVICES)."
    )


def _use_gpu(index: int) -> str:
    enable_memory_growth()
    return f"gpu:{index}"


def enable_memory_growth() -> None:
    """Let TensorFlow take GPU memory as needed instead of all of it at once.

    TensorFlow otherwise maps nearly all the memory of every GPU it
    initializes. Growth is switched on only where the user has configured
    nothing: not when ``TF_FORCE_GPU_ALLOW_GROWTH`` is set, not for a GPU with
    a memory limit or virtual devices, not for a GPU already switched on, and
    not once TensorFlow has initialized its GPUs (it cannot change then). The
    PyTorch backend allocates on demand already; JAX preallocates unless
    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` is set before it starts, which a
    library cannot do for you (see the "GPU and scale" page).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    if "TF_FORCE_GPU_ALLOW_GROWTH" in os.environ:
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            if tf.config.get_logical_device_configuration(gpu):
                continue
            if not tf.config.experimental.get_memory_growth(gpu):
                tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            return  # GPUs initialized already: the user's settings stand.


def describe(distribution) -> str:
    """Name the devices of a ``tf.distribute.Strategy`` or Keras distribution."""
    devices = getattr(getattr(distribution, "extended", None), "worker_devices", None)
    if devices is None:
        mesh = getattr(distribution, "device_mesh", None)
        devices = [] if mesh is None else [str(d) for d in mesh.devices.flatten()]
    names = ", ".join(
        str(d).rsplit("/", 1)[-1].lower().removeprefix("device:") for d in devices
    )
    return f"distributed: {type(distribution).__name__}({names})"


def choose(device: str, distribution=None) -> str:
    """Return the ``device_`` of a new model: where it is built and trained.

    With a ``distribution``, a description of its devices; otherwise
    :func:`resolve` of ``device``.
    """
    if distribution is not None:
        return describe(distribution)
    return resolve(device)


def placement(device_: str):
    """Return a context placing Keras work on ``device_``.

    A distributed estimator's own model lives on the default device; only
    training runs under the distribution.
    """
    import contextlib

    import keras

    if device_.startswith("distributed"):
        return contextlib.nullcontext()
    return keras.device(device_)


def restore(device_: str | None, device: str) -> str:
    """Return where a model fitted on ``device_`` runs in this process.

    The one rule for pickles and ``skae.load``: the device the model was
    fitted on when this machine has it, else what ``"auto"`` gives (a model
    fitted on a GPU loads and transforms on a machine without one). A model
    trained under a distribution, or a file that did not record ``device_``,
    goes by the ``device`` parameter instead.
    """
    if device_ is None or device_.startswith("distributed"):
        device_ = device
    return resolve(device_, strict=False)
