"""Standardised embeddings for search: per-dimension mean and std of a
catalogue's embeddings, saved beside it, applied to it and to new objects.

Raw embeddings of different light curves point nearly the same way (a
large shared offset; README, "Embeddings for search"), so cosine and
nearest-neighbour search see mostly that offset; standardising leaves what
differs between objects. New objects searched against a catalogue take the
catalogue's statistics (`astromer-embed --statistics`), not their own.
"""

import json
import os

import numpy as np


def statistics_path(out):
    """Where the statistics of the embeddings in `out` are saved."""
    return f"{out}.stats.json"


def embedding_statistics(path):
    """`{"count", "mean", "std"}` of the `embedding` column of a Parquet
    file, read one row group at a time (float64 sums: constant memory)."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    count, total, squares = 0, None, None
    for k in range(f.num_row_groups):
        x = _matrix(f.read_row_group(k, columns=["embedding"]))
        if not len(x):
            continue
        total = x.sum(0) if total is None else total + x.sum(0)
        squares = (x * x).sum(0) if squares is None else squares + (x * x).sum(0)
        count += len(x)
    if not count:
        raise ValueError(f"{path} holds no embedding to standardise.")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return {"count": count, "mean": mean.tolist(), "std": std.tolist()}


def write_statistics(stats, path, source=None):
    with open(path, "w") as f:
        json.dump({**stats, "source": source,
                   "note": "embedding = (raw - mean) / std per dimension (std 0: centred only)"}, f)


def read_statistics(path):
    """The statistics saved by `write_statistics` (`<out>.stats.json`).

    Raises a `FileNotFoundError` or `ValueError` naming `path` and what to
    pass instead when it is missing or is not such a file (the catalogue's
    Parquet itself, another JSON, a damaged file)."""
    path = os.fspath(path)
    fix = f"pass the <out>.stats.json that astromer-embed wrote beside the catalogue's embeddings{_beside(path)}."
    if not os.path.isfile(path):
        where = "is a folder" if os.path.isdir(path) else "does not exist"
        raise FileNotFoundError(f"--statistics {path!r} {where}: {fix}")
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PAR1":
        raise ValueError(f"--statistics {path!r} is a Parquet file (embeddings?), not their statistics: {fix}")
    try:
        stats = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = "not text" if isinstance(error, UnicodeDecodeError) else f"not valid JSON: {error.msg}"
        raise ValueError(f"--statistics {path!r} is not an embedding statistics file ({reason}; {len(data):,} "
                         f"bytes): {fix}") from None
    missing = {"mean", "std"} - set(stats) if isinstance(stats, dict) else {"mean", "std"}
    if missing:
        raise ValueError(f"--statistics {path!r} is not an embedding statistics file (no {sorted(missing)}): {fix}")
    return stats


def _beside(path):
    """' (here: X)' when the statistics of the Parquet file `path` exist."""
    saved = statistics_path(path)
    return f" (here: {saved!r})" if os.path.isfile(saved) else ""


def standardizer(stats):
    """`x -> (x - mean) / std` per dimension (dimensions with std 0 only
    centred) for `(n, dim)` float arrays; a ValueError when the statistics
    have another number of dimensions."""
    mean = np.asarray(stats["mean"], np.float64)
    std = np.asarray(stats["std"], np.float64)
    scale = np.where(std > 0, std, 1.0)

    def apply(x):
        x = np.asarray(x, np.float64)
        if x.shape[1:] != mean.shape:
            raise ValueError(f"The statistics have {mean.size} dimensions, the embeddings {x.shape[-1]}: "
                             "they come from another model or layer.")
        return (x - mean) / scale

    return apply


def standardize_parquet(path, stats):
    """Rewrites the `embedding` column of `path` standardised (`standardizer`),
    one row group at a time; the file is replaced only when complete."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    apply = standardizer(stats)
    f = pq.ParquetFile(path)
    tmp = f"{path}.standardizing.tmp"
    try:
        with pq.ParquetWriter(tmp, f.schema_arrow) as writer:
            for k in range(f.num_row_groups):
                group = f.read_row_group(k)
                z = apply(_matrix(group.select(["embedding"]))).astype(np.float32)
                column = pa.array(list(z), type=group.schema.field("embedding").type)
                writer.write_table(group.set_column(group.schema.get_field_index("embedding"), "embedding", column))
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def _matrix(table):
    column = table.column("embedding").to_pylist()
    return np.asarray(column, np.float64).reshape(len(column), -1)
