"""Whole-step graphs on the PyTorch backend (astromer.models.torch_graph) against
Keras' own eager steps. Elsewhere the mixin must leave Keras alone."""

import keras
import numpy as np
import pytest

from astromer.bench.workload import synthetic_windows
from astromer.models.pretrainer import Pretrainer
from tests.conftest import backend, to_numpy
from tests.harness import tiny_backbone

WINDOW = 24


def tiny_pretrainer(dropout=0.2, optimizer=None, jit_compile=False, astroco=False, dtype=None):
    """A compiled two-block Pretrainer (seed 5) of tests.harness.tiny_backbone."""
    extra = dict(kind="astroco", conv_kernel_size=4, ffn_expansion=2) if astroco else {}
    backbone = tiny_backbone(WINDOW, seed=5, num_layers=2, dropout=dropout, dtype=dtype, **extra)
    model = Pretrainer(backbone, uncertainty_weighted=not astroco, dtype=dtype)
    model.compile(optimizer or keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
    return model


def windows(batch=6, seed=0, astroco=False):
    x, y = synthetic_windows(batch, WINDOW, seed=seed)
    names = ("magnitudes", "times", "padding_mask", "hidden_mask") + (("errors",) if astroco else ())
    return {k: v for k, v in x.items() if k in names}, y


def states(model):
    return [to_numpy(v.value) for v in model.variables + model.optimizer.variables]


@pytest.mark.slow  # 22 CPU-s: an XLA compilation
def test_other_backends_keep_keras_steps():
    if backend() == "torch":
        pytest.skip("the PyTorch backend is what the rest of this file tests")
    model = tiny_pretrainer(jit_compile=True)
    assert model._graph_steps() is None
    x, y = windows()
    model.train_on_batch(x, y)
    assert type(getattr(model.train_function, "__self__", None)).__name__ != "GraphSteps"


needs_torch = pytest.mark.skipif(backend() != "torch", reason="PyTorch backend only")


def graph_steps(model, compile):
    from astromer.models.torch_graph import GraphSteps

    model.optimizer.build(model.trainable_variables)
    steps = GraphSteps(model, compile=compile)
    model.train_function, model.test_function, model.predict_function = steps.train, steps.test, steps.predict
    return steps


@needs_torch
@pytest.mark.parametrize("astroco, dtype", [(False, None), (False, "mixed_bfloat16"), (True, None)],
                         ids=["astromer", "astromer-bf16", "astroco"])
def test_traced_steps_repeat_keras_steps_exactly(astroco, dtype):
    # The graph is Keras' step recorded op by op: without Inductor it must
    # give the same bits, weights, Adam slots and dropout seeds included.
    x, y = windows(astroco=astroco)
    eager, traced = tiny_pretrainer(astroco=astroco, dtype=dtype), tiny_pretrainer(astroco=astroco, dtype=dtype)
    steps = graph_steps(traced, compile=False)
    for step in range(3):
        expected = eager.train_on_batch(x, y, return_dict=True)
        got = traced.train_on_batch(x, y, return_dict=True)
        assert got == expected, step
        for a, b in zip(states(eager), states(traced)):
            np.testing.assert_array_equal(a, b)
    assert steps.traces == 1
    assert traced.evaluate(x, y, return_dict=True, verbose=0) == eager.evaluate(x, y, return_dict=True, verbose=0)
    np.testing.assert_array_equal(to_numpy(traced.predict_on_batch(x)), to_numpy(eager.predict_on_batch(x)))


@needs_torch
def test_dropout_masks_change_every_step_inside_the_graph():
    # With a zero learning rate only the dropout masks change between
    # steps: the losses differ only if the seeds are graph inputs (a seed
    # baked in at trace time would repeat the first mask).
    x, y = windows()
    model = tiny_pretrainer(optimizer=keras.optimizers.Adam(0.0))
    graph_steps(model, compile=False)
    losses = [model.train_on_batch(x, y, return_dict=True)["loss"] for _ in range(3)]
    assert len(set(losses)) == 3
    no_dropout = tiny_pretrainer(dropout=0.0, optimizer=keras.optimizers.Adam(0.0))
    graph_steps(no_dropout, compile=False)
    assert len({no_dropout.train_on_batch(x, y, return_dict=True)["loss"] for _ in range(3)}) == 1


@needs_torch
def test_inputs_are_not_baked_into_the_graph():
    # NumPy batches must become graph inputs, not constants of the trace;
    # another batch size traces a second graph.
    model = tiny_pretrainer()
    steps = graph_steps(model, compile=False)
    reference = tiny_pretrainer()
    for seed, batch in ((0, 6), (1, 6), (2, 4)):
        x, _ = windows(batch, seed)
        np.testing.assert_array_equal(to_numpy(model.predict_on_batch(x)), to_numpy(reference.predict_on_batch(x)))
    assert steps.traces == 2


@needs_torch
def test_untraceable_step_falls_back_to_keras_step():
    # Keras' PyTorch SGD reads its learning rate as a Python number.
    x, y = windows()
    eager = tiny_pretrainer(optimizer=keras.optimizers.SGD(0.1))
    model = tiny_pretrainer(optimizer=keras.optimizers.SGD(0.1))
    steps = graph_steps(model, compile=False)
    with pytest.warns(UserWarning, match="cannot be traced"):
        got = model.train_on_batch(x, y, return_dict=True)
    assert got == eager.train_on_batch(x, y, return_dict=True)
    assert steps.traces == 0


@needs_torch
def test_compiled_fit_matches_eager_fit_and_is_one_graph():
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    x, y = windows(8)
    xv, yv = windows(4, seed=1)
    fits = {}
    for jit in (False, True):
        # A large epsilon keeps Adam's steps proportional to the gradients,
        # so float rounding in them stays float rounding in the weights.
        model = tiny_pretrainer(optimizer=keras.optimizers.Adam(1e-2, epsilon=0.1), jit_compile=jit)
        history = model.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), shuffle=False, verbose=0)
        fits[jit] = (history.history, model.get_weights(), to_numpy(model.predict(xv, verbose=0)))
    (eager, w_eager, p_eager), (compiled, w_compiled, p_compiled) = fits[False], fits[True]
    for key in ("loss", "rmse", "r2", "val_loss", "val_rmse", "val_r2"):
        np.testing.assert_allclose(compiled[key], eager[key], rtol=1e-4, err_msg=key)
    for a, b in zip(w_eager, w_compiled):
        np.testing.assert_allclose(b, a, atol=1e-5)
    np.testing.assert_allclose(p_compiled, p_eager, atol=1e-5)
    # One graph for each of train, evaluate and predict (4 of 8 windows per
    # batch, 4 validation windows): nothing cut by Dynamo.
    assert not counters["graph_break"]
    assert counters["stats"]["unique_graphs"] == 3


@needs_torch
def test_compiled_bf16_steps_match_the_fp32_model_within_bf16_tolerance():
    # The fast configuration (bf16, one compiled graph) against the plain
    # one (fp32, Keras' eager step), from the same weights.
    x, y = windows(8)
    plain = tiny_pretrainer(dropout=0.0, optimizer=keras.optimizers.Adam(1e-3))
    fast = tiny_pretrainer(dropout=0.0, optimizer=keras.optimizers.Adam(1e-3), jit_compile=True,
                           dtype="mixed_bfloat16")
    fast.set_weights(plain.get_weights())
    expected = to_numpy(plain.predict_on_batch(x))
    got = to_numpy(fast.predict_on_batch(x)).astype("float32")
    # bf16 keeps 8 bits of mantissa: relative error ~ 2^-8 per rounding.
    np.testing.assert_allclose(got, expected, rtol=3e-2, atol=3e-2 * np.abs(expected).max())
    for _ in range(2):
        a = plain.train_on_batch(x, y, return_dict=True)["loss"]
        b = fast.train_on_batch(x, y, return_dict=True)["loss"]
        assert b == pytest.approx(a, rel=2e-2)
    assert fast.train_function.__self__.traces == 1
