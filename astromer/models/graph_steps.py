"""Whole-step graphs on Keras' PyTorch backend, for every astromer model."""

import keras


class GraphStepsMixin:
    """Mix into a `keras.Model`: on the PyTorch backend with
    `jit_compile=True`, `fit`, `evaluate` and `predict` run each step as one
    traced and compiled PyTorch graph (`astromer.torch_graph.GraphSteps`)
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
        from astromer.torch_graph import GraphSteps

        return GraphSteps(self, compile_mode=getattr(self, "torch_compile_mode", None))

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        steps = self._graph_steps()
        if steps is None:
            return super().make_train_function(force)
        self.train_function = steps.train
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is not None and not force:
            return self.test_function
        steps = self._graph_steps()
        if steps is None:
            return super().make_test_function(force)
        self.test_function = steps.test
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        steps = self._graph_steps()
        if steps is None:
            return super().make_predict_function(force)
        self.predict_function = steps.predict
        return self.predict_function


class GraphModel(GraphStepsMixin, keras.Model):
    """A functional `keras.Model` (inputs, outputs) with `GraphStepsMixin`'s
    whole-step graphs on the PyTorch backend."""
