"""Per-object embeddings of light curves of any length.

- `embedder`: the `Embedder` (windows -> backbone -> pooled -> per object).
- `writer`: streaming Parquet output (`Embedder.write_parquet`).
- `table`: `embed_table`, the `astromer-embed` workflow.
"""

from astromer.embedding.embedder import LAYERS_HELP, Embedder
from astromer.embedding.table import EmbeddedTable, embed_table

__all__ = ["Embedder", "EmbeddedTable", "LAYERS_HELP", "embed_table"]
