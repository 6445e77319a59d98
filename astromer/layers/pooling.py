"""Reductions of per-step embeddings: masked pooling over time, mixing over layers."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer


def _valid_steps(padding_mask, steps_like):
    """`(batch, steps)` bool, True on real steps (`padding_mask` is 1 on padding).

    `None` means every step is real.
    """
    if padding_mask is None:
        return ops.ones_like(steps_like[..., 0], dtype="bool")
    # `< 0.5` rather than `== 0` so float, int and bool masks all work.
    return ops.less(ops.cast(padding_mask, "float32"), 0.5)


@keras.saving.register_keras_serializable(package="astromer")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over the real (non-padded) steps of a sequence.

    Astromer has no [CLS] token, so a window's embedding is the average of
    its per-step outputs over the observed steps (Astromer 2 paper,
    Sect. 5.4; AstroCo paper, Sect. 3.3). Padded steps carry backbone
    outputs too (their attention is masked, not their rows), so they must be
    left out explicitly. A window that is all padding pools to zeros (not
    NaN), so a stray empty window cannot poison a batch.

    The sum runs in float32 also under mixed precision: 200 bfloat16 terms
    would lose most of their mantissa.

    Call arguments:
        inputs: `(batch, steps, dim)`.
        padding_mask: `(batch, steps)`, 1 on padded steps; `None` = no padding.

    Returns `(batch, dim)`, in the input's dtype.

    Example:
    >>> x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    >>> MaskedMeanPooling()(x, np.array([[0, 0, 1]], "float32"))
    [[1., 2.]]
    """

    def call(self, inputs, padding_mask=None):
        valid = _valid_steps(padding_mask, inputs)
        weights = ops.cast(valid, "float32")[..., None]
        # `where`, not a product: a NaN/inf on a padded row must not leak.
        values = ops.where(valid[..., None], ops.cast(inputs, "float32"), 0.0)
        total = ops.sum(values, axis=1)
        count = ops.sum(weights, axis=1)
        # max(count, 1): an all-padding window gives 0 / 1 = 0.
        return ops.cast(total / ops.maximum(count, 1.0), inputs.dtype)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])


@keras.saving.register_keras_serializable(package="astromer")
class MaskedMaxPooling(keras.layers.Layer):
    """Maximum over the real (non-padded) steps of a sequence, per feature.

    The aggregation of the Astromer 2 ablation (paper Sect. 5.5, Fig. 18,
    "max pooling"), applied to the last block's output. Padded steps never
    win the maximum; a window that is all padding pools to zeros.

    Call arguments:
        inputs: `(batch, steps, dim)`.
        padding_mask: `(batch, steps)`, 1 on padded steps; `None` = no padding.

    Returns `(batch, dim)`.

    Example:
    >>> x = np.array([[[1., 5.], [3., 2.], [9., 9.]]], "float32")
    >>> MaskedMaxPooling()(x, np.array([[0, 0, 1]], "float32"))
    [[3., 5.]]
    """

    def call(self, inputs, padding_mask=None):
        valid = _valid_steps(padding_mask, inputs)
        lowest = ops.cast(float("-inf"), inputs.dtype)
        maximum = ops.max(ops.where(valid[..., None], inputs, lowest), axis=1)
        any_valid = ops.any(valid, axis=1, keepdims=True)
        return ops.where(any_valid, maximum, ops.zeros_like(maximum))

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])


@keras.saving.register_keras_serializable(package="astromer")
class PerBandPooling(AstromerLayer):
    """Masked mean or max pooling of each band's steps separately, the
    per-band vectors concatenated band after band.

    A joint multi-band encoder reads all bands in one sequence; pooled over
    all steps, the band an observation came from is lost again (on EROS-1
    pooling per band gives the better few-shot rows, docs/multiband.md). The
    same vector as `Embedder(per_band=True)` for one window. A band without
    an observation in the window pools to zeros.

    Args:
        num_bands: int >= 1, the model's number of bands.
        pooling: "mean" or "max".

    Call arguments:
        inputs: `(batch, steps, dim)`.
        padding_mask: `(batch, steps)`, 1 on padded steps.
        bands: `(batch, steps)` band index of each step.

    Returns `(batch, num_bands * dim)`.
    """

    def __init__(self, num_bands, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        if int(num_bands) < 1 or pooling not in ("mean", "max"):
            raise ValueError(f"PerBandPooling needs num_bands >= 1 and pooling 'mean' or 'max', got "
                             f"num_bands={num_bands!r}, pooling={pooling!r}.")
        self.num_bands, self.pooling = int(num_bands), pooling
        self._pool = (MaskedMeanPooling if pooling == "mean" else MaskedMaxPooling)(dtype=self.dtype_policy)

    def call(self, inputs, padding_mask, bands):
        padded = ops.cast(padding_mask, "float32") > 0.5
        bands = ops.cast(bands, "int32")
        # Steps of other bands count as padding for this band's pool.
        return ops.concatenate([self._pool(inputs, ops.logical_or(padded, ops.not_equal(bands, b)))
                                for b in range(self.num_bands)], axis=-1)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None, bands_shape=None):
        return (inputs_shape[0], self.num_bands * inputs_shape[-1])


@keras.saving.register_keras_serializable(package="astromer")
class LayerMix(keras.layers.Layer):
    """Softmax-weighted sum of K same-shaped tensors: `sum_k softmax(gamma)_k x_k`.

    The trainable per-layer weights of the Astromer 2 classifier (the
    gamma_0..gamma_m of paper Sect. 5.4 and Fig. 13; gamma_0 weighs the
    input embedding) and AstroCo's scalar mix (paper Sect. 3.3,
    `alpha_l = softmax(w)_l`). Usually called on
    `[input_embedding, *block_outputs]` of a backbone.

    `gamma` starts at zeros, so the initial mix is the plain average. The
    authors' A2 code (`GammaWeight`) additionally divided the sum by K (a
    `reduce_mean` over layers); that constant factor is absorbed by the next
    dense layer, so it is left out here, as in the AstroCo formula.

    Call arguments:
        inputs: list of K tensors of one shape, e.g. `(batch, steps, dim)`.

    Returns a tensor of that shape.

    Example:
    >>> mix = LayerMix()
    >>> out = mix([embedding, block_0, block_1])
    >>> mix.normalized_weights()   # (3,), sums to 1
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(
            input_shape[0], (list, tuple)
        ):
            raise ValueError(
                f"LayerMix takes a non-empty list of tensors, got input shape {input_shape!r}."
            )
        shapes = [tuple(shape) for shape in input_shape]
        if any(shape[1:] != shapes[0][1:] for shape in shapes):
            raise ValueError(f"LayerMix inputs must all have one shape; got shapes {shapes}.")
        self.num_inputs = len(shapes)
        self.gamma = self.add_weight(shape=(self.num_inputs,), initializer="zeros", name="gamma")

    def normalized_weights(self):
        """`softmax(gamma)`: `(K,)` float32, the weight of each input (sums to 1)."""
        return ops.softmax(ops.cast(self.gamma, "float32"), axis=-1)

    def call(self, inputs):
        if len(inputs) != self.num_inputs:
            raise ValueError(
                f"This LayerMix was built for {self.num_inputs} inputs, got {len(inputs)}."
            )
        weights = ops.cast(self.normalized_weights(), inputs[0].dtype)
        mixed = weights[0] * inputs[0]
        for k in range(1, self.num_inputs):
            mixed = mixed + weights[k] * inputs[k]
        return mixed

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
