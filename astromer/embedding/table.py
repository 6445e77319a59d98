"""The `astromer-embed` workflow: weights + a light-curve table -> a Parquet
file of one embedding per light curve. Kept apart from the command line so
that notebooks and scripts run the same steps as `astromer-embed`."""

import dataclasses
from typing import NamedTuple

from astromer.embedding.embedder import Embedder
from astromer.embedding.standardize import (embedding_statistics, read_statistics, standardize_parquet,
                                            standardizer, statistics_path, write_statistics)


class EmbeddedTable(NamedTuple):
    """What `embed_table` wrote: light curves, embedding size, and the
    cleaning report (rows and light curves dropped, and why)."""

    count: int
    dim: int
    report: object


def embed_table(weights, data, out, preset=None, layer="last", pooling="mean", band=None,
                window_mode="nonoverlapping", float32_first=False, batch_size=256, progress=True,
                standardize=False, statistics=None, compat="auto", cleaning=None, cleaning_overrides=None,
                on_error="skip", time_offset=0.0):
    """Embeds every light curve of `data` with the model of `weights` and
    streams the result to `out` (see `Embedder.write_parquet`).

    Args:
        weights: a run folder of astromer-train, a `.keras` model, an
            original checkpoint, or a `.weights.h5` with `preset`.
        data: Parquet/CSV file or folder (id, time, mag, err[, band]).
        out: the output Parquet file.
        preset, layer, pooling, band, window_mode, float32_first, batch_size,
        compat, cleaning, on_error, time_offset: as for `Embedder` /
        `Embedder.from_weights`.
        cleaning_overrides: thresholds (`min_error`, `max_error`,
            `min_observations`) changed on top of the cleaning the compat
            mode chose.
        progress: show a progress line on stderr.
        standardize: write `(x - mean) / std` per dimension (see
            `astromer.embedding.standardize`), the statistics of this table
            saved to `<out>.stats.json`, or those of `statistics` (a stats
            file of an earlier run: new objects for a catalogue's search).

    Raises ValueError / FileNotFoundError for bad inputs (the command maps
    them to exit code 2).
    """
    embedder = Embedder.from_weights(
        weights, preset=preset, layer=layer, pooling=pooling, band=band,
        window_mode=window_mode, float32_first=float32_first, batch_size=batch_size, compat=compat,
        cleaning=cleaning, on_error=on_error, time_offset=time_offset,
    )
    if cleaning_overrides:
        embedder.cleaning = dataclasses.replace(embedder.cleaning, **cleaning_overrides)
    if progress:
        why = (" (weights converted from an original checkpoint)"
               if compat == "auto" and embedder.compat == "original" else "")
        print(f"compat {embedder.compat}{why}: {preprocessing_line(embedder)}"
              + ("; --compat default for the papers' preprocessing" if embedder.compat == "original" else ""))
    if statistics:
        # A catalogue's statistics: standardised as written, one pass.
        count = embedder.write_parquet(data, out, progress=progress,
                                       transform=standardizer(read_statistics(statistics)))
    else:
        count = embedder.write_parquet(data, out, progress=progress)
    if standardize and not statistics:
        # This table's own statistics exist only once it is all embedded.
        stats = embedding_statistics(out)
        write_statistics(stats, statistics_path(out), source=str(data))
        standardize_parquet(out, stats)
        warn_own_statistics(out, count)
    return EmbeddedTable(count, embedder.backbone.hidden_dim, embedder.report)


def preprocessing_line(embedder):
    """What the encoder is really given, in one line: windows, centring,
    the error bounds applied (the open interval and the magnitude bound
    together: compat original keeps (-inf, inf) but rows beyond
    `max_abs_err` are still dropped) and the time scale."""
    cleaning = embedder.cleaning
    low, high, bound = cleaning.min_error, cleaning.max_error, cleaning.max_abs_err
    bounds = f"errors kept in ({low:g}, {high:g})"
    if bound is not None and (low < -bound or high > bound):
        bounds += f" and |error| <= {bound:g}"
    centring = "float32 centring (Julian Dates moved to MJD)" if embedder.float32_first else "float64 centring"
    offset = f", {embedder.time_offset:g} days subtracted from times" if embedder.time_offset else ""
    return (f"windows {embedder.window_mode}, {centring}{offset}, {bounds}, "
            f"at least {cleaning.min_observations} observation(s) per light curve")


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
