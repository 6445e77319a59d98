"""Reading light curves from what astronomers have.

Sources: Parquet or CSV files (or a folder of them) and pandas DataFrames
with columns `id, time, mag, err[, band]`; astropy `Table`/`TimeSeries`;
lists of `(L, 3)` arrays (time, magnitude, error). Everything becomes
`LightCurve` records with float64 times.

Common column spellings are understood (`mjd`, `errmag`, `magerr`, `oid`,
...); a missing column fails with the columns that were found.
"""

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMN_ALIASES = {
    "id": ("id", "oid", "objectid", "object_id", "source_id", "lcid", "ID", "newID"),
    "time": ("time", "mjd", "t", "jd", "hjd", "bjd", "MJD"),
    "mag": ("mag", "magnitude", "m", "flux_mag"),
    "err": ("err", "errmag", "magerr", "mag_err", "error", "sigma", "emag", "err_mag"),
    "band": ("band", "filter", "passband", "fid"),
}
REQUIRED = ("id", "time", "mag", "err")


@dataclass
class LightCurve:
    """One light curve: float64 `time` (days), `mag`, `err`; optional
    `band` (per-observation band names) and `label`."""

    id: str
    time: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    band: np.ndarray = None
    label: object = None
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.time)

    def as_array(self):
        """`(L, 3)` float64 array of time, magnitude, error."""
        return np.stack([self.time, self.mag, self.err], axis=1)

    def band_names(self):
        """The sorted names of the bands this light curve has (empty without
        a band column)."""
        return [] if self.band is None else [str(b) for b in np.unique(self.band.astype(str))]


def bands_of(light_curves):
    """The sorted names of every band in `light_curves` (empty when none has
    a band column)."""
    return sorted({b for lc in light_curves for b in lc.band_names()})


def standardize_columns(frame, source="the table"):
    """Renames known column spellings to `id, time, mag, err[, band]`."""
    rename = {}
    present = list(frame.columns)
    for canonical, aliases in COLUMN_ALIASES.items():
        if canonical in present:
            continue
        for alias in aliases:
            if alias in present:
                rename[alias] = canonical
                break
    frame = frame.rename(columns=rename)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source} has no column for {missing} (found columns {present}). Expected "
            f"id, time, mag, err[, band]; accepted spellings: "
            + "; ".join(f"{c}: {COLUMN_ALIASES[c]}" for c in missing)
        )
    return frame


def _table_files(path):
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f)
            for f in os.listdir(path)
            if f.endswith((".parquet", ".pq", ".csv", ".csv.gz"))
        )
        if not files:
            raise FileNotFoundError(
                f"No .parquet or .csv light-curve tables in folder {path!r} "
                f"(found {sorted(os.listdir(path))[:10]})."
            )
        return files
    if not os.path.exists(path):
        raise FileNotFoundError(f"Light-curve table {path!r} does not exist.")
    return [path]


def read_table(source):
    """Reads a table of observations into a DataFrame with standard columns.

    `source`: path to a .parquet/.csv(.gz) file or a folder of them, a pandas
    DataFrame, or an astropy Table/TimeSeries.
    """
    if isinstance(source, pd.DataFrame):
        return standardize_columns(source, "the DataFrame")
    if type(source).__module__.startswith("astropy"):
        return _from_astropy(source)
    path = os.fspath(source)
    frames = []
    for file in _table_files(path):
        try:
            if file.endswith((".csv", ".csv.gz")):
                frame = pd.read_csv(file)
            else:
                frame = pd.read_parquet(file)
        except Exception as error:  # the reader's own message says what broke
            raise ValueError(f"Cannot read light-curve table {file!r}: {error}") from error
        frames.append(standardize_columns(frame, repr(file)))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _from_astropy(table):
    columns = {}
    for name in table.colnames:
        column = table[name]
        if name == "time" and hasattr(column, "mjd"):
            columns["time"] = np.asarray(column.mjd, dtype=np.float64)
        else:
            columns[name] = np.asarray(getattr(column, "value", column))
    frame = pd.DataFrame(columns)
    if "id" not in frame.columns and not any(a in frame.columns for a in COLUMN_ALIASES["id"]):
        # A TimeSeries is usually one object.
        frame["id"] = str(table.meta.get("id", table.meta.get("name", "0")))
    return standardize_columns(frame, "the astropy table")


def iter_light_curves(source, ids=None, labels=None):
    """Yields `LightCurve`s from any supported source, in order of first appearance.

    Args:
        source: see `read_table`, or a list of `(L, 3)` arrays / `LightCurve`s.
        ids: ids for a list of arrays (default "0", "1", ...).
        labels: optional mapping id -> label.
    """
    if isinstance(source, (list, tuple)) or (
        hasattr(source, "__iter__") and not isinstance(source, (str, bytes, os.PathLike, pd.DataFrame))
        and not type(source).__module__.startswith("astropy")
    ):
        for i, item in enumerate(source):
            if isinstance(item, LightCurve):
                yield item
                continue
            array = np.asarray(item, dtype=np.float64)
            if array.ndim != 2 or array.shape[1] < 3:
                raise ValueError(
                    f"Light curve {i} must be an (L, 3) array of time, magnitude, error; "
                    f"got shape {array.shape}."
                )
            oid = str(ids[i]) if ids is not None else str(i)
            yield LightCurve(
                oid, array[:, 0], array[:, 1], array[:, 2],
                label=None if labels is None else labels.get(oid),
            )
        return
    frame = read_table(source)
    yield from iter_frame(frame, labels=labels)


def iter_frame(frame, labels=None):
    """Groups a standardised DataFrame by id (stable: rows keep their order)."""
    ids = frame["id"].astype(str).to_numpy()
    codes, uniques = pd.factorize(ids)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = np.split(order, bounds)
    time = frame["time"].to_numpy(dtype=np.float64)
    mag = frame["mag"].to_numpy(dtype=np.float64)
    err = frame["err"].to_numpy(dtype=np.float64)
    band = frame["band"].astype(str).to_numpy() if "band" in frame.columns else None
    for rows in groups:
        if len(rows) == 0:
            continue
        oid = ids[rows[0]]
        yield LightCurve(
            oid,
            time[rows],
            mag[rows],
            err[rows],
            band=None if band is None else band[rows],
            label=None if labels is None else labels.get(oid),
        )


def read_labels(path):
    """Reads an `id,label` CSV into a dict (ids as strings)."""
    frame = pd.read_csv(path)
    frame = frame.rename(columns={c: c.lower() for c in frame.columns})
    if "id" not in frame.columns or "label" not in frame.columns:
        raise ValueError(
            f"Labels file {path!r} needs columns id,label; found {list(frame.columns)}."
        )
    return dict(zip(frame["id"].astype(str), frame["label"]))


def count_rows(source):
    """Number of observation rows of a Parquet/CSV source (Parquet: from its
    metadata, without reading the data)."""
    import pyarrow.parquet as pq

    total = 0
    for file in _table_files(os.fspath(source)):
        if file.endswith((".csv", ".csv.gz")):
            with (open(file, "rb")) as f:
                total += max(0, sum(1 for _ in f) - 1)
        else:
            total += pq.ParquetFile(file).metadata.num_rows
    return total


def stream_light_curves(source, labels=None, batch_rows=500_000, on_rows=None):
    """Yields `LightCurve`s from Parquet/CSV files reading `batch_rows` rows
    at a time, so catalogues larger than memory stream in constant memory.

    The rows of one light curve must be contiguous (tables grouped or sorted
    by id, as our writers and most survey exports are); an id that comes
    back after other ids fails with its name. Other sources (DataFrames,
    arrays, astropy tables) are in memory already and go through
    `iter_light_curves`. `on_rows(n)` is called with every batch's row count
    (for progress bars).
    """
    if isinstance(source, pd.DataFrame) or not isinstance(source, (str, os.PathLike)):
        yield from iter_light_curves(source, labels=labels)
        return
    import pyarrow.parquet as pq

    finished = set()
    carry = None
    for file in _table_files(os.fspath(source)):
        if file.endswith((".csv", ".csv.gz")):
            chunks = pd.read_csv(file, chunksize=batch_rows)
        else:
            # Without pre-buffering and reader threads, pyarrow's memory
            # stays flat however many batches are read (with them it grows).
            reader = pq.ParquetFile(file, pre_buffer=False)
            chunks = (b.to_pandas() for b in reader.iter_batches(batch_size=batch_rows, use_threads=False))
        for chunk in chunks:
            if on_rows is not None:
                on_rows(len(chunk))
            chunk = standardize_columns(chunk, repr(file))
            chunk["id"] = chunk["id"].astype(str)
            if carry is not None:
                chunk = pd.concat([carry, chunk], ignore_index=True)
            ids = chunk["id"].to_numpy()
            last = ids[-1]
            tail = ids == last
            complete, carry = chunk[~tail], chunk[tail]
            for lc in iter_frame(complete, labels=labels):
                if lc.id in finished:
                    raise ValueError(
                        f"The rows of light curve {lc.id!r} in {file!r} are not contiguous; "
                        "streaming needs the table grouped by id (sort it by id first)."
                    )
                finished.add(lc.id)
                yield lc
    if carry is not None and len(carry):
        for lc in iter_frame(carry, labels=labels):
            if lc.id in finished:
                raise ValueError(f"The rows of light curve {lc.id!r} are not contiguous; sort the table by id.")
            yield lc
