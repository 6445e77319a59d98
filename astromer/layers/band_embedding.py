"""A learned vector per photometric band, added to every observation's embedding."""

import keras
from keras import ops

from astromer.layers.base import AstromerLayer


@keras.saving.register_keras_serializable(package="astromer")
class BandEmbedding(AstromerLayer):
    """Adds `E[band]` to each step's embedding (joint multi-band models).

    Observations of all bands share one time-ordered sequence; this vector
    tells attention which band a step was observed in, so it can use
    cross-band timing. The table starts at zero: a multi-band model built
    from single-band weights begins as exactly that model.

    Args:
        num_bands: int. Number of bands (indices 0 .. num_bands - 1).
        hidden_dim: int. Embedding size.

    Call arguments:
        embedding: `(batch, steps, hidden_dim)`.
        bands: `(batch, steps)` band indices (any numeric dtype).

    Returns `(batch, steps, hidden_dim)`.
    """

    def __init__(self, num_bands, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        if int(num_bands) < 1:
            raise ValueError(f"`num_bands` must be at least 1, got {num_bands!r}.")
        self.num_bands = int(num_bands)
        self.hidden_dim = int(hidden_dim)

    def build(self, embedding_shape, bands_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.num_bands, self.hidden_dim), initializer="zeros", name="embeddings"
        )

    def call(self, embedding, bands):
        index = ops.clip(ops.cast(bands, "int32"), 0, self.num_bands - 1)
        return embedding + ops.cast(ops.take(self.embeddings, index, axis=0), embedding.dtype)

    def compute_output_shape(self, embedding_shape, bands_shape=None):
        return tuple(embedding_shape)
