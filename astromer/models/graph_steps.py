"""Whole-step graphs on Keras' PyTorch backend, for every astromer model."""

import keras


class GraphStepsMixin:
    """Mix into a `keras.Model`: on the PyTorch backend with
    `jit_compile=True`, `fit`, `evaluate` and `predict` run each step as one
    traced and compiled PyTorch graph (`astromer.models.torch_graph.GraphSteps`)
    instead of Keras' `torch.compile` of its Python step, which Dynamo cuts
    into many graphs. Same results as Keras' step (float tolerance once
    Inductor fuses); other backends, `jit_compile=False` and distributed
    models are left to Keras. A `torch_compile_mode` attribute set before
    the first step picks `torch.compile`'s mode (e.g. "reduce-overhead":
    CUDA graphs; "max-autotune-no-cudagraphs").
    """

    def _graph_steps(self):
        if keras.backend.backend() != "torch" or not self.jit_compile:
            return None
        if keras.distribution.distribution() is not None:
            return None
        # Lazy: torch_graph imports torch, which only the PyTorch backend needs.
        from astromer.models.torch_graph import GraphSteps

        return GraphSteps(self, compile_mode=getattr(self, "torch_compile_mode", None))

    def _step_function(self, kind, force, keras_make):
        attribute = f"{kind}_function"
        if getattr(self, attribute) is not None and not force:
            return getattr(self, attribute)
        steps = self._graph_steps()
        if steps is None:
            return keras_make(force)
        setattr(self, attribute, getattr(steps, kind))
        return getattr(self, attribute)

    def make_train_function(self, force=False):
        return self._step_function("train", force, super().make_train_function)

    def make_test_function(self, force=False):
        return self._step_function("test", force, super().make_test_function)

    def make_predict_function(self, force=False):
        return self._step_function("predict", force, super().make_predict_function)


class GraphModel(GraphStepsMixin, keras.Model):
    """A functional `keras.Model` (inputs, outputs) with `GraphStepsMixin`'s
    whole-step graphs on the PyTorch backend."""
