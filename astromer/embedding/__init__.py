"""Per-object embeddings of light curves of any length.

- `Embedder` (`astromer.core.embedder`: windows -> backbone -> pooled -> per object).
- `table`: `run(EmbedSettings)`, the `astromer-embed` workflow (the
  Parquet writer is `astromer.core.writer`).
- per-dimension statistics for search: `astromer.core.standardize`.
"""

from astromer.core.embedder import LAYERS_HELP, Embedder
from astromer.embedding.table import EmbeddedTable, EmbedSettings, run

__all__ = ["Embedder", "EmbeddedTable", "EmbedSettings", "LAYERS_HELP", "run"]
