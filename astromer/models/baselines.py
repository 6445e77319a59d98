"""Supervised baselines of the Astromer 2 ablation (paper Sect. 5.5, Fig. 18).

Each is trained from scratch on labelled windows (no pretraining) and takes
the same input dict as an `AstromerBackbone`: `magnitudes`, `times`,
`padding_mask` (1 = padded) and `hidden_mask` (1 = hidden; zeros for
classification), all `(batch, window_size)`. Steps that are padded or hidden
are never read: the GRUs skip them through their mask (the state is carried
over unchanged) and the pooling leaves them out, so padding never changes
the logits. Layer sizes are not given in the paper; the defaults are ours
(256 GRU units, the A2 input embedding size, the A2 classifier MLP).
"""

import keras
from keras import ops

from astromer.layers.base import check_dropout, check_positive_int
from astromer.layers.input_embedding import AstromerInputEmbedding
from astromer.layers.pooling import MaskedMeanPooling
from astromer.models.backbone import Backbone
from astromer.models.classifier import (
    A2_HIDDEN_UNITS,
    ClassificationTask,
    check_hidden_units,
    check_num_classes,
    classification_head,
)


def _inputs(window_size):
    return Backbone.inputs_for(window_size, ClassificationTask.input_names)


def _ignore_mask(inputs):
    """1 on steps a baseline must not read: padded or hidden (the backbone's `mask_in`)."""
    return ops.maximum(inputs["padding_mask"], inputs["hidden_mask"])


def _observed(inputs):
    """Keras-style boolean mask, True on the steps to read."""
    return ops.less(_ignore_mask(inputs), 0.5)


def _embedded(inputs, hidden_dim, pe_base):
    """The Astromer input embedding (`m W + PE(t)`) of the two embedding baselines."""
    return AstromerInputEmbedding(hidden_dim, pe_base=pe_base, name="input_embedding")(
        inputs["magnitudes"], inputs["times"]
    )


class _WindowBaseline(ClassificationTask):
    """What the baselines share: their constructor arguments are attributes,
    and `get_config` returns them (with `name` and `trainable`), so each
    model states its arguments once, in `_keep`."""

    def _keep(self, **arguments):
        self._argument_names = tuple(arguments)
        for name, value in arguments.items():
            setattr(self, name, value)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for name in self._argument_names:
            value = getattr(self, name)
            # Tuples (hidden_units) are written as lists, as JSON reads them back.
            config[name] = list(value) if isinstance(value, (tuple, list)) else value
        return config


@keras.saving.register_keras_serializable(package="astromer")
class RawGRUClassifier(_WindowBaseline):
    """"Baseline raw": a GRU over the raw `(time, magnitude)` pairs, then logits.

    No magnitude projection and no time encoding: each step is the 2-vector
    (window-centred time in days, magnitude), as in the recurrent baseline
    of Astromer 1 (Donoso-Oliva et al. 2023). The last GRU state (at the
    last observed step) goes to a linear logits layer.

    Inputs: dict of `(batch, window_size)` (see the module docstring).
    Output: logits `(batch, num_classes)`.

    Args:
        num_classes: int >= 2.
        window_size: int. Steps per window (200).
        units: int. GRU units.
        dropout: float in [0, 1). Dropout on the GRU state before the logits.

    Example:
    >>> model = RawGRUClassifier(num_classes=6, window_size=200)
    >>> model.compile()
    >>> model.fit(windows, labels)

    Reference: Donoso-Oliva et al. 2025, Astromer 2, Sect. 5.5.
    """

    def __init__(self, num_classes, window_size=200, units=256, dropout=0.0, **kwargs):
        num_classes = check_num_classes(num_classes)
        window_size = check_positive_int("window_size", window_size)
        units = check_positive_int("units", units)
        dropout = check_dropout(dropout)

        inputs = _inputs(window_size)
        features = ops.stack([inputs["times"], inputs["magnitudes"]], axis=-1)
        state = keras.layers.GRU(units, name="gru")(features, mask=_observed(inputs))
        logits = classification_head(state, num_classes, dropout=dropout)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self._keep(num_classes=num_classes, window_size=window_size, units=units, dropout=dropout)


@keras.saving.register_keras_serializable(package="astromer")
class EmbeddingGRUClassifier(_WindowBaseline):
    """"Supervised GRU": the Astromer input embedding, a GRU, then logits.

    The magnitude projection plus time encoding of Astromer (A2 paper
    Sect. 3.1, `AstromerInputEmbedding`) replaces the raw pairs, and a GRU
    replaces the transformer: isolates attention vs recurrence. All weights
    are trained from scratch.

    Inputs: dict of `(batch, window_size)` (see the module docstring).
    Output: logits `(batch, num_classes)`.

    Args:
        num_classes: int >= 2.
        window_size: int. Steps per window (200).
        hidden_dim: int. Embedding size (256, as Astromer).
        pe_base: float. Time-encoding base (1000, the paper's).
        units: int. GRU units.
        dropout: float in [0, 1). Dropout on the GRU state before the logits.

    Example:
    >>> model = EmbeddingGRUClassifier(num_classes=6)
    >>> model.compile()

    Reference: Donoso-Oliva et al. 2025, Astromer 2, Sect. 5.5.
    """

    def __init__(self, num_classes, window_size=200, hidden_dim=256, pe_base=1000.0, units=256, dropout=0.0, **kwargs):
        num_classes = check_num_classes(num_classes)
        window_size = check_positive_int("window_size", window_size)
        hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        units = check_positive_int("units", units)
        dropout = check_dropout(dropout)

        inputs = _inputs(window_size)
        embedding = _embedded(inputs, hidden_dim, pe_base)
        state = keras.layers.GRU(units, name="gru")(embedding, mask=_observed(inputs))
        logits = classification_head(state, num_classes, dropout=dropout)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self._keep(num_classes=num_classes, window_size=window_size, hidden_dim=hidden_dim, pe_base=float(pe_base),
                   units=units, dropout=dropout)


@keras.saving.register_keras_serializable(package="astromer")
class EmbeddingMLPClassifier(_WindowBaseline):
    """"Baseline MLP": the Astromer input embedding, masked mean, then an MLP.

    No temporal encoder at all: the embedding of each observed step is
    averaged (`MaskedMeanPooling`) and classified by the A2 classifier MLP.
    Since the embedding is `m W + PE(t)`, the pooled vector is linear in
    the magnitudes: this baseline measures what the input representation
    alone gives, and cannot see how magnitude and time interact (e.g. a
    period) by construction.

    Inputs: dict of `(batch, window_size)` (see the module docstring).
    Output: logits `(batch, num_classes)`.

    Args:
        num_classes: int >= 2.
        window_size: int. Steps per window (200).
        hidden_dim: int. Embedding size (256, as Astromer).
        pe_base: float. Time-encoding base (1000, the paper's).
        hidden_units: list of ints. MLP hidden layers (`[1024, 512, 256]`).
        dropout: float in [0, 1). Dropout before every dense layer.
        layer_norm: bool. LayerNormalization after the last hidden layer.

    Example:
    >>> model = EmbeddingMLPClassifier(num_classes=6)
    >>> model.compile()

    Reference: Donoso-Oliva et al. 2025, Astromer 2, Sect. 5.5.
    """

    def __init__(self, num_classes, window_size=200, hidden_dim=256, pe_base=1000.0, hidden_units=A2_HIDDEN_UNITS,
                 dropout=0.0, layer_norm=False, **kwargs):
        num_classes = check_num_classes(num_classes)
        window_size = check_positive_int("window_size", window_size)
        hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        hidden_units = check_hidden_units(hidden_units)
        dropout = check_dropout(dropout)

        inputs = _inputs(window_size)
        pooled = MaskedMeanPooling(name="pooling")(_embedded(inputs, hidden_dim, pe_base), _ignore_mask(inputs))
        logits = classification_head(pooled, num_classes, hidden_units, dropout, layer_norm)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self._keep(num_classes=num_classes, window_size=window_size, hidden_dim=hidden_dim, pe_base=float(pe_base),
                   hidden_units=hidden_units, dropout=dropout, layer_norm=bool(layer_norm))
