"""A whole survey on Dask: embeddings (and hand-crafted features) of every
light curve of a partitioned input, one output file per partition
(docs/survey.md).

- `task`: `SurveySettings` and `embed_partition(source, settings)`, the
  per-partition task (a pandas DataFrame of rows `id, time, mag, err[,
  band]`, a Parquet path, or a partition with a `load()` method); the model
  is loaded once per worker process.
- `job`: `JobSettings` and `run(job)`: the partitions of a Parquet folder
  (or a HATS catalogue, `survey.hats`) on `dask.distributed`, with a
  manifest, resume, merged reports and progress.
- `catalog`: the same task lazily on an `lsdb.Catalog` (`survey.catalog`).

Dask is imported only when a job runs: the package imports without it.
"""

from astromer.survey.task import SurveySettings, embed_partition

__all__ = ["SurveySettings", "embed_partition"]
