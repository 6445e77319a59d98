"""Where tables enter: numbers that are not numbers, ids and bands that
would merge or vanish, empty tables and chunks; and the finite values too
large for the model that cleaning drops (issues 20 and 23)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curve
from astromer.data.lightcurves import LightCurve, iter_light_curves, read_table, stream_light_curves
from astromer.errors import DataError


def table(**columns):
    n = len(next(iter(columns.values())))
    base = {"id": ["a"] * n, "time": np.arange(n, dtype=float), "mag": np.full(n, 15.0), "err": np.full(n, 0.1)}
    base.update(columns)
    return pd.DataFrame(base)


def test_text_in_a_numeric_column_names_column_row_and_value(tmp_path):
    path = tmp_path / "t.csv"
    table(mag=["15.1", "15.2", "abc", "", "15.0"]).to_csv(path, index=False)
    message = rf"Column 'mag' of '{path}' has 1 value\(s\) that are not numbers, first at row 3: 'abc'"
    with pytest.raises(DataError, match=message):
        read_table(str(path))
    with pytest.raises(DataError, match=message):
        list(stream_light_curves(str(path)))
    # The empty cell is a missing value (cleaning drops and counts it), not an error.
    frame = read_table(table(mag=["15.1", "", "nan", "15.0"]))
    assert frame["mag"].isna().tolist() == [False, True, True, False]


def test_row_numbers_count_across_stream_chunks(tmp_path):
    path = tmp_path / "t.csv"
    frame = pd.concat([table(id=[f"o{i}"] * 5) for i in range(4)], ignore_index=True)
    frame["time"] = frame["time"].astype(object)
    frame.loc[17, "time"] = "x"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="first at row 18: 'x'"):
        list(stream_light_curves(str(path), batch_rows=6))


def test_ids_become_strings_and_clashes_fail():
    frame = read_table(table(id=[1.0, 1.0, 2.0, 2.0]))  # integer ids read as floats
    assert frame["id"].tolist() == ["1", "1", "2", "2"]
    frame = read_table(table(id=[1, 1, "a", "a"]))
    assert [lc.id for lc in iter_light_curves(frame)] == ["1", "a"]
    with pytest.raises(DataError, match=r"1 id\(s\) of the DataFrame are given both as numbers and as text \(e.g. 1 and '1'\)"):
        read_table(table(id=[1, 1, "1", "1"]))


def test_missing_ids_and_bands_are_counted_errors():
    with pytest.raises(DataError, match=r"2 row\(s\) of the DataFrame have no id \(missing or empty\), first at row 2"):
        read_table(table(id=["a", None, "", "b"]))
    with pytest.raises(DataError, match=r"Column 'band' of the DataFrame is empty in 1 row\(s\), first at row 3"):
        read_table(table(band=["g", "r", np.nan, "g"]))
    assert read_table(table(band=[1.0, 2.0, 1.0, 2.0]))["band"].tolist() == ["1", "2", "1", "2"]


def test_empty_tables(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(str(empty))
    with pytest.raises(DataError, match="is empty"):
        list(stream_light_curves(str(empty)))
    header = tmp_path / "header.csv"
    header.write_text("id,time,mag,err\n")
    with pytest.raises(DataError, match="has no observations"):
        read_table(str(header))
    with pytest.raises(DataError, match="has no observations"):
        list(stream_light_curves(str(header)))


def test_empty_chunks_are_skipped(tmp_path):
    # A Parquet file whose row groups include empty ones, last among them.
    path = tmp_path / "groups.parquet"
    frame = pd.concat([table(id=[f"o{i}"] * 4) for i in range(3)], ignore_index=True)
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, arrow.schema) as writer:
        writer.write_table(arrow.slice(0, 6))
        writer.write_table(arrow.slice(6, 0))
        writer.write_table(arrow.slice(6, 6))
        writer.write_table(arrow.slice(12, 0))
    got = list(stream_light_curves(str(path), batch_rows=6))
    assert [(lc.id, len(lc)) for lc in got] == [("o0", 4), ("o1", 4), ("o2", 4)]
    assert {lc.meta["file"] for lc in got} == {str(path)}


def test_damaged_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    table(id=["a"] * 8).to_parquet(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match=f"Cannot read light-curve table '{path}'"):
        read_table(str(path))
    with pytest.raises(DataError, match=f"Cannot read light-curve table '{path}'"):
        list(stream_light_curves(str(path)))


def test_arrays_of_text_name_the_light_curve():
    with pytest.raises(DataError, match="Light curve 1 is not an"):
        list(iter_light_curves([np.ones((3, 3)), [["1", "x", "0.1"]]]))


@pytest.mark.parametrize("column,value,field", [
    ("time", 1e39, "rows_time_out_of_range"), ("time", -2e7, "rows_time_out_of_range"),
    ("mag", 1e20, "rows_mag_out_of_range"), ("mag", 1e19, "rows_mag_out_of_range"),
    ("err", 1e300, "rows_err_out_of_range"),
])
def test_finite_values_too_large_for_the_model_are_dropped_and_counted(column, value, field):
    n = 8
    arrays = {"time": 50000.0 + np.arange(n), "mag": np.full(n, 15.0), "err": np.full(n, 0.1)}
    arrays[column] = arrays[column].copy()
    arrays[column][3] = value
    report = CleaningReport()
    config = CleaningConfig(max_error=np.inf) if column == "err" else CleaningConfig()
    out = clean_light_curve(LightCurve("x", **arrays), config, report)
    assert len(out) == n - 1 and 3 not in np.flatnonzero(np.isin(out.time, arrays["time"][3]))
    assert getattr(report, field) == 1
    assert "dropped 1 rows with" in report.summary()
    # The bound is a setting: None keeps the value.
    loose = CleaningConfig(max_error=np.inf, **{f"max_abs_{column}": None})
    assert len(clean_light_curve(LightCurve("x", **arrays), loose)) == n


def test_julian_dates_are_inside_the_time_bound():
    time = 2_460_000.5 + np.arange(10.0)
    out = clean_light_curve(LightCurve("jd", time, np.full(10, 15.0), np.full(10, 0.1)))
    assert np.array_equal(out.time, time)


def test_validation_leaves_the_callers_table_as_it_was():
    from astromer.data.validation import validate_table

    frame = table(id=[7, 7, 8], mag=["15.1", "15.2", "15.3"], band=[1.0, 2.0, 1.0])
    frame["extra"] = [1, 2, 3]
    before = frame.copy()
    out = validate_table(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(out["id"]) == ["7", "7", "8"] and list(out["band"]) == ["1", "2", "1"]
    assert out["mag"].dtype == np.float64 and out["mag"].iloc[2] == 15.3
    out.loc[0, "extra"] = 99  # the copy is the caller's no more
    assert frame.loc[0, "extra"] == 1
