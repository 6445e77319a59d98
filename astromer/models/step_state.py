"""Which variables a Keras step reads and writes, in a fixed order.

In its own module because two places need the same order: the PyTorch
whole-step graphs (`astromer.models.torch_graph`, whose traced graphs take
and return these groups) and the benchmarks that copy a model's state around
a timed step. `astromer.models.graph_steps` imports `torch_graph` lazily; if
this function lived there, `torch_graph` importing it back would close an
import cycle.
"""


def step_state_variables(model, kind="train"):
    """The variable groups a `kind` step ("train", "test", "predict") reads
    and writes, in the order of Keras' JAX trainer state: weights,
    non-trainable variables, then optimizer slots (train) and metrics
    (train, test)."""
    groups = [model.trainable_variables, model.non_trainable_variables]
    if kind == "train":
        groups.append(model.optimizer.variables)
    if kind in ("train", "test"):
        groups.append(model.metrics_variables)
    return tuple(groups)
