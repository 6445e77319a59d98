"""A HATS catalogue (LSDB's on-disk format) with a nested light-curve column
as the partitions of a survey job: one partition per HEALPix pixel file,
each loading to the rows `id, time, mag, err[, band]` the per-partition
task reads (`survey.task.embed_partition`).

    if is_hats_catalog(path):
        partitions = hats_partitions(path, LightCurveColumns(column="lc", id="objectid"))
        frame = partitions[0].load()          # pandas rows of pixel 0

The catalogue is opened with `hats` itself (its properties file and
partition list); a pixel's file is read with nested-pandas, only its id and
light-curve columns.
"""

import dataclasses
import os

from astromer.errors import ConfigError
from astromer.survey.catalog import LightCurveColumns, check_light_curve_column, light_curve_rows

# The files hats' reader recognises a catalogue (or a collection) by.
PROPERTIES_FILES = ("collection.properties", "hats.properties", "properties")


def is_hats_catalog(path):
    """True when `path` is a HATS catalogue or collection folder (it holds
    one of the properties files hats reads); no import of hats."""
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name)) for name in PROPERTIES_FILES)


@dataclasses.dataclass(frozen=True)
class HatsPartition:
    """One HEALPix pixel of a HATS catalogue: `name` (unique, usable as a
    file name, e.g. `Norder=4_Npix=2065`), `path` (its Parquet file) and
    `load()` -> the pandas rows `id, time, mag, err[, band]` of its light
    curves (a null light curve has no rows)."""

    name: str
    path: str
    columns: LightCurveColumns
    id_column: str

    @property
    def source(self):
        """What `survey.task.embed_partition` reads (it calls `load()`), as
        a Parquet-folder `partitions.Partition` names its table."""
        return self

    def load(self):
        import nested_pandas as npd

        frame = npd.read_parquet(self.path, columns=[self.id_column, self.columns.column])
        return light_curve_rows(frame, self.columns, ids=frame[self.id_column].to_numpy())


def hats_partitions(path, columns=None):
    """The pixels of the HATS catalogue (or a collection's main catalogue)
    at `path` as `HatsPartition`s, in HEALPix order. The light-curve column
    and the id column are checked on the catalogue's schema first: a
    missing one is a one-line `ConfigError` naming what is there."""
    import hats
    import nested_pandas as npd

    columns = LightCurveColumns() if columns is None else LightCurveColumns.of(columns)
    try:
        catalog = hats.read_hats(path)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(f"{os.fspath(path)!r} is not a readable HATS catalogue ({error}).") from error
    catalog = getattr(catalog, "main_catalog", catalog)
    if catalog.schema is None:
        raise ConfigError(f"HATS catalogue {os.fspath(path)!r} has no schema (_common_metadata): rewrite it with "
                          "lsdb's to_hats or hats-import.")
    meta = npd.from_pyarrow(catalog.schema.empty_table())
    what = f"HATS catalogue {os.fspath(path)!r}"
    check_light_curve_column(meta, columns, what)
    id_column = id_column_of(meta, columns, what)
    base = catalog.catalog_base_dir
    return [HatsPartition(f"Norder={pixel.order}_Npix={pixel.pixel}",
                          str(hats.io.pixel_catalog_file(base, pixel)), columns, id_column)
            for pixel in catalog.get_healpix_pixels()]


def id_column_of(meta, columns, what):
    """The object id base column: `columns.id`, else the first of the usual
    id names present."""
    from astromer.data.lightcurves import COLUMN_ALIASES

    base = [str(c) for c in meta.columns if c not in getattr(meta, "nested_columns", [])]
    if columns.id is not None:
        if columns.id not in base:
            raise ConfigError(f"{what} has no id column {columns.id!r}; its base columns are {base}.")
        return columns.id
    found = [name for name in COLUMN_ALIASES["id"] if name in base]
    if not found:
        raise ConfigError(f"{what} has none of the usual id columns {list(COLUMN_ALIASES['id'])}; its base columns "
                          f"are {base}: name the object id column (LightCurveColumns(id=...)).")
    return found[0]
