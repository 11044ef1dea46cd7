"""Which Keras backend runs the core, and on which devices. No UI code.

Keras 3 picks its backend once, from ``KERAS_BACKEND``, when ``keras`` is first imported; so
``select`` must run before that. TensorFlow stays the default. Everything here that asks about
devices imports only the active backend's own library.
"""

from __future__ import annotations

import gc
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT = "tensorflow"
ENV = "KERAS_BACKEND"


class BackendError(RuntimeError):
    """The requested backend cannot be used (not installed, or keras already on another)."""


def requested() -> str:
    """The backend Keras will use (or uses), read without importing it."""
    keras = sys.modules.get("keras")
    # A thread may be importing keras right now (the Model pane's parameter table): the module
    # is in sys.modules before its attributes are, and it is on the backend the environment
    # names, read below. (s pressed then raised AttributeError and closed the app.)
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return os.environ.get(ENV) or _first_installed()


def _first_installed() -> str:
    """TensorFlow if installed, else JAX, else PyTorch (a GPU box without TensorFlow works
    without setting anything)."""
    import importlib.util

    for name in BACKENDS:
        if importlib.util.find_spec(name) is not None:
            return name
    return DEFAULT


def select(name: str | None) -> str:
    """Make ``name`` Keras's backend (None: ``KERAS_BACKEND``, else the first installed of
    tensorflow, jax, torch).

    Raises BackendError if ``keras`` is already imported on another backend, or the backend's
    library is not installed.
    """
    if name is None:
        if "keras" in sys.modules:
            return sys.modules["keras"].backend.backend()
        name = os.environ.get(ENV) or _first_installed()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise BackendError(f"Keras is already running on {current} in this process; start "
                               f"a new one with KERAS_BACKEND={name}")
        return name
    import importlib.util

    if importlib.util.find_spec(name) is None:
        package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[name]
        raise BackendError(f"the {name} backend needs the {package} package: pip install "
                           f"{package} (or choose another with --backend / KERAS_BACKEND)")
    os.environ[ENV] = name
    return name


def import_keras():  # noqa: ANN201 - the keras module
    """``import keras`` with the backend's import-time chatter kept off the terminal."""
    from .quiet import native_stderr_to_log

    name = select(None)
    with native_stderr_to_log():
        import keras
    if name != "tensorflow":
        _keep_tensorflow_out()
    from .compilation import enable_cache

    enable_cache(name)  # a second run of the same step loads it instead of compiling (JAX)
    # Keras and its backend leave hundreds of thousands of objects that live as long as the
    # process; every full garbage collection would walk them all again, a pause of the thread
    # that happens to allocate (in the TUI, the one that draws). Set them aside, once loaded.
    gc.freeze()
    return keras


def _keep_tensorflow_out() -> None:
    """On JAX and PyTorch, have Keras treat TensorFlow as absent even where it is installed.

    Keras imports TensorFlow whenever it can, to seed it and to recognise its types when
    saving; on another backend that costs seconds and prints to fd 2. With TensorFlow absent
    Keras skips both, which is exactly what it does on a machine without it.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        from keras.src.utils import module_utils
    except ImportError:  # a Keras that moved it: TensorFlow just gets imported
        return
    if module_utils.tensorflow.module is None:
        module_utils.tensorflow._available = False


def gpu_count() -> int:
    """How many GPUs the active backend sees (0 on a CPU-only machine or build)."""
    name = requested()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            return len(tf.config.list_physical_devices("GPU"))
        if name == "jax":
            import jax

            return sum(1 for d in jax.devices() if d.platform == "gpu")
        if name == "torch":
            import torch

            return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA install: treat as no GPU rather than fail
        return 0
    return 0


def device_names() -> list[str]:
    """Human names of the accelerators the backend sees, e.g. ['NVIDIA H100 80GB HBM3']."""
    name = requested()
    try:
        if name == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
        if name == "torch":
            import torch

            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return []
        if name == "tensorflow":
            import tensorflow as tf

            out = []
            for d in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(d)
                out.append(details.get("device_name", d.name))
            return out
    except Exception:
        return []
    return []


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and Keras (and the backend) for a reproducible run: on a CPU under
    TensorFlow, two runs of one config and seed give the same numbers, epoch for epoch.

    ``deterministic=False`` for a run compiled with XLA: Keras refuses XLA while TensorFlow's
    op determinism is on (it warns and runs without it), and XLA's compiled step adds in one
    fixed order anyway."""
    import_keras().utils.set_random_seed(seed)
    deterministic_ops(deterministic)


def deterministic_ops(on: bool = True) -> None:
    """TensorFlow's ops deterministic on a CPU (or not: the setting is the process's, so a run
    that needs it off must turn it off after one that turned it on). Seeding alone is not enough
    there: two runs with seed 0 parted from epoch 3 (reductions split over threads add in
    varying order). Not on a GPU, where some ops have no deterministic kernel and would fail
    the run."""
    if requested() != "tensorflow" or device_names():
        return
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    if on:
        tf.config.experimental.enable_op_determinism()
    elif tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()


def describe() -> str:
    """One line such as 'jax on 1 GPU (NVIDIA H100)' or 'tensorflow on CPU'."""
    names = device_names()
    where = "CPU"
    if names:
        kinds = sorted(set(names))
        where = f"{len(names)} GPU{'s' if len(names) > 1 else ''} ({', '.join(kinds)})"
    return f"{requested()} on {where}"


def versions() -> str:
    """'Keras 3.15.0 on JAX 0.10.0': what a report needs to say what computed its numbers."""
    from importlib.metadata import PackageNotFoundError, version

    name = requested()
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(name, name)
    try:
        lib = f"{name} {version(package)}"
    except PackageNotFoundError:
        lib = name
    try:
        return f"Keras {version('keras')} on {lib}"
    except PackageNotFoundError:
        return lib


def distribution_devices(count: int | None, devices: list[str] | None) -> list[str] | None:
    """The devices to spread a run over, or None for one device. Checks the backend can."""
    if devices is None and count:
        devices = [f"gpu:{i}" for i in range(count)]
    if not devices or len(devices) < 2:
        return None
    name = requested()
    if name == "torch":
        raise BackendError("several devices need the tensorflow backend (MirroredStrategy) or "
                           "the jax backend (keras.distribution.DataParallel); the torch backend "
                           "trains on one device here")
    return devices

