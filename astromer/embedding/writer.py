"""Streaming Parquet output of an `Embedder`: constant memory however large
the catalogue, with one progress line (light curves embedded, rows read)."""

import os

import numpy as np

from astromer.progress import progress as progress_bar


def write_parquet(embedder, source, path, chunk=10_000, progress=True, transform=None):
    """Streams embeddings of `source` into a Parquet file (`id`, `n_obs`,
    `n_windows`, `embedding` as a list of float32) with constant memory.

    The file is written to `path + ".tmp"` and renamed when complete, so a
    killed run never leaves a truncated file under the final name.

    Args:
        embedder: an `astromer.embedding.Embedder`.
        source: table path (file or folder, streamed) or an in-memory source.
        path: the output Parquet file.
        chunk: light curves per Parquet row group.
        progress: show a progress line on stderr.
        transform: applied to each row group's `(n, dim)` embeddings before
            they are written (e.g. `standardize.standardizer(stats)`).

    Returns:
        the number of light curves written.
    """
    import pyarrow as pa

    if embedder.layer == "all":
        raise ValueError('write_parquet stores one vector per object; use layer="last", "mix", ... or embed_array.')
    schema = pa.schema([("id", pa.string()), ("n_obs", pa.int64()), ("n_windows", pa.int64()),
                        ("embedding", pa.list_(pa.float32()))])
    tmp = str(path) + ".tmp"
    # The bar counts light curves (its rate is light curves per second); rows
    # of the band embedded, the only count with a known total, are shown next
    # to it (the cleaning report counts the same rows).
    total_rows = _total_rows(source, embedder.band) if progress else None
    try:
        written = _write(embedder, source, tmp, schema, chunk, progress, total_rows, transform)
    except BaseException:
        # Nothing half-written is left behind (an absent band, a bad table,
        # Ctrl-C).
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
    return written


def _write(embedder, source, tmp, schema, chunk, progress, total_rows, transform):
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = 0
    buffer = []
    rows_in = embedder.report.rows_in  # the report may hold an earlier call's counts
    with progress_bar(unit="light curves", enabled=progress, desc="embedding") as bar:
        def rows_read(_):
            of_total = f"/{total_rows:,}" if total_rows else ""
            band = f" of {embedder.band}" if embedder.band is not None else ""
            bar.set_postfix_str(f"rows{band} {embedder.report.rows_in - rows_in:,}{of_total}", refresh=False)

        with pq.ParquetWriter(tmp, schema) as writer:
            def flush():
                vectors = np.stack([r[1] for r in buffer])
                if transform is not None:
                    vectors = transform(vectors)
                writer.write_table(pa.table({
                    "id": [r[0] for r in buffer], "n_obs": [r[2] for r in buffer],
                    "n_windows": [r[3] for r in buffer],
                    "embedding": list(vectors.astype(np.float32)),
                }, schema=schema))
                buffer.clear()

            for row in embedder.iter_embeddings(source, on_rows=rows_read if progress else None):
                buffer.append(row)
                written += 1
                if progress:
                    rows_read(0)
                bar.update(1)
                if len(buffer) >= chunk:
                    flush()
            if buffer:
                flush()
    return written


def _total_rows(source, band):
    from astromer.data.lightcurves import count_rows

    if not isinstance(source, (str, os.PathLike)):
        return None
    try:
        return count_rows(source, band)
    except Exception:  # noqa: BLE001 - the count is only for the display
        return None
