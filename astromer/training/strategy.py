"""Where a run computes: the Keras backend, whether TensorFlow is installed,
and the distribution over several devices, workers or processes
(`Distribution`; joining other machines: `astromer.training.distributed`)."""

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


class Distribution:
    """How a run is spread: `replicas` model copies in sync (devices over
    every worker), `workers` processes of which this one is `worker`
    (0, the chief, writes the run's outputs).

    kind: "none", "mirrored" (TensorFlow, one machine's devices),
    "multiworker" (TensorFlow, TF_CONFIG), "data-parallel" (JAX, every
    device of every process). `strategy` is the `tf.distribute` strategy
    (TensorFlow) or None; JAX sets a `keras.distribution` instead.
    """

    def __init__(self, kind="none", strategy=None, replicas=1, cluster=None):
        from astromer.training.cluster import Cluster

        self.kind, self.strategy, self.replicas = kind, strategy, int(replicas)
        self.cluster = cluster or Cluster()

    @property
    def workers(self):
        return self.cluster.count

    @property
    def worker(self):
        return self.cluster.index

    @property
    def chief(self):
        return self.cluster.chief

    @property
    def multi_worker(self):
        return self.cluster.multi

    def describe(self):
        if self.multi_worker:
            return f"{self.replicas} replica(s) on {self.workers} workers; this is {self.cluster.describe()}"
        return f"{self.replicas} replica(s)"

    def split_batch(self, global_batch):
        """The per-replica batch of a global batch; ConfigError unless the
        replicas share it evenly."""
        from astromer.training.cluster import divide_batch

        return divide_batch(global_batch, self.replicas, f"replicas ({self.describe()})")


def make_distribution(kind="auto", cluster=None, timeout=None):
    """The `Distribution` of a run: joins the other workers of `cluster`
    (a `cluster.Cluster`; default: read from TF_CONFIG, or one process)
    and picks the strategy.

    kind: "auto" (MultiWorkerMirrored with TF_CONFIG, Mirrored with several
    GPUs, JAX DataParallel with several devices or processes, else none),
    "none", "mirrored", "multiworker", "data-parallel" (JAX).
    `timeout`: seconds to wait for the other workers (one-line error after).
    """
    import keras

    from astromer.training import cluster as cluster_module

    backend = keras.backend.backend()
    if cluster is None:
        cluster = cluster_module.cluster_settings(backend, kind)
    timeout = cluster_module.JOIN_TIMEOUT if timeout is None else timeout
    if kind == "none":
        return Distribution()
    if backend == "tensorflow":
        import tensorflow as tf

        if cluster.kind == "tf_config":
            strategy = cluster_module.join_tensorflow(cluster, timeout)
            return Distribution("multiworker", strategy, strategy.num_replicas_in_sync, cluster)
        gpus = tf.config.list_logical_devices("GPU")
        if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
            devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices)
            return Distribution("mirrored", strategy, strategy.num_replicas_in_sync)
        if kind == "auto":
            return Distribution()
        raise ConfigError(f"--strategy {kind} is not available on the TensorFlow backend.")
    if backend == "jax":
        if cluster.kind == "jax":
            cluster_module.join_jax(cluster, timeout)
        import jax

        devices = jax.devices()  # every process's
        if kind == "data-parallel" or (kind == "auto" and len(devices) > 1):
            # Each process feeds its own shard of every global batch.
            keras.distribution.set_distribution(keras.distribution.DataParallel(
                devices=devices, auto_shard_dataset=not cluster.multi))
            return Distribution("data-parallel", None, len(devices), cluster)
        if kind == "auto":
            return Distribution()
        raise ConfigError(f"--strategy {kind} is not available on the JAX backend (use data-parallel).")
    if kind == "auto":
        return Distribution()
    raise ConfigError(f"--strategy {kind} is not supported on the {backend} backend.")


def make_strategy(kind="auto"):
    """A `tf.distribute` strategy (TF backend) or sets a `keras.distribution`
    (JAX). Returns `(strategy or None, number of replicas)`; see
    `make_distribution`."""
    distribution = make_distribution(kind)
    return distribution.strategy, distribution.replicas


def strategy_scope(strategy):
    """`strategy.scope()`, or a scope that does nothing when there is no strategy."""
    return strategy.scope() if strategy is not None else _NullScope()


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
