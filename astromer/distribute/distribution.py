"""How a run is spread (`Distribution`): the strategy, the replicas and the
workers, and what a training loop asks of them: a scope to build the model
in, `fit`, the test split's evaluation, the workers' agreement before any
variable exists, and one line when another worker is lost."""

import contextlib
import tempfile
import zlib

from astromer.distribute.cluster import JOIN_TIMEOUT, Cluster, cluster_settings, divide_batch
from astromer.errors import ConfigError, WorkerLost

# The exit status of a worker that stops because another one was lost:
# EX_TEMPFAIL ("try again"), what a scheduler's retry can key on.
WORKER_LOST_EXIT = 75
# A collective or the coordination service failing because another worker
# stopped: TensorFlow's status errors, JAX's runtime errors from Gloo or its
# coordination service.
PEER_ERROR_TYPES = ("UnavailableError", "DeadlineExceededError", "AbortedError", "CancelledError")
PEER_ERROR_TEXT = ("Collective ops is aborted", "heartbeat", "Gloo", "Connection reset by peer", "Socket closed",
                   "failed to connect to all addresses", "Connection refused", "unhealthy")


class Distribution:
    """How a run is spread: `replicas` model copies in sync (devices over
    every worker), `workers` processes of which this one is `worker`
    (0, the chief, writes the run's outputs).

    kind: "none", "mirrored" (TensorFlow, one machine's devices),
    "multiworker" (TensorFlow, TF_CONFIG), "data-parallel" (JAX, every
    device of every process). `strategy` is TensorFlow's strategy, or None
    (JAX sets a `keras.distribution` instead).
    """

    def __init__(self, kind="none", strategy=None, replicas=1, cluster=None):
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

    @property
    def per_replica_steps(self):
        """Whether each replica runs its own step (TensorFlow's strategies):
        then no XLA, which cannot compile the step's cross-replica
        collectives (Keras' `jit_compile="auto"` turns it off there too)."""
        return self.strategy is not None

    def describe(self):
        if self.multi_worker:
            return f"{self.replicas} replica(s) on {self.workers} workers; this is {self.cluster.describe()}"
        return f"{self.replicas} replica(s)"

    def split_batch(self, global_batch):
        """The per-replica batch of a global batch; ConfigError unless the
        replicas share it evenly."""
        return divide_batch(global_batch, self.replicas, f"replicas ({self.describe()})")

    def scope(self):
        """Where the model and its optimizer are built (or loaded)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def run_folder(self, out_dir):
        """Where this worker writes: `out_dir` for the chief, a temporary
        folder for the others (TensorFlow expects every worker to save, as
        saving reads variables across workers; only the chief's files are
        the run's). The caller removes a temporary one."""
        return out_dir if self.chief else tempfile.mkdtemp(prefix=f"astromer-worker{self.worker}-")

    def fit(self, model, inputs, epochs, initial_epoch, callbacks, verbose):
        """`model.fit` on `inputs` (train, val, steps per epoch, validation
        steps); under a TensorFlow strategy `tf_steps.fit` instead."""
        train, val, steps, val_steps = inputs[:4]
        if self.strategy is not None:
            from astromer.distribute import tf_steps

            return tf_steps.fit(model, self.strategy, inputs, (initial_epoch, epochs), callbacks, verbose)
        # shuffle=False: the input pipelines draw and shuffle windows
        # themselves (Keras would only warn that it ignores the default).
        return model.fit(train, validation_data=val, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                         steps_per_epoch=steps, validation_steps=val_steps, callbacks=callbacks, verbose=verbose)

    def distribute_dataset(self, make_dataset):
        """`make_dataset(worker, workers)` (one replica's batches) as the
        TensorFlow strategy's input (the input pipeline calls this, so it
        names no `tf.distribute`)."""
        from astromer.distribute import tf_steps

        return tf_steps.distribute(self.strategy, make_dataset)

    def evaluate(self, model, make_dataset):
        """The logs of evaluating `model` under a TensorFlow strategy, every
        replica together on `make_dataset(worker, workers)` (one replica's
        batches)."""
        from astromer.distribute import tf_steps

        return tf_steps.evaluate(model, self.strategy, tf_steps.distribute(self.strategy, make_dataset))

    def check_agreement(self, run_dir, epoch, settings_text, train_count):
        """Raises ConfigError on every worker unless all resume from the same
        `epoch` with the same settings and the same number of training light
        curves (a worker that cannot see the chief's checkpoints would
        otherwise train other weights)."""
        rows = self._gather((epoch, zlib.crc32(settings_text.encode()), train_count))
        differ = [len({row[k] for row in rows}) > 1 for k in range(3)]
        if differ[0]:
            detail = ", ".join(f"worker {i}: {'epoch ' + str(row[0]) if row[0] else 'no checkpoint'}"
                               for i, row in enumerate(rows))
            raise ConfigError(
                f"the workers do not find the same checkpoint in {run_dir} ({detail}): --resume needs --out on "
                "storage every worker reads (the chief writes the checkpoints), or the chief's run folder "
                "copied to the same path on every machine.")
        if differ[1]:
            raise ConfigError("the workers do not run with the same settings (preset, --set, --global-batch): "
                              "start every worker with the same command, only the worker's index differing.")
        if differ[2]:
            raise ConfigError(f"the workers do not read the same data (training light curves per worker: "
                              f"{[row[2] for row in rows]}): give every worker the same --data (the same files, "
                              "at a path each one reads).")

    def _gather(self, values):
        """Every worker's `values` (ints), one row per worker, in every
        worker: one small all-gather."""
        import numpy as np

        row = np.asarray([int(v) & 0x7FFFFFFF for v in values], np.int64)
        if not self.multi_worker:
            return [row.tolist()]
        if self.strategy is not None:
            from astromer.distribute import tf_steps

            rows = tf_steps.gather(self.strategy, row)
            # One row per replica: keep the first replica of each worker.
            rows = rows[:: max(1, self.replicas // self.workers)]
        else:
            from jax.experimental import multihost_utils

            rows = np.asarray(multihost_utils.process_allgather(row)).reshape(-1, len(row))
        return [r.tolist() for r in rows]

    def lost_worker(self, error, out_dir, epoch_done):
        """A `WorkerLost` naming the last complete epoch when `error` is
        another worker's loss (`PEER_ERROR_TYPES`, `PEER_ERROR_TEXT`); else None."""
        peer = any(kind.__name__ in PEER_ERROR_TYPES and "tensorflow" in kind.__module__
                   for kind in type(error).__mro__) or any(marker in str(error) for marker in PEER_ERROR_TEXT)
        if not (self.multi_worker and peer):
            return None
        what = " ".join(str(error).split())
        what = what if len(what) <= 300 else what[:300] + "..."
        after = f"after epoch {epoch_done}" if epoch_done else "before the first epoch ended"
        return WorkerLost(
            f"{self.cluster.describe()}: another worker stopped answering, so this one stops too "
            f"({type(error).__name__}: {what}). The run's last complete checkpoint is {after} in {out_dir}: start "
            "every worker again with the same command and --resume.")


def make_distribution(kind="auto", cluster=None, timeout=None):
    """The `Distribution` of a run: joins the other workers of `cluster`
    (default: read from TF_CONFIG or the JAX settings, or one process)
    within `timeout` seconds, and picks the strategy.

    kind: "auto" (MultiWorkerMirrored with TF_CONFIG, Mirrored with several
    GPUs, JAX DataParallel with several devices or processes, else none),
    "none", "mirrored", "multiworker", "data-parallel" (JAX).
    """
    import keras

    from astromer.distribute import cluster as joining

    backend = keras.backend.backend()
    cluster = cluster_settings(backend, kind) if cluster is None else cluster
    timeout = JOIN_TIMEOUT if timeout is None else timeout
    if kind == "none":
        return Distribution()
    if backend == "tensorflow":
        import tensorflow as tf

        if cluster.kind == "tf_config":
            strategy = joining.join_tensorflow(cluster, timeout)
            return Distribution("multiworker", strategy, strategy.num_replicas_in_sync, cluster)
        gpus = tf.config.list_logical_devices("GPU")
        if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
            devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices)
            return Distribution("mirrored", strategy, strategy.num_replicas_in_sync)
    elif backend == "jax":
        if cluster.kind == "jax":
            joining.join_jax(cluster, timeout)
        import jax

        devices = jax.devices()  # every process's
        if kind == "data-parallel" or (kind == "auto" and len(devices) > 1):
            # Each process feeds its own shard of every global batch.
            keras.distribution.set_distribution(keras.distribution.DataParallel(
                devices=devices, auto_shard_dataset=not cluster.multi))
            return Distribution("data-parallel", None, len(devices), cluster)
    if kind == "auto":
        return Distribution()
    refusal = {"tensorflow": "is not available on the TensorFlow backend",
               "jax": "is not available on the JAX backend (use data-parallel)"}
    raise ConfigError(f"--strategy {kind} {refusal.get(backend, f'is not supported on the {backend} backend')}.")
