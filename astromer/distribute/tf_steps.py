"""Training and evaluating under a TensorFlow strategy: `fit`'s loop with
Keras' own `train_step` / `test_step` run on every replica by
`strategy.run` (Keras 3's `fit` fails under these strategies for this model:
docs/distributed.md, "What was chosen, and why"), the metrics read across
replicas at the end of each epoch and the callbacks called as `fit` calls
them; and the loss of the global batch on every replica."""

import numpy as np


def sum_over_replicas(*values):
    """`(values summed over the replicas of the step, number of replicas)`;
    the values themselves outside a step of several replicas."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values, 1
    return context.all_reduce(tf.distribute.ReduceOp.SUM, list(values)), context.num_replicas_in_sync


def global_batch_loss(model):
    """Makes a `Pretrainer`'s loss that of the global batch on every replica
    of a TensorFlow strategy's step (its square root of a mean does not
    split across replicas: `Pretrainer.compute_loss`); `model` is returned.
    Done by `fit` and `evaluate` here; needed too where Keras' own `fit`
    runs the model under a `MirroredStrategy`."""
    model.sum_over_replicas = sum_over_replicas
    return model


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


def gather(strategy, row):
    """Every replica's `row` (int64), one row per replica."""
    import tensorflow as tf

    @tf.function
    def run(local):
        return strategy.gather(strategy.run(tf.identity, args=(local,)), axis=0)

    return np.asarray(run(tf.constant(row[None, :]))).reshape(-1, len(row))


def _step_functions(model, strategy):
    import tensorflow as tf

    global_batch_loss(model)

    # A TensorFlow graph, not XLA (see `Distribution.per_replica_steps`).
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


def evaluate(model, strategy, dataset, test_step=None, callbacks=None):
    """Evaluates on a distributed dataset; returns the logs. Workers may
    hold different numbers of batches: TensorFlow's iterator gives empty
    batches to the replicas that have run out until all have."""
    import keras

    test_step = test_step or _step_functions(model, strategy)[1]
    callbacks = keras.callbacks.CallbackList([]) if callbacks is None else callbacks
    model.reset_metrics()
    callbacks.on_test_begin()
    for step, batch in enumerate(dataset):
        callbacks.on_test_batch_begin(step)
        test_step(batch)
        callbacks.on_test_batch_end(step, {})
    logs = _metrics(model)
    callbacks.on_test_end(logs)
    return logs


def fit(model, strategy, inputs, epochs, callbacks, verbose):
    """`model.fit` under `strategy`: `inputs` is (train, val, steps, _),
    `train` yielding the epochs `epochs` = (initial, end) back to back,
    `steps` batches each, and `val` read whole after every epoch. The
    callbacks see what they see under `fit`: epochs from the initial one,
    the epoch logs with `val_` metrics, `stop_training`. Returns the
    History callback."""
    import keras

    train, val, steps, _ = inputs[:4]
    initial_epoch, end = (int(e) for e in epochs)
    history = keras.callbacks.History()
    callbacks = keras.callbacks.CallbackList(list(callbacks) + [history], add_progbar=verbose != 0,
                                             verbose=verbose, epochs=end, steps=steps, model=model)
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
    for epoch in range(initial_epoch, end):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(int(steps)):
            callbacks.on_train_batch_begin(step)
            train_step(iterator)
            callbacks.on_train_batch_end(step, {})
        logs = _metrics(model)
        if val is not None:
            val_logs = evaluate(model, strategy, val, test_step, callbacks)
            logs.update({f"val_{name}": value for name, value in val_logs.items()})
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return history
