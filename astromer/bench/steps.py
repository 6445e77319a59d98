"""How the timed steps of `astromer-bench model` run: `model_steps`
returns `run(n)`, n training or embedding steps on batches already on the
device, synced (every result brought to the host) or queued (the last
only, as the PyTorch reference times itself).
"""

import numpy as np


def on_device(tree):
    """A dict of NumPy arrays placed on the backend's default device, so
    that the timed steps move no input from the host."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.device_put(tree)
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return {k: torch.as_tensor(v, device=device) for k, v in tree.items()}
    if backend == "tensorflow":
        import tensorflow as tf

        return {k: tf.constant(v) for k, v in tree.items()}
    return tree


def step_state(model):
    """The values a stateless training step carries from step to step:
    trainable, non-trainable, optimizer and metric variables (JAX)."""
    from astromer.models.step_state import step_state_variables

    return [[v.value for v in group] for group in step_state_variables(model)]


def stateless_embedding(pooled):
    """`(embed, weights)`: the pooled embedding model as a pure function
    `embed(trainable, non_trainable, inputs)` and its current weights, for
    `jax.jit` to compile (JAX)."""
    weights = ([v.value for v in pooled.trainable_variables], [v.value for v in pooled.non_trainable_variables])

    def embed(trainable, other, inputs):
        return pooled.stateless_call(trainable, other, inputs)[0]

    return embed, weights


def model_steps(model, mode, x, y, sync):
    """`run(n)`: n training (`train`) or embedding steps of a compiled model
    on device-resident batches; returns the last result on the host (the
    loss as a float, or the pooled embeddings' shape). `sync="step"` brings
    every step's result to the host before the next starts; `sync="end"`
    (JAX, PyTorch) queues the steps back to back and waits for the last
    only: each training step takes the previous step's weights, so the last
    loss cannot arrive before every step has run.
    """
    import keras

    if sync == "end":
        if keras.backend.backend() == "torch":
            return _queued_torch_steps(model, mode, x, y)
        return _queued_jax_steps(model, mode, x, y)
    if mode == "train":
        def step():
            return float(model.train_on_batch(x, y, return_dict=True)["loss"])
    else:
        def step():
            return np.asarray(model.predict_on_batch(x)).shape

    def run(n):
        result = None
        for _ in range(n):
            result = step()
        return result

    return run


def _queued_torch_steps(model, mode, x, y):
    # Keras' step functions (with `jit_compile`, one compiled graph each,
    # astromer.models.torch_graph) run asynchronously on a GPU until a result is
    # read: only the last step's is. The first step goes through Keras'
    # `*_on_batch`, which builds the optimizer, metrics and step function.
    step = None

    def run(n):
        nonlocal step
        result = None
        for _ in range(n):
            if step is None:
                if mode == "train":
                    result = {"loss": model.train_on_batch(x, y, return_dict=True)["loss"]}
                    step = model.make_train_function()
                else:
                    result = model.predict_on_batch(x)
                    step = model.make_predict_function()
            elif mode == "train":
                model.reset_metrics()  # the last batch's loss, as `train_on_batch` reports
                result = step([(x, y, None)])  # the batch as `train_on_batch` passes it: the same graph
            else:
                result = step([(x,)])
        if result is None:
            return None
        return float(result["loss"]) if mode == "train" else tuple(np.asarray(result).shape)

    return run


def _queued_jax_steps(model, mode, x, y):
    import jax

    from astromer.models.step_state import step_state_variables

    if mode == "train":
        # What `fit` jits on JAX: Keras' stateless train step; the state
        # (weights, optimizer slots, metrics) goes from step to step. The
        # first step goes through `train_on_batch`, which builds the
        # optimizer and the compiled metrics.
        train_step = jax.jit(model.train_step)
        state = zero_metrics = None

        def run(n):
            nonlocal state, zero_metrics
            if n == 0:
                return None
            if state is None:
                loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
                # Metrics start from zero every step (as in `train_on_batch`),
                # so the loss returned is the last batch's, not a running mean.
                model.reset_metrics()
                state = step_state(model)
                zero_metrics = state[3]
                if n == 1:
                    return loss
                n -= 1
            for _ in range(n):
                logs, state = train_step([*state[:3], zero_metrics], (x, y, None))
            for group, values in zip(step_state_variables(model), state):
                for variable, value in zip(group, values):
                    variable.assign(value)
            return float(logs["loss"])

        return run

    embed, weights = stateless_embedding(model)
    embed = jax.jit(embed)

    def run(n):
        outputs = None
        for _ in range(n):
            outputs = embed(*weights, x)
        return np.asarray(outputs).shape if outputs is not None else None

    return run
