"""The partitions of a survey job's input, and where each one's output goes.

A folder of Parquet files is one partition per file (sorted by name); a
HATS catalogue is one partition per HEALPix pixel (`survey.hats`). A
partition is a name (unique in the job, used for its output file and in
the manifest) and a source the task reads (`task.read_partition`).
"""

import os
import re
from typing import NamedTuple

from astromer.errors import ConfigError, DataError


class Partition(NamedTuple):
    """One unit of work: `name` (unique in the job) and `source` (a table
    path, or an object with `load()` returning a DataFrame of rows)."""

    name: str
    source: object


def find_partitions(path):
    """The partitions of `path`: a HATS catalogue's pixels (`survey.hats`),
    or every `*.parquet` file of a folder, one partition each. A missing,
    non-folder or empty input is a one-line error naming it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"--data {path!r} does not exist: pass a folder of Parquet files (one partition each) "
                          "or a HATS catalogue.")
    if not os.path.isdir(path):
        raise ConfigError(f"--data {path!r} is a file: --workers / --scheduler take a folder of Parquet files (one "
                          "partition each) or a HATS catalogue; leave them out to embed one table.")
    from astromer.survey.hats import hats_partitions, is_hats_catalog

    if is_hats_catalog(path):
        return hats_partitions(path)
    files = sorted(f for f in os.listdir(path) if f.endswith(".parquet") and os.path.isfile(os.path.join(path, f)))
    if not files:
        raise DataError(f"--data {path!r} holds no .parquet file: pass a folder of Parquet files (id, time, mag, "
                        "err[, band]; one partition each) or a HATS catalogue.")
    return [Partition(f[: -len(".parquet")], os.path.join(path, f)) for f in files]


def output_file(name):
    """The output file name of partition `name` (path separators and other
    characters a file name should not hold replaced by `_`)."""
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", name) + ".parquet"


def write_partition(frame, path):
    """Writes a task's frame to `path` atomically (a temporary file renamed
    into place): a killed worker leaves no half file under the final name.
    `embedding` is stored as a list of float32."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for name in frame.columns:
        if name == "embedding":
            columns[name] = pa.array(list(frame["embedding"]), type=pa.list_(pa.float32()))
        else:
            columns[name] = pa.array(frame[name].to_numpy(), type=pa.string() if name == "id" else None)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        pq.write_table(pa.table(columns), tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
