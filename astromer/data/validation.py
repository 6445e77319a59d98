"""Checking a light-curve table where it enters: numbers that must be
numbers, ids that must name one light curve each, bands in every row.

`validate_table` is called by every reader of `astromer.data.lightcurves`
(whole tables and streamed chunks); a problem is a `DataError` naming the
source, the column, the first bad row (counted from 1 after the header,
across chunks) and its value.
"""

import numpy as np
import pandas as pd

from astromer.errors import DataError

MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none"}


def _first(rows, frame, first_row):
    """Position (1-based, header excluded, counted from `first_row`) and
    value of the first True row of `rows`."""
    position = int(np.flatnonzero(np.asarray(rows))[0])
    return first_row + position + 1, frame.iloc[position]


def validate_table(frame, source="the table", first_row=0):
    """A standardised table with numeric `time, mag, err`, string ids and
    string bands, or a `DataError` naming `source`, the column, the first
    bad row (counted from 1 after the header; `first_row` rows were read
    before this chunk) and its value."""
    # Shallow: the columns replaced below are new arrays; the caller's frame
    # keeps its own (a deep copy would double a big in-memory table).
    frame = frame.copy(deep=False)
    for name in ("time", "mag", "err"):
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            raise DataError(f"Column {name!r} of {source} holds dates; give times as numbers in days "
                            "(e.g. MJD: astropy.time.Time(...).mjd).")
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            frame[name] = column.astype(np.float64)
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        text = column.astype(str).str.strip().str.lower()
        bad = numbers.isna() & column.notna() & ~text.isin(MISSING_TEXT)
        if pd.api.types.is_bool_dtype(column):
            bad = column.notna()
        if bad.any():
            row, value = _first(bad, column, first_row)
            raise DataError(f"Column {name!r} of {source} has {int(bad.sum()):,} value(s) that are not numbers, "
                            f"first at row {row:,}: {value!r}. Correct or remove those rows (empty cells are "
                            "read as missing values and dropped by cleaning).")
        frame[name] = numbers.astype(np.float64)
    frame["id"] = id_strings(frame["id"], source, first_row)
    if "band" in frame.columns:
        band = frame["band"]
        missing = band.isna() | band.astype(str).str.strip().str.lower().isin(MISSING_TEXT)
        if missing.any():
            row, _ = _first(missing, band, first_row)
            raise DataError(f"Column 'band' of {source} is empty in {int(missing.sum()):,} row(s), first at row "
                            f"{row:,}: give every observation its band, or drop the band column for one band.")
        frame["band"] = _as_text(band)
    return frame


def _as_text(column):
    """Values as strings; integral floats without their `.0` (a column of
    integer ids read with a missing value becomes float in pandas)."""
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy()
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return column.astype(np.int64).astype(str)
    if pd.api.types.is_integer_dtype(column) or pd.api.types.is_string_dtype(column) and \
            pd.api.types.infer_dtype(column, skipna=False) == "string":
        return column.astype(str)
    return column.map(_text)


def _text(value):
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def id_strings(column, source, first_row=0):
    """Ids as strings. Missing or empty ids, and ids of different types
    that would read the same (`1` and `'1'`), fail with their count: they
    must not be merged into one light curve or dropped without a word."""
    missing = column.isna() | (column.astype(str).str.strip() == "")
    if missing.any():
        row, _ = _first(missing, column, first_row)
        raise DataError(f"{int(missing.sum()):,} row(s) of {source} have no id (missing or empty), first at row "
                        f"{row:,}: every observation needs its light curve's id.")
    text = _as_text(column)
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=False) not in ("string", "bytes"):
        kinds = column.map(lambda v: "text" if isinstance(v, (str, bytes)) else "number")
        clash = pd.DataFrame({"id": text, "kind": kinds}).groupby("id")["kind"].nunique()
        clash = clash[clash > 1]
        if len(clash):
            raise DataError(f"{len(clash):,} id(s) of {source} are given both as numbers and as text (e.g. "
                            f"{clash.index[0]} and {clash.index[0]!r}), which would merge different light curves: "
                            "give the id column one type.")
    return text
