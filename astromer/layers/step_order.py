"""Reordering the steps of each window (for key-length attention)."""

import keras
from keras import ops


def masked_last_order(ignore_mask):
    """A per-row reordering of the steps that puts masked steps last.

    Astromer's layers are per-step except attention, which is equivariant
    to a reordering of its steps; so a window can run through the encoder
    with its visible steps first (each group keeping its time order) and
    its masked keys excluded by a length instead of a bias
    (`astromer.layers.attention.key_length_attention`).

    Args:
        ignore_mask: `(batch, steps)`, 1 on steps to keep out of attention.

    Returns `(order, restore, key_lengths)`: `PermuteSteps()(x, order)`
    sorts, `PermuteSteps()(sorted, restore)` undoes it, and `key_lengths`
    `(batch,)` int32 counts the visible steps, clamped to at least 1 (a
    window with no visible step attends to its first step instead of to all
    of them equally, as a -1e9 bias would: both are meaningless).
    """
    steps = ops.shape(ignore_mask)[1]
    ignore = ops.cast(ignore_mask, "float32")
    # Distinct float keys (exact below 2^24 steps): no reliance on a stable sort.
    sort_key = ignore * float(steps) + ops.cast(ops.arange(steps), "float32")[None, :]
    order = ops.argsort(sort_key, axis=-1)
    restore = ops.argsort(order, axis=-1)
    visible = ops.sum(1.0 - ignore, axis=-1)
    key_lengths = ops.cast(ops.maximum(visible, 1.0), "int32")
    return order, restore, key_lengths


@keras.saving.register_keras_serializable(package="astromer")
class PermuteSteps(keras.layers.Layer):
    """`out[b, i] = x[b, index[b, i]]` for a permutation `index` of each row.

    The same as `take_along_axis(x, index, axis=1)`, but on JAX the gather
    is told its indices are unique, so its gradient is a plain permuting
    store rather than a scatter-add with atomics (a `(batch, steps,
    hidden_dim)` one in every training step of a key-length model).

    Call arguments:
        inputs: `(batch, steps)` or `(batch, steps, features)`.
        index: `(batch, steps)` int, each row a permutation of the steps.

    Returns a tensor shaped like `inputs`.
    """

    def call(self, inputs, index):
        if keras.backend.backend() == "jax":
            import jax.numpy as jnp

            rows = jnp.arange(inputs.shape[0])[:, None]
            return inputs.at[rows, index].get(unique_indices=True)
        if len(inputs.shape) == 3:
            index = index[:, :, None]
        return ops.take_along_axis(inputs, index, axis=1)

    def compute_output_shape(self, inputs_shape, index_shape):
        return tuple(inputs_shape)
