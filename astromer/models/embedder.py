"""Alias kept so that `from astromer.models.embedder import Embedder` (the
import in the README and in users' code) still works: the embedder is a
workflow over a model and the data readers, so it lives in
`astromer.embedding`, above `models/`, which imports nothing from `data/`.
New code imports `from astromer.embedding import Embedder`."""

from astromer.embedding.embedder import LAYERS_HELP, Embedder

__all__ = ["Embedder", "LAYERS_HELP"]
