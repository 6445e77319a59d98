"""Where a run computes: the Keras backend, whether TensorFlow is installed,
and the distribution strategy over several devices or workers."""

import os

from astromer.training.settings import ConfigError


def tensorflow_available():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def keras_backend():
    import keras

    return keras.backend.backend()


def make_strategy(kind="auto"):
    """A `tf.distribute` strategy (TF backend) or sets a `keras.distribution`
    (JAX). Returns `(strategy or None, number of replicas)`.

    kind: "auto" (MultiWorkerMirrored when TF_CONFIG is set, Mirrored with
    several GPUs, JAX DataParallel with several devices, else none),
    "none", "mirrored", "multiworker", "data-parallel" (JAX).
    """
    import keras

    backend = keras.backend.backend()
    if kind == "none":
        return None, 1
    if backend == "tensorflow":
        import tensorflow as tf

        if kind == "multiworker" or (kind == "auto" and os.environ.get("TF_CONFIG")):
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            return strategy, strategy.num_replicas_in_sync
        gpus = tf.config.list_logical_devices("GPU")
        if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
            devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices)
            return strategy, strategy.num_replicas_in_sync
        if kind in ("auto",):
            return None, 1
        raise ConfigError(f"--strategy {kind} is not available on the TensorFlow backend.")
    if backend == "jax":
        import jax

        devices = jax.devices()
        if kind == "data-parallel" or (kind == "auto" and len(devices) > 1):
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            return None, len(devices)
        if kind == "auto":
            return None, 1
        raise ConfigError(f"--strategy {kind} is not available on the JAX backend (use data-parallel).")
    if kind == "auto":
        return None, 1
    raise ConfigError(f"--strategy {kind} is not supported on the {backend} backend.")


def strategy_scope(strategy):
    """`strategy.scope()`, or a scope that does nothing when there is no strategy."""
    return strategy.scope() if strategy is not None else _NullScope()


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
