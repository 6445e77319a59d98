"""The `astromer-embed` workflow: weights + a light-curve table -> a Parquet
file of one embedding per light curve. `EmbedSettings` holds what the command
line (or a notebook) asks for; `run(settings)` drives the `Embedder` and the
Parquet writer."""

import dataclasses
from typing import NamedTuple

from astromer.core.embedder_settings import embedder_from_settings
from astromer.core.standardize import (embedding_statistics, read_statistics, standardize_parquet,
                                            standardizer, statistics_path, write_statistics)


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """What to embed and how.

    `weights`: a run folder, a `.keras` model, an original checkpoint, or a
    `.weights.h5` with `preset`; `data`: a Parquet/CSV file or folder (id,
    time, mag, err[, band]); `out`: the Parquet file to write. `layer` to
    `time_offset` are the `Embedder`'s arguments; `cleaning_overrides`
    changes thresholds (`min_error`, `max_error`, `min_observations`) of the
    cleaning the compat mode chose. `standardize` writes `(x - mean) / std`
    per dimension with this table's statistics (saved to
    `<out>.stats.json`), or with those of `statistics` (the stats file of a
    catalogue, for new objects searched against it). `progress` shows a
    progress line on stderr. `padding_free` as the `Embedder`'s (None:
    windows cut to length buckets where the model allows it; False: full).
    """

    weights: str
    data: str
    out: str = "embeddings.parquet"
    preset: str = None
    layer: object = "last"
    pooling: str = "mean"
    band: str = None
    window_mode: str = "nonoverlapping"
    float32_first: bool = False
    batch_size: int = 256
    compat: str = "auto"
    cleaning: object = None
    cleaning_overrides: dict = None
    on_error: str = "skip"
    time_offset: float = 0.0
    standardize: bool = False
    statistics: str = None
    progress: bool = True
    padding_free: bool = None

    def embedder(self):
        """The `Embedder` these settings describe, its cleaning resolved."""
        return embedder_from_settings(self)


class EmbeddedTable(NamedTuple):
    """What `run` wrote: light curves, embedding size, and the cleaning
    report (rows and light curves dropped, and why)."""

    count: int
    dim: int
    report: object


def run(settings):
    """Embeds every light curve of `settings.data` and streams the result to
    `settings.out`. Bad inputs raise `ValueError` / `FileNotFoundError`
    naming them (the command exits with 2)."""
    embedder = settings.embedder()
    if settings.progress:
        why = (" (weights converted from an original checkpoint)"
               if settings.compat == "auto" and embedder.compat == "original" else "")
        print(f"compat {embedder.compat}{why}: {embedder.describe()}"
              + ("; --compat default for the papers' preprocessing" if embedder.compat == "original" else ""))
    # A catalogue's statistics standardise as the rows are written, in one pass.
    transform = standardizer(read_statistics(settings.statistics)) if settings.statistics else None
    count = embedder.write_parquet(settings.data, settings.out, progress=settings.progress, transform=transform)
    if settings.standardize and not settings.statistics:
        # This table's own statistics exist only once it is all embedded.
        stats = embedding_statistics(settings.out)
        write_statistics(stats, statistics_path(settings.out), source=str(settings.data))
        standardize_parquet(settings.out, stats)
        warn_own_statistics(settings.out, count)
    return EmbeddedTable(count, embedder.backbone.hidden_dim, embedder.report)


def warn_own_statistics(out, count):
    """New objects standardised with their own mean and std are not
    comparable with a catalogue standardised with its own: if a catalogue's
    statistics lie beside the output, say so (on stderr) and how to use them."""
    import glob
    import os
    import sys

    own = os.path.abspath(statistics_path(out))
    others = sorted(p for p in glob.glob(os.path.join(os.path.dirname(own), "*.stats.json"))
                    if os.path.abspath(p) != own)
    if others:
        print(f"warning: these {count:,} embeddings are standardised with their own statistics, not with "
              f"those of {others[0]}" + (f" (and {len(others) - 1} more)" if len(others) > 1 else "")
              + f": to compare or search them against that catalogue, pass --statistics {others[0]}",
              file=sys.stderr)
