"""Training together on several devices, machines or processes with the
engines' own machinery: TensorFlow's `tf.distribute` strategies
(`MirroredStrategy` on one machine, `MultiWorkerMirroredStrategy` joined
by `TF_CONFIG`) and JAX processes joined by `jax.distributed` under Keras'
`DataParallel`. Joining is in `astromer.training.cluster`; how to start a
run is in docs/distributed.md.

What this module adds around them:

- `fit_distributed`: the TensorFlow training loop under a strategy.
  Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` for this
  model (keras-team/keras#20329, #20585): it reduces the first batch
  across workers to build the model and cannot with dict inputs, and it
  reduces scalar logs along an axis they do not have. Under
  `MirroredStrategy` the same first-batch reduction fails on a last
  validation batch that does not split evenly over the replicas. The
  loop runs Keras' own `train_step` / `test_step` per replica with
  `strategy.run`, reads the metrics across replicas at the end of each
  epoch (as `fit` does), and drives the same callbacks in the same order;
- `check_agreement`: before any variable exists, every worker checks that
  all resume from the same epoch, with the same settings and the same
  training light curves (a worker that cannot see the chief's
  checkpoints would otherwise train other weights);
- the chief (worker 0) writes the run folder, the others a temporary one
  (saving reads variables across workers, so every worker saves);
- `WorkerLost`: a peer that dies ends the others with one line naming the
  last complete epoch and the command to resume.
"""

import os
import shutil
import tempfile
import zlib

from astromer.errors import AstromerError
from astromer.training.settings import ConfigError

# The exit status of a worker that stops because another one was lost:
# EX_TEMPFAIL ("try again"), what a scheduler's retry can key on.
WORKER_LOST_EXIT = 75


class WorkerLost(AstromerError):
    """Another worker (or process) of a distributed run stopped answering:
    this one stops too; the run resumes from its last checkpoint."""


# ----------------------------------------------------------------------------
# Checks across workers


def agree(distribution, values):
    """All workers' `values` (ints): every worker gets the same list of
    rows, one per worker. One small all-gather; a single process gets its
    own row."""
    import numpy as np

    row = np.asarray([int(v) & 0x7FFFFFFF for v in values], np.int64)
    if not distribution.multi_worker:
        return [row.tolist()]
    if distribution.strategy is not None:
        import tensorflow as tf

        strategy = distribution.strategy

        @tf.function
        def gather(local):
            return strategy.gather(strategy.run(tf.identity, args=(local,)), axis=0)

        rows = np.asarray(gather(tf.constant(row[None, :]))).reshape(-1, len(row))
        # One row per replica: keep the first replica of each worker.
        rows = rows[:: max(1, distribution.replicas // distribution.workers)]
    else:
        from jax.experimental import multihost_utils

        rows = np.asarray(multihost_utils.process_allgather(row)).reshape(-1, len(row))
    return [r.tolist() for r in rows]


def check_agreement(distribution, run_dir, epoch, settings_text, train_count):
    """Raises ConfigError on every worker unless all resume from the same
    epoch with the same settings and the same training light curves."""
    rows = agree(distribution, (epoch, zlib.crc32(settings_text.encode()), train_count))
    for k in range(3):
        seen = [row[k] for row in rows]
        if len(set(seen)) > 1:
            if k == 0:
                detail = ", ".join(f"worker {i}: {'epoch ' + str(e) if e else 'no checkpoint'}"
                                   for i, e in enumerate(seen))
                raise ConfigError(
                    f"the workers do not find the same checkpoint in {run_dir} ({detail}): --resume needs --out on "
                    "storage every worker reads (the chief writes the checkpoints), or the chief's run folder "
                    "copied to the same path on every machine.")
            if k == 1:
                raise ConfigError("the workers do not run with the same settings (preset, --set, --global-batch): "
                                  "start every worker with the same command, only the worker's index differing.")
            raise ConfigError(f"the workers do not read the same data (training light curves per worker: {seen}): "
                              "give every worker the same --data (the same files, at a path each one reads).")


# ----------------------------------------------------------------------------
# Run folders


def scratch_folder(cluster):
    """Where a worker other than the chief writes: TensorFlow expects every
    worker to save (saving reads variables across workers), but only the
    chief's files are the run's. Removed when the run ends."""
    return tempfile.mkdtemp(prefix=f"astromer-worker{cluster.index}-")


def seed_scratch(out_dir, scratch):
    """A non-chief worker resuming: the best weights the chief saved, so that
    its best-epoch bookkeeping agrees with the chief's."""
    from astromer.training.checkpoints import BEST_FILE

    best = os.path.join(out_dir, BEST_FILE)
    if os.path.exists(best):
        shutil.copyfile(best, os.path.join(scratch, BEST_FILE))


# ----------------------------------------------------------------------------
# Lost workers

PEER_ERROR_TYPES = ("UnavailableError", "DeadlineExceededError", "AbortedError", "CancelledError")
PEER_ERROR_TEXT = ("Collective ops is aborted", "heartbeat", "Gloo", "Connection reset by peer", "Socket closed",
                   "failed to connect to all addresses", "Connection refused", "unhealthy")


def is_peer_failure(error):
    """Whether `error` is a collective or the coordination service failing
    because another worker stopped (TensorFlow's status errors, JAX's
    runtime errors from Gloo or its coordination service)."""
    for kind in type(error).__mro__:
        if kind.__name__ in PEER_ERROR_TYPES and "tensorflow" in kind.__module__:
            return True
    text = str(error)
    return any(marker in text for marker in PEER_ERROR_TEXT)


def worker_lost(error, cluster, out_dir, epoch_done):
    what = " ".join(str(error).split())
    what = what if len(what) <= 300 else what[:300] + "..."
    after = f"after epoch {epoch_done}" if epoch_done else "before the first epoch ended"
    return WorkerLost(
        f"{cluster.describe()}: another worker stopped answering, so this one stops too ({type(error).__name__}: "
        f"{what}). The run's last complete checkpoint is {after} in {out_dir}: start every worker again with the same "
        "command and --resume.")


# ----------------------------------------------------------------------------
# TensorFlow: the training loop under a tf.distribute strategy


def distribute(strategy, make_dataset):
    """`make_dataset(index, count)` (worker `index` of `count`'s batches of
    one replica each) as the strategy's input: a worker's replicas take
    its consecutive batches, so one step reads the same windows as one
    device reading the global batch."""
    import tensorflow as tf

    def dataset_fn(context):
        dataset = make_dataset(context.input_pipeline_id, context.num_input_pipelines)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.with_options(options)

    return strategy.distribute_datasets_from_function(dataset_fn)


def _step_functions(model, strategy):
    import tensorflow as tf

    # XLA cannot compile the step's cross-replica collectives (see
    # `astromer.training.loop`): a TensorFlow graph runs it.
    @tf.function
    def train(iterator):
        strategy.run(model.train_step, args=(next(iterator),))

    @tf.function
    def test(batch):
        strategy.run(model.test_step, args=(batch,))

    return train, test


def _metrics(model):
    # Read outside the replicas: Keras' metric variables sum over every
    # replica of every worker (what `fit` logs at the end of an epoch).
    return {name: float(value) for name, value in model.get_metrics_result().items()}


def evaluate_distributed(model, strategy, dataset, test_step=None, callbacks=None):
    """Evaluates on a distributed dataset; returns the logs. Workers may
    hold different numbers of batches: TensorFlow's iterator gives empty
    batches to the replicas that have run out until all have."""
    if test_step is None:
        test_step = _step_functions(model, strategy)[1]
    model.reset_metrics()
    if callbacks is not None:
        callbacks.on_test_begin()
    for step, batch in enumerate(dataset):
        if callbacks is not None:
            callbacks.on_test_batch_begin(step)
        test_step(batch)
        if callbacks is not None:
            callbacks.on_test_batch_end(step, {})
    logs = _metrics(model)
    if callbacks is not None:
        callbacks.on_test_end(logs)
    return logs


def fit_distributed(model, strategy, train, val, epochs, initial_epoch, steps, callbacks, verbose=1):
    """`model.fit` under a `tf.distribute` strategy (see the module
    docstring): `train` yields the epochs `initial_epoch..epochs - 1` back
    to back, `steps` batches each; `val` is read whole after every epoch.
    The callbacks see what they see under `fit`: epochs from
    `initial_epoch`, the epoch logs with `val_` metrics, `stop_training`.
    Returns the History callback."""
    import keras

    history = keras.callbacks.History()
    callbacks = keras.callbacks.CallbackList(list(callbacks) + [history], add_progbar=verbose != 0,
                                             verbose=verbose, epochs=epochs, steps=steps, model=model)
    # `fit` builds the optimizer from a first batch (what fails here); the
    # model is built already, so its variables are all that is needed.
    with strategy.scope():
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    train_step, test_step = _step_functions(model, strategy)
    model.stop_training = False
    callbacks.on_train_begin()
    iterator = iter(train)
    logs = {}
    for epoch in range(int(initial_epoch), int(epochs)):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(int(steps)):
            callbacks.on_train_batch_begin(step)
            train_step(iterator)
            callbacks.on_train_batch_end(step, {})
        logs = _metrics(model)
        if val is not None:
            val_logs = evaluate_distributed(model, strategy, val, test_step, callbacks)
            logs.update({f"val_{name}": value for name, value in val_logs.items()})
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return history
