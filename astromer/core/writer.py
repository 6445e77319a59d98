"""Streaming Parquet output of per-object embeddings: rows in, one file out,
constant memory however large the catalogue. It takes vectors, not a model:
whoever embeds (`astromer-embed`, the benchmarks) feeds it
`Embedder.iter_embeddings`."""

import os

import numpy as np

from astromer.progress import progress as progress_bar


def write_parquet(rows, path, chunk=10_000, transform=None, status=None):
    """Writes `(id, vector, n_obs, n_windows)` rows to a Parquet file (`id`,
    `n_obs`, `n_windows`, `embedding` as a list of float32); returns how
    many. The file is written to `path + ".tmp"` and renamed when complete,
    so a failed or killed run (a bad table, Ctrl-C) leaves nothing behind.

    Args:
        chunk: rows per Parquet row group.
        transform: applied to each row group's `(n, dim)` embeddings before
            they are written (e.g. `core.standardize.standardizer(stats)`).
        status: None for no progress line; else a callable giving the text
            shown beside the count of light curves (`rows_read`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("n_obs", pa.int64()), ("n_windows", pa.int64()),
                        ("embedding", pa.list_(pa.float32()))])
    tmp = f"{path}.tmp"
    written, buffer = 0, []
    try:
        with progress_bar(unit="light curves", enabled=status is not None, desc="embedding") as bar:
            with pq.ParquetWriter(tmp, schema) as writer:
                for row in rows:
                    if np.ndim(row[1]) != 1:
                        raise ValueError(f"write_parquet stores one vector per object, not {np.shape(row[1])} "
                                         'arrays: use layer="last", "mix", ... (or embed_array for layer="all").')
                    buffer.append(row)
                    written += 1
                    if status is not None:
                        bar.set_postfix_str(status(), refresh=False)
                    bar.update(1)
                    if len(buffer) >= chunk:
                        _write_group(writer, schema, buffer, transform)
                if buffer:
                    _write_group(writer, schema, buffer, transform)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
    return written


def _write_group(writer, schema, buffer, transform):
    import pyarrow as pa

    vectors = np.stack([r[1] for r in buffer])
    if transform is not None:
        vectors = transform(vectors)
    writer.write_table(pa.table({"id": [r[0] for r in buffer], "n_obs": [r[2] for r in buffer],
                                 "n_windows": [r[3] for r in buffer], "embedding": list(vectors.astype(np.float32))},
                                schema=schema))
    buffer.clear()


def rows_read(report, band, source):
    """The progress text of a table being embedded: the rows of `band` read
    so far (counted by the cleaning `report`, which may hold an earlier
    call's counts) out of the table's, the only count with a known total
    (the bar itself counts light curves)."""
    from astromer.data.lightcurves import count_rows

    total = None
    if isinstance(source, (str, os.PathLike)):
        try:
            total = count_rows(source, band)
        except Exception:  # noqa: BLE001 - the count is only for the display
            total = None
    start, of_band = report.rows_in, f" of {band}" if band is not None else ""
    of_total = f"/{total:,}" if total else ""
    return lambda: f"rows{of_band} {report.rows_in - start:,}{of_total}"
