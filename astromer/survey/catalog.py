"""Embeddings (and hand-crafted features) as new columns of an LSDB
catalogue whose light curves are a nested column (nested-pandas), lazily:
the catalogue's own `map_partitions` runs the survey's per-partition task
(`survey.task.embed_partition`, the model loaded once per worker process)
on each HATS pixel when the user computes or writes the result.

    import lsdb
    from astromer.survey.catalog import embed_catalog

    objects = lsdb.open_catalog("ztf_dr_lc/")                 # a nested column "lc"
    embedded = embed_catalog(objects, "weights/astromer1-macho", band="r")
    embedded.query("astromer_n_windows > 0").to_hats("ztf_embedded/")

The embedding is written as one float32 column per dimension
(`astromer_emb_0`, ...), not as a list column: HATS writes plain scalar
columns with their per-partition min/max statistics, `query` and
crossmatches can use them, any Parquet reader reads them, and Dask's meta
has no object/list dtype to guess (lsdb's `nest_lists` docstring on the
string conversion of list columns). `embedding_matrix` stacks them back.
"""

import dataclasses

import numpy as np

from astromer.errors import ConfigError

DEFAULT_PREFIX = "astromer_"


@dataclasses.dataclass(frozen=True)
class LightCurveColumns:
    """Where the light curves are: the nested column and its subcolumns.

    `band` is read when the nested column has it (a single-band model
    chooses one with `band=` in the settings). `id` is the object id base
    column, needed only where ids are written (a HATS catalogue as a job's
    input, `survey.hats`); None there: the first of the usual id names
    (`id`, `objectid`, `source_id`, ...) among the base columns.
    """

    column: str = "lc"
    time: str = "time"
    mag: str = "mag"
    err: str = "err"
    band: str = "band"
    id: str = None

    @classmethod
    def of(cls, column):
        """A `LightCurveColumns` from itself or a nested column name."""
        return column if isinstance(column, cls) else cls(column=str(column))


def check_light_curve_column(meta, columns, what="the catalogue"):
    """The nested column and subcolumns of `columns` in `meta` (an empty
    NestedFrame of the schema), or a one-line `ConfigError` naming what is
    there. Returns the subcolumns to read (band only where present)."""
    nested = list(getattr(meta, "nested_columns", []))
    name = columns.column
    if name not in meta.columns:
        raise ConfigError(f"{what} has no column {name!r}; its nested columns are {nested} (columns "
                          f"{[str(c) for c in meta.columns]}): pass the light curves' nested column (column=...).")
    if name not in nested:
        raise ConfigError(f"Column {name!r} of {what} is not a nested column ({meta.dtypes[name]}); its nested "
                          f"columns are {nested}: nest the light curves first (e.g. lsdb's nest_lists).")
    present = list(meta[name].nest.columns)
    wanted = {"time": columns.time, "mag": columns.mag, "err": columns.err}
    missing = {role: sub for role, sub in wanted.items() if sub not in present}
    if missing:
        raise ConfigError(f"Nested column {name!r} has no subcolumn(s) {list(missing.values())}; its subcolumns "
                          f"are {present}: name them with {', '.join(f'{r}=' for r in missing)} (LightCurveColumns).")
    if columns.band in present:
        wanted["band"] = columns.band
    return wanted


def light_curve_rows(frame, columns, ids):
    """The rows `id, time, mag, err[, band]` of a partition's nested light
    curves (what the per-partition task reads); `ids[i]` is row i's id. A
    missing (null) light curve has no rows."""
    import pandas as pd

    subcolumns = check_light_curve_column(frame.iloc[:0], columns)
    nest = frame[columns.column].nest
    lengths = np.asarray(nest.len(), np.int64)
    flat = nest.to_flat(columns=list(subcolumns.values()))
    rows = {"id": np.repeat(np.asarray(ids, dtype=object).astype(str), lengths)}
    for role, sub in subcolumns.items():
        values = flat[sub]
        rows[role] = (values.astype(str).to_numpy() if role == "band"
                      else values.to_numpy(dtype=np.float64, na_value=np.nan))
    return pd.DataFrame(rows)


def embed_catalog(catalog, weights=None, column="lc", settings=None, prefix=DEFAULT_PREFIX, **options):
    """`catalog` with embedding (and feature) columns added, lazily.

    Args:
        catalog: an `lsdb.Catalog`, a Dask DataFrame of NestedFrame
            partitions, or a nested-pandas `NestedFrame` (computed at once).
        weights: the model (`SurveySettings.weights`: a run folder,
            `.keras` file, original checkpoint, ...), read by every worker.
        column: the nested light-curve column's name, or a
            `LightCurveColumns` naming its subcolumns too.
        settings: a `survey.task.SurveySettings`; `options` replace its
            fields (e.g. `band="r"`, `features=True`, `max_baseline=900`).
        prefix: of every added column.

    Added columns: `{prefix}n_obs` and `{prefix}n_windows` (int64; 0 where
    cleaning or the model left the object out, its vector then NaN: every
    row of the catalogue is kept and such rows are counted by
    `query(f"{prefix}n_windows == 0")`), `{prefix}emb_0` ... (float32) and,
    with `features=True`, `{prefix}<band>_<feature>` (float64).
    Features on a catalogue need `bands` (or `band`) and `max_baseline`:
    the columns and the periodogram grid must be known before any
    partition is read, and must not differ from pixel to pixel.

    Returns the same kind of object as `catalog`; nothing is computed
    (except for a NestedFrame), so it can be queried, crossmatched and
    written (`to_hats`) in the user's pipeline.
    """
    from astromer.survey.task import SurveySettings

    settings = settings if settings is not None else SurveySettings()
    if weights is not None:
        options["weights"] = str(weights)
    settings = _with_options(settings, options)
    columns = LightCurveColumns.of(column)
    meta = _meta_of(catalog)
    check_light_curve_column(meta, columns)
    added = added_columns(settings, prefix)
    clash = sorted(set(added) & {str(c) for c in meta.columns})
    if clash:
        raise ConfigError(f"The catalogue already has column(s) {clash[:5]}: pass another prefix= "
                          f"(now {prefix!r}).")
    new_meta = _with_added(meta, added)
    if hasattr(catalog, "map_partitions") and hasattr(catalog, "npartitions"):
        return catalog.map_partitions(embed_nested_partition, settings, columns, prefix, meta=new_meta)
    return embed_nested_partition(catalog, settings, columns, prefix)


def _with_options(settings, options):
    fields = {f.name for f in dataclasses.fields(settings)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(f"Unknown setting(s) {unknown}; the settings are {sorted(fields)}.")
    if options.get("bands") is not None:
        options["bands"] = tuple(str(b) for b in options["bands"])
    settings = dataclasses.replace(settings, **options)
    if settings.features and settings.bands is None and settings.band is not None:
        # A single-band model's band is the features' band unless told otherwise.
        settings = dataclasses.replace(settings, bands=(str(settings.band),))
    if settings.weights is None:
        raise ConfigError("No model: pass weights= (a run folder, .keras file or original checkpoint).")
    if not settings.embed:
        raise ConfigError("embed_catalog adds embeddings (embed=False is astromer-features' job).")
    if settings.features and (settings.bands is None or settings.max_baseline is None):
        raise ConfigError(f"features=True on a catalogue needs bands= (now {settings.bands}) and max_baseline= "
                          f"(now {settings.max_baseline}) days: every pixel must share the columns and the "
                          "periodogram grid (astromer-features reports the value for a data set).")
    return settings


def added_columns(settings, prefix=DEFAULT_PREFIX):
    """`{name: dtype}` of the columns `embed_catalog` adds, in order."""
    from astromer.survey.task import cached_embedder

    # The model is built here once, in this process, for its width; a
    # computation in this process (no cluster) reuses it.
    dim = cached_embedder(settings).backbone.hidden_dim
    added = {f"{prefix}n_obs": "int64", f"{prefix}n_windows": "int64"}
    added.update({f"{prefix}emb_{i}": "float32" for i in range(dim)})
    added.update({f"{prefix}{name}": "float64" for name in feature_names(settings)})
    return added


def feature_names(settings):
    """The feature columns `settings` computes, band by band (as
    `core.features.light_curve_features` names them)."""
    if not settings.features:
        return []
    from astromer.core.features import feature_extractor

    names = list(feature_extractor(settings.max_baseline).names)
    return [f"{band}_{name}" for band in settings.bands for name in names]


def embed_nested_partition(frame, settings, columns, prefix=DEFAULT_PREFIX):
    """One partition (a NestedFrame) with the added columns: its light
    curves go through `survey.task.embed_partition` under positional ids,
    so the catalogue's own index (HEALPix, maybe repeated) and row order
    are kept."""
    from astromer.survey.task import embed_partition

    added = added_columns(settings, prefix)
    values = {name: np.full(len(frame), np.nan) for name in added}
    values[f"{prefix}n_obs"] = np.zeros(len(frame), np.int64)
    values[f"{prefix}n_windows"] = np.zeros(len(frame), np.int64)
    rows = light_curve_rows(frame, columns, ids=np.arange(len(frame)))
    if len(rows):
        result, _ = embed_partition(rows, settings)
        at = result["id"].astype(np.int64).to_numpy()
        values[f"{prefix}n_obs"][at] = result["n_obs"].to_numpy()
        values[f"{prefix}n_windows"][at] = result["n_windows"].to_numpy()
        if len(result):
            vectors = np.stack(result["embedding"].to_numpy())
            for i in range(vectors.shape[1]):
                values[f"{prefix}emb_{i}"][at] = vectors[:, i]
        for name in feature_names(settings):
            values[f"{prefix}{name}"][at] = result[name].to_numpy(np.float64)
    return frame.assign(**{name: values[name].astype(dtype) for name, dtype in added.items()})


def embedding_matrix(frame, prefix=DEFAULT_PREFIX):
    """`(rows, dim)` float32 embeddings of a computed result (NaN rows where
    an object was not embedded)."""
    dim = sum(1 for c in frame.columns if str(c).startswith(f"{prefix}emb_"))
    return frame[[f"{prefix}emb_{i}" for i in range(dim)]].to_numpy(np.float32)


def _meta_of(catalog):
    """An empty NestedFrame of the catalogue's schema."""
    meta = getattr(catalog, "_meta", None) if not hasattr(catalog, "hc_structure") else catalog.meta
    if meta is None:
        if not hasattr(catalog, "nested_columns"):
            raise ConfigError(f"embed_catalog reads an lsdb.Catalog, a Dask frame or a nested-pandas NestedFrame, "
                              f"not a {type(catalog).__name__}.")
        meta = catalog.iloc[:0]
    return meta


def _with_added(meta, added):
    return meta.assign(**{name: np.zeros(0, dtype) for name, dtype in added.items()})
