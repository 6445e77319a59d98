import numpy as np
import pandas as pd
import pytest

from astromer.data.lightcurves import LightCurve, iter_light_curves, read_labels, read_table


def frame():
    return pd.DataFrame(
        {
            "oid": ["b", "a", "b", "a", "b"],
            "mjd": [50000.1, 50001.0, 50000.3, 50002.5, 50000.2],
            "magnitude": [15.0, 16.0, 15.2, 16.1, 15.1],
            "magerr": [0.01, 0.02, 0.01, 0.02, 0.01],
            "band": ["R", "R", "B", "R", "R"],
        }
    )


def test_aliases_grouping_and_float64_times():
    lcs = list(iter_light_curves(frame()))
    assert [lc.id for lc in lcs] == ["b", "a"]  # order of first appearance
    b = lcs[0]
    np.testing.assert_array_equal(b.time, [50000.1, 50000.3, 50000.2])  # rows keep their order
    assert b.time.dtype == np.float64 and list(b.band) == ["R", "B", "R"]


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_files_and_folders(tmp_path, suffix):
    f = frame()
    path = tmp_path / f"part.{suffix}"
    f.to_parquet(path) if suffix == "parquet" else f.to_csv(path, index=False)
    assert len(read_table(path)) == 5
    assert len(read_table(tmp_path)) == 5
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No .parquet or .csv light-curve tables in folder"):
        read_table(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "nothing.parquet")


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"no column for \['err'\] \(found columns \['id', 'time', 'mag'\]\)"):
        read_table(pd.DataFrame({"id": [1], "time": [1.0], "mag": [1.0]}))


def test_arrays_and_astropy():
    lcs = list(iter_light_curves([np.ones((4, 3)), np.zeros((2, 3))], ids=["x", "y"]))
    assert [lc.id for lc in lcs] == ["x", "y"] and len(lcs[1]) == 2
    with pytest.raises(ValueError, match=r"Light curve 0 must be an \(L, 3\) array .* \(4,\)"):
        list(iter_light_curves([np.ones(4)]))
    table = pytest.importorskip("astropy.table")
    t = table.Table({"id": ["s", "s"], "time": [1.0, 2.0], "mag": [10.0, 11.0], "err": [0.1, 0.1]})
    (lc,) = iter_light_curves(t)
    assert lc.id == "s" and list(lc.mag) == [10.0, 11.0]
    timeseries = pytest.importorskip("astropy.timeseries")
    from astropy.time import Time

    ts = timeseries.TimeSeries(time=Time([55000.0, 55001.0], format="mjd"), data={"mag": [1.0, 2.0], "err": [0.1, 0.2]})
    (lc,) = iter_light_curves(ts)
    np.testing.assert_allclose(lc.time, [55000.0, 55001.0])


def test_labels(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,label\na,RRL\nb,EB\n")
    assert read_labels(path) == {"a": "RRL", "b": "EB"}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,class\na,RRL\n")
    with pytest.raises(ValueError, match="needs columns id,label"):
        read_labels(bad)
    assert isinstance(LightCurve("x", np.zeros(1), np.zeros(1), np.zeros(1)).as_array(), np.ndarray)
