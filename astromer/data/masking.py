"""Random windows, probe masks and loss weights, identical in NumPy and tf.data.

Randomness comes from a counter-based hash of (seed, epoch, light-curve key,
position) instead of a stateful generator. The same seed therefore gives the
same windows and masks in the NumPy path and in the tf.data path, in any
order and with any number of workers; a new epoch gives new masks (they are
never cached); and a resumed run redraws exactly the masks it would have
drawn.

Probe masking (Astromer 2 paper, Sect. 2.3 and Fig. 1), per window of L real
observations:

- "paper": `floor(p L)` probed steps, of which `floor(r L)` get a random
  magnitude of the same window, `floor(s L)` stay visible, and the rest are
  hidden (L = 200: 100 probed = 60 hidden + 20 random + 20 visible). Hidden
  magnitudes are set to 0 (the model's mask token, where it has one,
  replaces them anyway).
- "original": main-code's `mask_sample` counts, `n_same = ceil(n_p * same)`,
  `n_rand = ceil((n_p - n_same) * rs)` (L = 200: 100 / 20 / 16 / 64) with
  the fractions as main-code's `same` and `rs`. Hidden steps keep their true
  magnitude in the input, as there.
"""

import math

import numpy as np

MASK32 = 0xFFFFFFFF
STREAM_PIVOT, STREAM_ORDER, STREAM_REPLACE = 1, 2, 3
MASKING_MODES = ("paper", "original")


def probe_counts(length, probed=0.5, random=0.1, same=0.1, mode="paper"):
    """`(n_probed, n_hidden, n_random, n_same)` for a window of `length` real steps."""
    if mode == "paper":
        n_probed = math.floor(length * probed + 1e-9)
        n_random = math.floor(length * random + 1e-9)
        n_same = math.floor(length * same + 1e-9)
        if n_random + n_same > n_probed:
            raise ValueError(
                f"random ({random}) + same ({same}) fractions exceed the probed fraction ({probed})."
            )
        return n_probed, n_probed - n_random - n_same, n_random, n_same
    if mode == "original":
        # main-code computes these in float32.
        n_probed = int(np.floor(np.float32(length) * np.float32(probed)))
        n_same = int(np.ceil(np.float32(n_probed) * np.float32(same)))
        n_random = int(np.ceil(np.float32(n_probed - n_same) * np.float32(random)))
        n_random = min(n_random, n_probed - n_same)
        return n_probed, n_probed - n_same - n_random, n_random, n_same
    raise ValueError(f"Unknown masking mode {mode!r}; use one of {MASKING_MODES}.")


class MaskingConfig:
    """Probe-masking settings (the `data` section of a preset)."""

    def __init__(self, masking="paper", probed_fraction=0.5, hidden_fraction=None,
                 random_fraction=0.1, same_fraction=0.1, **_):
        if masking not in MASKING_MODES:
            raise ValueError(f"Unknown masking mode {masking!r}; use one of {MASKING_MODES}.")
        for name, value in (("probed_fraction", probed_fraction), ("random_fraction", random_fraction),
                            ("same_fraction", same_fraction)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
        self.mode = masking
        self.probed = float(probed_fraction)
        self.random = float(random_fraction)
        self.same = float(same_fraction)
        if masking == "paper" and hidden_fraction is not None:
            expected = self.probed - self.random - self.same
            if abs(float(hidden_fraction) - expected) > 1e-9:
                raise ValueError(
                    f"hidden_fraction {hidden_fraction} must equal probed - random - same = {expected:g}."
                )

    def count_table(self, window_size):
        """`(window_size + 1, 4)` int64 table of `probe_counts` for every length."""
        return np.array(
            [probe_counts(n, self.probed, self.random, self.same, self.mode) for n in range(window_size + 1)],
            dtype=np.int64,
        )


class NumpyOps:
    """The few array operations the masking algorithm needs, in NumPy."""

    u64 = staticmethod(lambda x: np.asarray(x, dtype=np.uint64))
    xor = staticmethod(np.bitwise_xor)
    band = staticmethod(np.bitwise_and)
    shr = staticmethod(lambda x, n: x >> np.uint64(n))
    argsort = staticmethod(lambda x: np.argsort(x, axis=-1, kind="stable"))
    take = staticmethod(lambda x, i: np.take_along_axis(x, i, axis=-1))
    where = staticmethod(np.where)
    to_int64 = staticmethod(lambda x: np.asarray(x).astype(np.int64))
    to_float32 = staticmethod(lambda x: np.asarray(x).astype(np.float32))
    to_float64 = staticmethod(lambda x: np.asarray(x).astype(np.float64))
    # A NumPy function of arrays (TFOps wraps it in `tf.numpy_function`).
    numpy_function = staticmethod(lambda fn, args, dtypes, shapes: fn(*args))
    gather = staticmethod(lambda table, idx: table[idx])
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    mod = staticmethod(lambda a, b: a % b)
    arange = staticmethod(lambda n: np.arange(n, dtype=np.uint64))
    expand = staticmethod(lambda x, axis: np.expand_dims(x, axis))
    sum = staticmethod(lambda x, axis: np.sum(x, axis=axis))
    max_ = staticmethod(lambda x, axis: np.max(x, axis=axis, keepdims=True))
    min_ = staticmethod(lambda x, axis: np.min(x, axis=axis, keepdims=True))


def mix32(ops, x):
    """lowbias32 (C. Wellons): a fast, well-mixed 32-bit integer hash,
    computed in uint64 with explicit 32-bit wrap-around."""
    m = ops.u64(MASK32)
    x = ops.band(x, m)
    x = ops.xor(x, ops.shr(x, 16))
    x = ops.band(x * ops.u64(0x7FEB352D), m)
    x = ops.xor(x, ops.shr(x, 15))
    x = ops.band(x * ops.u64(0x846CA68B), m)
    return ops.xor(x, ops.shr(x, 16))


def hash_uniform(ops, seed, epoch, keys, stream, positions):
    """uint32 hash values `(keys.shape + positions.shape)` in a uint64 array."""
    h = mix32(ops, ops.xor(ops.u64(seed), mix32(ops, ops.u64(epoch) * ops.u64(0x9E3779B1) + ops.u64(stream))))
    keys = ops.u64(keys)
    h = mix32(ops, ops.xor(h, ops.band(keys, ops.u64(MASK32))))
    h = mix32(ops, ops.xor(h, ops.shr(keys, 32)))
    if positions is not None:
        h = mix32(ops, ops.xor(ops.expand(h, -1), ops.u64(positions)))
    return h


def window_pivots(ops, lengths, window_size, seed, epoch, keys):
    """Start of the random pretraining window of each light curve:
    uniform over `0 .. L - window_size` (0 when L <= window_size)."""
    h = hash_uniform(ops, seed, epoch, keys, STREAM_PIVOT, None)
    lengths = ops.to_int64(lengths)
    span = ops.maximum(lengths - window_size + 1, 1)
    return ops.mod(ops.to_int64(h), span)


def probe_masks(ops, magnitudes, padding_mask, count_table, mode, seed, epoch, keys):
    """Probe masks of a batch of centred, padded windows.

    Args:
        ops: `NumpyOps` or `astromer.data.tf_dataset.TFOps`.
        magnitudes: `(B, W)` float32, 0 on padding.
        padding_mask: `(B, W)` 1 on padding.
        count_table: `MaskingConfig.count_table(W)`.
        keys: `(B,)` int64 light-curve keys.

    Returns a dict of `(B, W)` float32 arrays: `input_magnitudes` (what the
    model sees), `probe_mask` (loss), `hidden_mask` (hidden from the model),
    `random_mask` (replaced), `same_mask` (probed but unchanged).
    """
    real = 1.0 - ops.to_float32(padding_mask)
    n_real = ops.to_int64(ops.sum(real, 1))
    counts = ops.gather(count_table, n_real)  # (B, 4)
    n_probed, n_hidden, n_random = counts[:, 0:1], counts[:, 1:2], counts[:, 2:3]
    width = magnitudes.shape[-1]
    positions = ops.arange(width)
    h = hash_uniform(ops, seed, epoch, keys, STREAM_ORDER, positions)
    # Padded steps sort after every real one (hash values are < 2^32).
    sort_key = ops.where(real > 0, ops.to_int64(h), ops.to_int64(positions) + (1 << 33))
    rank = ops.argsort(ops.argsort(sort_key))
    rank = ops.to_int64(rank)
    hidden = rank < n_hidden
    random = (rank >= n_hidden) & (rank < n_hidden + n_random)
    probe = rank < n_probed
    replace_h = hash_uniform(ops, seed, epoch, keys, STREAM_REPLACE, positions)
    source = ops.mod(ops.to_int64(replace_h), ops.maximum(ops.expand(n_real, -1), 1))
    # Real steps come first in a padded window: index < n_real is a real one.
    replaced = ops.take(magnitudes, source)
    shown = ops.where(random, replaced, magnitudes)
    if mode == "paper":
        shown = ops.where(hidden, 0.0 * magnitudes, shown)
    return {
        "input_magnitudes": ops.to_float32(shown),
        "probe_mask": ops.to_float32(probe),
        "hidden_mask": ops.to_float32(hidden),
        "random_mask": ops.to_float32(random),
        "same_mask": ops.to_float32(probe & ~(hidden | random)),
    }


def error_weights(ops, errors, padding_mask):
    """Astromer 2 loss weights (Eq. 5 and the original `create_loss_weigths`):
    `w = 1 / err` (0 where err = 0), min-max scaled per window, plus 1e-3.

    Only real steps enter the min/max; padded steps get weight 0.
    """
    errors = ops.to_float32(errors)
    real = 1.0 - ops.to_float32(padding_mask)
    inverse = ops.where(errors > 0, 1.0 / ops.where(errors > 0, errors, 1.0), 0.0)
    big = 3.0e38
    low = ops.min_(ops.where(real > 0, inverse, big), 1)
    high = ops.max_(ops.where(real > 0, inverse, -big), 1)
    span = high - low
    scaled = ops.where(span > 0, (inverse - low) / ops.where(span > 0, span, 1.0), 0.0)
    return ops.to_float32(ops.where(real > 0, scaled + 1e-3, 0.0))
