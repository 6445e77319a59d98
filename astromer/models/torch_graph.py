"""Keras training, evaluation and prediction steps as one PyTorch graph each.

Dynamo cuts Keras' own compiled step at Keras' Python (20 graphs for a
2-block Astromer 2). Here the step is a pure function of the variables'
values (Keras' stateless API, as JAX runs it), recorded once with `make_fx`
and compiled whole; seed states are graph inputs and outputs (`HashDropout`),
and a new batch shape traces again. How and why, with measurements:
docs/performance.md; tests/models/test_graph_steps.py compares the results
with Keras' own step. Only imported on the PyTorch backend.
"""

import warnings

import keras
import torch
from keras import tree
from torch.fx.experimental.proxy_tensor import make_fx

from astromer.models.step_state import step_state_variables

# Only public Keras API is imported (`keras.tree`, `keras.StatelessScope`,
# `keras.ops.convert_to_tensor`, `keras.utils.unpack_x_y_sample_weight`;
# checked in Keras 3.12.0 and 3.15.1). The steps still touch two private
# attributes that Keras' own trainers use and that have no public
# equivalent: `model._loss_tracker` (the "loss" metric) and
# `layer._losses_override` (how the JAX trainer passes the losses of a
# stateless call); both exist unchanged in Keras 3.12.0 and 3.15.1.


def _values(variables):
    return [v.value.detach() for v in variables]


def _as_tensors(batch):
    # NumPy leaves would be traced as constants of the graph.
    return tree.map_structure(lambda v: None if v is None else keras.ops.convert_to_tensor(v), batch)


def _signature(batch):
    return tuple(None if leaf is None else (tuple(leaf.shape), leaf.dtype, leaf.device)
                 for leaf in tree.flatten(batch))


class GraphSteps:
    """Traced and compiled train / test / predict steps of one Keras model.

    Each step function takes Keras' `data` argument (a one-element list
    holding the batch) and returns what Keras' own step returns: the logs
    of `get_metrics_result()` for training and evaluation, the model's
    outputs for prediction. The variables are updated in place, so the
    model, its optimizer and its metrics read as after Keras' own step.

    Args:
        model: a compiled `keras.Model` on the PyTorch backend.
        compile_mode: `torch.compile` mode (None: Inductor's default;
            "max-autotune-no-cudagraphs" tunes the GEMMs on the GPU).
        compile: bool. False runs the traced graph without Inductor (for
            tests: the traced operations themselves).

    A step that cannot be traced (an operation that reads a tensor's value
    into Python, as Keras' PyTorch SGD does with its learning rate) warns
    once per batch shape and runs Keras' eager step.
    """

    def __init__(self, model, compile_mode=None, compile=True):
        self.model = model
        self.compile_mode = compile_mode
        self.compile = compile
        self._graphs = {}
        self.traces = 0

    # The step functions are traced from these pure functions of values.

    def _train(self, trainable, non_trainable, optimizer_vars, metrics_vars, data):
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        trainable = [t.detach().requires_grad_(True) for t in trainable]
        with torch.enable_grad():
            y_pred, non_trainable, losses = model.stateless_call(
                trainable, non_trainable, x, return_losses=True, training=True
            )
            if losses:
                model._losses_override = losses
            loss, (_, non_trainable, metrics_vars) = model.stateless_compute_loss(
                trainable, non_trainable, metrics_vars, x=x, y=y, y_pred=y_pred,
                sample_weight=sample_weight, training=True,
            )
            if losses:
                model._losses_override = []
            unscaled = loss
            mapping = list(zip(model.optimizer.variables, optimizer_vars))
            with keras.StatelessScope(state_mapping=mapping):
                loss = model.optimizer.scale_loss(loss)
            grads = torch.autograd.grad(loss, trainable)
        # Keras' PyTorch optimizers update in place (`torch._foreach_*`):
        # give them copies, the graph's inputs stay unchanged.
        trainable, optimizer_vars = model.optimizer.stateless_apply(
            [v.clone() for v in optimizer_vars], list(grads), [t.detach().clone() for t in trainable]
        )
        y_pred = tree.map_structure(lambda t: t.detach(), y_pred)
        metrics_vars = self._metrics(metrics_vars, unscaled.detach(), x, y, y_pred, sample_weight)
        return list(trainable), list(non_trainable), list(optimizer_vars), metrics_vars

    def _test(self, trainable, non_trainable, metrics_vars, data):
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=False)
        loss, (_, _, metrics_vars) = model.stateless_compute_loss(
            trainable, non_trainable, metrics_vars, x=x, y=y, y_pred=y_pred,
            sample_weight=sample_weight, training=False,
        )
        return self._metrics(metrics_vars, loss, x, y, y_pred, sample_weight)

    def _predict(self, trainable, non_trainable, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.model.stateless_call(trainable, non_trainable, x, training=False)[0]

    def _metrics(self, metrics_vars, loss, x, y, y_pred, sample_weight):
        model = self.model
        mapping = list(zip(model.metrics_variables, metrics_vars))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            batch = next(i for i in tree.flatten(x) if i is not None).shape[0]
            model._loss_tracker.update_state(loss, sample_weight=batch)
            model.compute_metrics(x, y, y_pred, sample_weight)
        updated = [scope.get_current_value(v) for v in model.metrics_variables]
        return [value if new is None else new for new, value in zip(updated, metrics_vars)]

    def _groups(self, kind):
        return step_state_variables(self.model, kind)

    def _graph(self, kind, data):
        """The compiled graph for this kind of step and batch signature;
        None where the step cannot be traced (Keras' step runs instead)."""
        key = (kind, _signature(data))
        if key in self._graphs:
            return self._graphs[key]
        function = {"train": self._train, "test": self._test, "predict": self._predict}[kind]
        # Traced by running it once on copies: the trace must not change
        # the model's variables.
        example = [[v.clone() for v in _values(group)] for group in self._groups(kind)]
        graph = None
        try:
            with torch.no_grad():
                graph = make_fx(lambda *args: function(*args))(*example, data)
        except Exception as error:  # noqa: BLE001 - whatever makes a step untraceable
            # e.g. Keras' PyTorch SGD reads its learning rate as a Python
            # number; Keras' own step still runs it.
            warnings.warn(
                f"{type(self.model).__name__}: the {kind} step cannot be traced into one "
                f"PyTorch graph ({type(error).__name__}: {str(error).strip().splitlines()[0]}); "
                "running Keras' eager step instead.", stacklevel=3,
            )
        if graph is not None:
            if self.compile:
                graph = torch.compile(graph, mode=self.compile_mode, fullgraph=True, dynamic=False)
            self.traces += 1
        self._graphs[key] = graph
        return graph

    def _write_back(self, groups, values):
        targets, sources = [], []
        for group, new in zip(groups, values):
            for variable, value in zip(group, new):
                targets.append(variable.value)
                sources.append(value)
        with torch.no_grad():
            torch._foreach_copy_(targets, [s.to(t.dtype) for t, s in zip(targets, sources)])

    def train(self, data):
        data = _as_tensors(data[0])
        graph = self._graph("train", data)
        if graph is None:
            return self.model.train_step(data)
        groups = self._groups("train")
        with torch.no_grad():
            new = graph(*[_values(g) for g in groups], data)
        self._write_back(groups, new)
        return self.model.get_metrics_result()

    def test(self, data):
        data = _as_tensors(data[0])
        graph = self._graph("test", data)
        groups = self._groups("test")
        with torch.no_grad():
            if graph is None:
                return self.model.test_step(data)
            metrics = graph(*[_values(g) for g in groups], data)
        self._write_back([self.model.metrics_variables], [metrics])
        return self.model.get_metrics_result()

    def predict(self, data):
        data = _as_tensors(data[0])
        graph = self._graph("predict", data)
        with torch.no_grad():
            if graph is None:
                return self.model.predict_step(data)
            return graph(*[_values(g) for g in self._groups("predict")], data)
