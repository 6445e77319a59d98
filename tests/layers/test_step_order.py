import keras
import numpy as np
import pytest

from astromer.layers.step_order import PermuteSteps, masked_last_order
from tests.conftest import to_numpy


def test_masked_last_order_by_hand():
    mask = np.array([[0, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], "float32")
    order, restore, lengths = (keras.ops.convert_to_numpy(t) for t in masked_last_order(mask))
    # Visible steps first, each group in time order; all-masked rows keep one key.
    np.testing.assert_array_equal(order, [[0, 2, 4, 1, 3], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(np.take_along_axis(order, restore, axis=1), np.tile(np.arange(5), (3, 1)))
    np.testing.assert_array_equal(lengths, [3, 1, 5])


def test_permute_steps_values_in_2d_and_3d():
    rng = np.random.default_rng(0)
    index = np.stack([rng.permutation(6) for _ in range(3)]).astype("int32")
    x2 = rng.normal(size=(3, 6)).astype("float32")
    x3 = rng.normal(size=(3, 6, 4)).astype("float32")
    layer = PermuteSteps()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x2, index)), np.take_along_axis(x2, index, 1))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x3, index)), np.take_along_axis(x3, index[:, :, None], 1)
    )


def test_permute_steps_gradient_is_the_inverse_permutation():
    # d/dx sum(w * x[index]) = w[inverse(index)]: what the unique-index
    # gather must give back (JAX) and what take_along_axis gives (TF).
    rng = np.random.default_rng(1)
    index = np.stack([rng.permutation(6) for _ in range(2)]).astype("int32")
    inverse = np.argsort(index, axis=1).astype("int32")
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    w = rng.normal(size=(2, 6, 3)).astype("float32")
    layer = PermuteSteps()
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        grad = to_numpy(jax.grad(lambda v: (layer(v, index) * w).sum())(x))
    elif backend == "tensorflow":
        import tensorflow as tf

        v = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = tf.reduce_sum(layer(v, index) * w)
        grad = tape.gradient(loss, v).numpy()
    else:
        pytest.skip("gradient check written for JAX and TensorFlow")
    np.testing.assert_allclose(grad, np.take_along_axis(w, inverse[:, :, None], 1), rtol=1e-6)
