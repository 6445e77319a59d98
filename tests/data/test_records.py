import json

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")

from astromer.data.lightcurves import LightCurve  # noqa: E402
from astromer.data.records import check_records, read_records, record_files, write_records  # noqa: E402
from tests.conftest import shared_path  # noqa: E402
from tests.harness import run_cli, script_main  # noqa: E402


@pytest.mark.parametrize("folder,cleaned", [("records_a2_maincode", True), ("records_a1_pylib", False)])
def test_oracle_records_read_as_the_oracle_light_curves(raw_light_curves, folder, cleaned):
    lcs = list(read_records(shared_path("oracles", folder)))
    assert sorted(lc.id for lc in lcs) == sorted(raw_light_curves)
    for lc in lcs:
        raw = raw_light_curves[lc.id]
        if cleaned:  # main-code's writer keeps 0 < err < 1 and sorts by time
            raw = raw[(raw[:, 2] > 0) & (raw[:, 2] < 1)]
            raw = raw[np.argsort(raw[:, 0], kind="stable")]
        np.testing.assert_array_equal(lc.time, raw[:, 0].astype(np.float32))
        np.testing.assert_array_equal(lc.mag, raw[:, 1].astype(np.float32))
        np.testing.assert_array_equal(lc.err, raw[:, 2].astype(np.float32))
    if folder == "records_a2_maincode":
        assert {lc.label for lc in lcs} == {"sin", "ecl", "noise", "macho_R"}


def make_lcs(n=20, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(5, 300))
        t = 50000 + np.sort(rng.uniform(0, 3000, length))
        out.append(LightCurve(f"lc{i}", t, rng.normal(17, 1, length), rng.uniform(0.01, 0.3, length),
                              label=["A", "B"][i % 2]))
    return out


@pytest.mark.parametrize("schema", ["main-code", "python-library"])
def test_write_read_round_trip(tmp_path, schema):
    lcs = make_lcs()
    manifest = write_records(lcs, tmp_path, shards=8, schema=schema, class_names=["A", "B"])
    files = record_files(tmp_path)
    assert len(files) == 24 and all(len(list((tmp_path / s).glob("*.record"))) == 8 for s in ("train", "val", "test"))
    assert sum(s["light_curves"] for s in manifest["splits"].values()) == 20
    assert json.loads((tmp_path / "manifest.json").read_text())["schema"] == schema
    back = {lc.id: lc for lc in read_records(tmp_path)}
    for lc in lcs:
        got = back[lc.id]
        # float32 storage; times as offsets keep far more than float32 MJDs
        np.testing.assert_array_equal(got.mag, lc.mag.astype(np.float32))
        np.testing.assert_array_equal(got.err, lc.err.astype(np.float32))
        assert np.abs(got.time - lc.time).max() < 2e-4
        assert got.label == (lc.label if schema == "main-code" else ["A", "B"].index(lc.label))
    original_precision = np.abs(lcs[0].time.astype(np.float32) - lcs[0].time).max()
    assert np.abs(back["lc0"].time - lcs[0].time).max() < original_precision / 10


def test_fixed_splits(tmp_path):
    lcs = make_lcs(6)
    manifest = write_records(lcs, tmp_path, splits={"lc0": "train", "lc1": "test"}, shards=2)
    assert manifest["splits"]["train"]["light_curves"] == 1 and manifest["not_in_fixed_splits"] == 4


def test_corrupt_and_truncated_files_are_named(tmp_path):
    write_records(make_lcs(), tmp_path, shards=1)
    (train,) = (tmp_path / "train").glob("*.record")
    data = train.read_bytes()
    train.write_bytes(data[: len(data) - 7])
    with pytest.raises(ValueError, match=rf"Record file '.*{train.name}' is corrupt or truncated after \d+ records"):
        check_records([str(train)])
    garbage = tmp_path / "garbage.record"
    garbage.write_bytes(b"not a record at all" * 10)
    with pytest.raises(ValueError, match="garbage.record"):
        check_records([str(garbage)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No .record/.tfrecord files under"):
        record_files(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        record_files(tmp_path / "missing")


def test_pipeline_command(tmp_path):
    rows = []
    for lc in make_lcs(30):
        rows += [(lc.id, t, m, e) for t, m, e in zip(lc.time, lc.mag, lc.err)]
    table = pd.DataFrame(rows, columns=["id", "time", "mag", "err"])
    table.loc[3, "mag"] = np.nan
    table.to_parquet(tmp_path / "lcs.parquet")
    (tmp_path / "labels.csv").write_text("id,label\n" + "\n".join(f"lc{i},{'AB'[i % 2]}" for i in range(30)) + "\nghost,A\n")
    out = run_cli(script_main("pipelines/make_records.py"),
                  [tmp_path / "lcs.parquet", tmp_path / "rec", "--labels", tmp_path / "labels.csv", "--shards", "8"])
    assert out.returncode == 0, out.stderr
    assert "dropped 1 rows with NaN/inf" in out.stdout
    assert "1 labels name ids not in the table" in out.stdout
    manifest = json.loads((tmp_path / "rec" / "manifest.json").read_text())
    assert manifest["class_names"] == ["A", "B"]
    counts = manifest["splits"]
    assert sum(s["light_curves"] for s in counts.values()) == 30
    assert sum(sum(s["per_class"].values()) for s in counts.values()) == 30
    assert manifest["cleaning"]["rows_nonfinite"] == 1
