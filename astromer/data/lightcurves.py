"""Reading light curves from what astronomers have.

Sources: Parquet or CSV files (or a folder of them) and pandas DataFrames
with columns `id, time, mag, err[, band]`; astropy `Table`/`TimeSeries`;
lists of `(L, 3)` arrays (time, magnitude, error). Everything becomes
`LightCurve` records with float64 times.

Common column spellings are understood (`mjd`, `errmag`, `magerr`, `oid`,
...); a missing column fails with the columns that were found.

Every table is validated where it enters (`astromer.data.validation`): `time`, `mag`
and `err` must be numbers (empty cells are missing values, dropped and
counted by cleaning; text such as `abc` fails naming the column, row and
value); ids become strings (integral float ids such as `12.0` become `12`),
and ids of different types that read the same (`1` and `'1'`) or missing
ids fail with their count instead of being merged or dropped; a band
column must have a value in every row. Problems are `DataError`s naming
the file.
"""

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from astromer.data.validation import id_strings, validate_table
from astromer.errors import DataError

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

    def only_bands(self, bands):
        """This light curve with only the observations of `bands` (names; all
        of them without a band column). The one band filter of the library:
        training, embedding and the few-shot benchmark all select with it.
        Asking for a band of a light curve without a band column is an
        error: keeping all rows would embed or train on whatever the table
        holds under a band name it never had."""
        if self.band is None:
            if len(bands):
                raise DataError(no_band_column(bands, f"the table (light curve {self.id!r})"))
            return self
        keep = np.isin(self.band.astype(str), np.array([str(b) for b in bands]))
        return LightCurve(self.id, self.time[keep], self.mag[keep], self.err[keep], band=self.band[keep],
                          label=self.label, meta=self.meta)

    def single_band(self, band, how_to_choose):
        """The observations of `band` for a single-band model; with `band`
        None, the light curve as it is when it has at most one band, else a
        DataError naming its bands and `how_to_choose` one."""
        if band is not None:
            return self.only_bands([band])
        names = self.band_names()
        if len(names) > 1:
            raise DataError(f"light curve {self.id!r} has bands {names}; this single-band model needs one: "
                            f"{how_to_choose}")
        return self


def no_band_column(bands, what="the table", option="--band / data.band"):
    """The one-line error for a band asked of data without a band column."""
    names = ", ".join(repr(str(b)) for b in bands)
    return (f"band {names} was asked for, but {what} has no band column (columns id, time, mag, err: one band): "
            f"leave out {option}, or add a band column")


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
        raise DataError(
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
    """Reads a table of observations into a DataFrame with standard,
    validated columns (see `validate_table`).

    `source`: path to a .parquet/.csv(.gz) file or a folder of them, a pandas
    DataFrame, or an astropy Table/TimeSeries.
    """
    if isinstance(source, pd.DataFrame):
        return _nonempty(validate_table(standardize_columns(source, "the DataFrame"), "the DataFrame"),
                         "the DataFrame")
    if type(source).__module__.startswith("astropy"):
        return _nonempty(validate_table(_from_astropy(source), "the astropy table"), "the astropy table")
    path = os.fspath(source)
    frames = []
    for file in _table_files(path):
        frame = _read_file(file)
        frames.append(validate_table(standardize_columns(frame, repr(file)), repr(file)))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return _nonempty(frame, repr(path))


def _nonempty(frame, source):
    if not len(frame):
        raise DataError(f"{source} has no observations (no rows): nothing to read.")
    return frame


def _read_file(file):
    """One Parquet/CSV file as a DataFrame."""
    with _reading(file):
        return pd.read_csv(file) if file.endswith((".csv", ".csv.gz")) else pd.read_parquet(file)


@contextlib.contextmanager
def _reading(file):
    """Read errors of `file` as `DataError`s naming it."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataError(f"Light-curve table {file!r} is empty (no header, no rows).") from None
    except (DataError, GeneratorExit):
        raise
    except Exception as error:  # the reader's own message says what broke
        raise DataError(f"Cannot read light-curve table {file!r} (damaged or not a table?): "
                        f"{type(error).__name__}: {error}") from None


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
            try:
                array = np.asarray(item, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise DataError(f"Light curve {i} is not an (L, 3) array of numbers (time, magnitude, "
                                f"error): {error}.") from None
            if array.ndim != 2 or array.shape[1] < 3:
                raise DataError(
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
    """Reads an `id,label` CSV into a dict (ids as strings, as the tables'
    ids are: see `validate_table`)."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"Labels file {os.fspath(path)!r} does not exist.") from None
    except Exception as error:
        raise DataError(f"Cannot read labels file {os.fspath(path)!r}: {type(error).__name__}: {error}") from None
    frame = frame.rename(columns={c: c.lower() for c in frame.columns})
    if "id" not in frame.columns or "label" not in frame.columns:
        raise DataError(
            f"Labels file {os.fspath(path)!r} needs columns id,label; found {list(frame.columns)}."
        )
    ids = id_strings(frame["id"], f"labels file {os.fspath(path)!r}")
    return dict(zip(ids, frame["label"]))


def count_rows(source, band=None):
    """Number of observation rows of a Parquet/CSV source (Parquet: from its
    metadata, without reading the data); with `band`, the rows of that band
    (only the band column is read). A source without a band column counts
    all its rows."""
    import pyarrow.parquet as pq

    total = 0
    for file in _table_files(os.fspath(source)):
        csv = file.endswith((".csv", ".csv.gz"))
        names = list(pd.read_csv(file, nrows=0).columns) if csv else pq.ParquetFile(file).schema_arrow.names
        column = next((a for a in COLUMN_ALIASES["band"] if a in names), None)
        if band is not None and column is not None:
            values = (pd.read_csv(file, usecols=[column])[column] if csv
                      else pq.read_table(file, columns=[column]).column(0).to_pandas())
            total += int((values.astype(str) == str(band)).sum())
        elif csv:
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
    finished = set()
    carry = None
    total_rows = 0
    for file in _table_files(os.fspath(source)):
        first_row = 0
        for chunk in _chunks(file, batch_rows):
            if on_rows is not None:
                on_rows(len(chunk))
            if not len(chunk):
                continue  # an empty chunk (e.g. a Parquet row group with no rows)
            chunk = validate_table(standardize_columns(chunk, repr(file)), repr(file), first_row)
            first_row += len(chunk)
            total_rows += len(chunk)
            if carry is not None:
                chunk = pd.concat([carry, chunk], ignore_index=True)
            ids = chunk["id"].to_numpy()
            tail = ids == ids[-1]
            complete, carry = chunk[~tail], chunk[tail]
            yield from _new_light_curves(complete, labels, finished, file)
    if carry is not None and len(carry):
        yield from _new_light_curves(carry, labels, finished, file)
    if not total_rows:
        raise DataError(f"{os.fspath(source)!r} has no observations (no rows): nothing to read.")


def _new_light_curves(frame, labels, finished, file):
    for lc in iter_frame(frame, labels=labels):
        if lc.id in finished:
            raise DataError(
                f"The rows of light curve {lc.id!r} in {file!r} are not contiguous; "
                "streaming needs the table grouped by id (sort it by id first)."
            )
        finished.add(lc.id)
        lc.meta["file"] = file
        yield lc


def _chunks(file, batch_rows):
    """DataFrames of at most `batch_rows` rows of one file."""
    import pyarrow.parquet as pq

    with _reading(file):
        if file.endswith((".csv", ".csv.gz")):
            chunks = pd.read_csv(file, chunksize=batch_rows)
        else:
            # Without pre-buffering and reader threads, pyarrow's memory
            # stays flat however many batches are read (with them it grows).
            reader = pq.ParquetFile(file, pre_buffer=False)
            chunks = (b.to_pandas() for b in reader.iter_batches(batch_size=batch_rows, use_threads=False))
        yield from chunks
