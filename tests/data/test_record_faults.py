"""Record shards that do not hold what the writer's manifest says, and
tables the record writer used to crash on (issues "Bad input and faults",
"short shards")."""

import importlib.util
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")

from astromer.data.records import check_records, read_records, record_files, write_records  # noqa: E402
from astromer.errors import DataError  # noqa: E402
from tests.data.test_records import make_lcs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def records(tmp_path):
    folder = tmp_path / "rec"
    manifest = write_records(make_lcs(40), folder, shards=3, splits={"train": 0.8, "val": 0.2})
    return folder, manifest


def record_ends(path):
    """Byte offsets where each record of a TFRecord file ends."""
    data, ends, position = path.read_bytes(), [], 0
    while position < len(data):
        (length,) = struct.unpack("<Q", data[position:position + 8])
        position += 16 + length
        ends.append(position)
    return ends


def test_manifest_counts_per_shard_equal_what_is_read(records):
    folder, manifest = records
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["splits"] == manifest["splits"]
    assert set(on_disk) >= {"schema", "shards_per_split", "seed", "splits", "class_names", "band_names",
                            "not_in_fixed_splits", "config"}
    seen = 0
    for split, entry in manifest["splits"].items():
        assert sorted(entry["shards"]) == [f"shard-{k:03d}-of-003.record" for k in range(3)]
        for name, count in entry["shards"].items():
            shard = folder / split / name
            assert len(list(read_records(shard))) == count
            assert check_records([str(shard)])[1] == [count]
            seen += count
        assert sum(entry["shards"].values()) == entry["light_curves"]
    assert seen == 40 == len(list(read_records(folder)))


def test_records_are_counted_once_until_a_file_or_manifest_changes(records, tmp_path, monkeypatch):
    from astromer.data import record_checks

    folder = tmp_path / "copy"
    shutil.copytree(records[0], folder)
    reads = []
    count = record_checks._count_records
    monkeypatch.setattr(record_checks, "_count_records", lambda tf, file: reads.append(file) or count(tf, file))
    files = record_files(folder / "train")
    first = check_records(files)
    assert len(reads) == len(files) == 3
    assert check_records(files) == first and len(reads) == 3  # a run's later asks read nothing
    manifest = folder / "manifest.json"
    text = json.loads(manifest.read_text())
    shard = sorted(text["splits"]["train"]["shards"])[0]
    text["splits"]["train"]["shards"][shard] += 1
    manifest.write_text(json.dumps(text))
    with pytest.raises(DataError, match=shard):  # the manifest changed: read and compared again
        check_records(files)
    assert len(reads) == 6


@pytest.mark.parametrize("cut", ["record boundary", "5 bytes", "0 bytes"])
def test_a_short_shard_fails_naming_it_with_the_counts(records, cut):
    folder, manifest = records
    shard = folder / "train" / "shard-001-of-003.record"
    want = manifest["splits"]["train"]["shards"][shard.name]
    assert want >= 2
    data = shard.read_bytes()
    size, read = {"record boundary": (record_ends(shard)[0], 1), "5 bytes": (5, 0), "0 bytes": (0, 0)}[cut]
    shard.write_bytes(data[:size])
    for reader in (lambda: list(read_records(folder)), lambda: list(read_records(shard)),
                   lambda: check_records(record_files(folder / "train"))):
        with pytest.raises(DataError) as error:
            reader()
        message = str(error.value)
        assert shard.name in message and "pipelines/make_records.py" in message
        assert f"expects {want}, read {read}" in message or f"(expected {want}, read {read})" in message
    # The other split is untouched and still reads.
    assert len(list(read_records(folder / "val"))) == manifest["splits"]["val"]["light_curves"]


def test_without_a_manifest_only_a_cut_inside_a_record_is_found(records):
    folder, manifest = records
    (folder / "manifest.json").unlink()
    shard = folder / "train" / "shard-000-of-003.record"
    data = shard.read_bytes()
    shard.write_bytes(data[:record_ends(shard)[0]])
    assert len(list(read_records(folder))) == 40 - manifest["splits"]["train"]["shards"][shard.name] + 1
    shard.write_bytes(data[:5])
    with pytest.raises(DataError, match=r"shard-000-of-003\.record' is corrupt or truncated after 0 records"):
        check_records(record_files(folder))


def test_old_manifests_are_compared_per_split(records):
    folder, manifest = records
    old = json.loads((folder / "manifest.json").read_text())
    for entry in old["splits"].values():
        del entry["shards"]
    (folder / "manifest.json").write_text(json.dumps(old))
    shard = folder / "train" / "shard-002-of-003.record"
    shard.write_bytes(b"")
    want = manifest["splits"]["train"]["light_curves"]
    got = want - manifest["splits"]["train"]["shards"][shard.name]
    with pytest.raises(DataError, match=rf"'.*train' holds {got} records but .* says {want}.*shard-002-of-003.record: 0"):
        list(read_records(folder))
    with pytest.raises(DataError, match="train"):
        check_records(record_files(folder / "train"))
    # One shard alone cannot be checked against a total.
    assert check_records([str(shard.with_name("shard-000-of-003.record"))])[1][0] > 0


def test_missing_and_unlisted_shards_are_named(records):
    folder, manifest = records
    shard = folder / "val" / "shard-000-of-003.record"
    copy = folder / "val" / "extra.record"
    shutil.copy(shard, copy)
    with pytest.raises(DataError, match=r"extra\.record' \(\d+ records\) is not listed in"):
        list(read_records(folder))
    copy.unlink()
    shard.unlink()
    want = manifest["splits"]["val"]["shards"][shard.name]
    with pytest.raises(DataError, match=rf"shard-000-of-003\.record' is missing: .* lists it with {want} records"):
        check_records(record_files(folder / "val"))
    # The train split alone is complete.
    assert sum(check_records(record_files(folder / "train"))[1]) == manifest["splits"]["train"]["light_curves"]


def test_rewriting_with_fewer_shards_removes_the_old_ones(records):
    folder, _ = records
    manifest = write_records(make_lcs(10), folder, shards=2, splits={"train": 0.8, "val": 0.2})
    assert sorted(p.name for p in (folder / "train").iterdir()) == ["shard-000-of-002.record", "shard-001-of-002.record"]
    assert len(list(read_records(folder))) == 10 == sum(s["light_curves"] for s in manifest["splits"].values())


@pytest.mark.parametrize("column,value", [("mag", 1e39), ("err", np.inf), ("time", np.nan), ("time", 1e45)])
def test_the_writer_never_writes_a_non_finite_float32(tmp_path, column, value):
    lcs = make_lcs(5)
    bad = lcs[3]
    getattr(bad, column)[7] = value
    with pytest.raises(DataError, match=rf"Light curve 'lc3': 1 {column} value\(s\) are NaN/inf or beyond the float32"):
        write_records(lcs, tmp_path / "rec", shards=1, splits={"train": 1.0})
    # What was half written is refused by the readers.
    with pytest.raises(DataError, match="never finished"):
        list(read_records(tmp_path / "rec"))


def test_astromer_train_exits_2_on_a_shard_cut_at_a_record_boundary(records, tmp_path, capsys):
    from astromer.cli.train import main

    folder, _ = records
    shard = folder / "train" / "shard-000-of-003.record"
    shard.write_bytes(shard.read_bytes()[:record_ends(shard)[0]])
    settings = ["model.num_layers=1", "model.num_heads=2", "model.head_dim=8", "model.ff_dim=16",
                "model.window_size=16", "pretraining.batch_size=4", "pretraining.epochs=1"]
    code = main(["--preset", "a2", "--data", str(folder), "--out", str(tmp_path / "run"), "--quiet",
                 *[arg for s in settings for arg in ("--set", s)]])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("astromer-train")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert "shard-000-of-003.record" in lines[0] and "read 1" in lines[0] and "make_records.py" in lines[0]


def make_records_main():
    spec = importlib.util.spec_from_file_location("make_records_script", ROOT / "pipelines" / "make_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def mixed_table(n=12, seed=0):
    """Ids of mixed types (ints, floats, text) and bands 1 (int) and 'g'."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        oid = [i, f"obj{i}", float(i) + 0.5][i % 3]
        for j in range(20):
            band = "g" if j % 2 else 1
            if i < 3:  # no observation in 'g'
                band = 1
            rows.append((oid, 50000.0 + j, rng.normal(17), 0.1, band))
    return pd.DataFrame(rows, columns=["id", "time", "mag", "err", "band"])


def test_make_records_on_mixed_ids_and_bands(tmp_path, capsys):
    main = make_records_main()
    table = mixed_table()
    table.to_pickle(tmp_path / "t.pkl")  # keeps the Python types
    table = pd.read_pickle(tmp_path / "t.pkl")
    table.to_csv(tmp_path / "mixed.csv", index=False)
    assert main([str(tmp_path / "mixed.csv"), str(tmp_path / "all"), "--shards", "2"]) == 0
    manifest = json.loads((tmp_path / "all" / "manifest.json").read_text())
    assert manifest["band_names"] == ["1", "g"]
    assert sum(s["light_curves"] for s in manifest["splits"].values()) == 12
    assert len({lc.id for lc in read_records(tmp_path / "all")}) == 12
    capsys.readouterr()
    # --band: the objects without an observation in it are counted.
    assert main([str(tmp_path / "mixed.csv"), str(tmp_path / "g"), "--shards", "2", "--band", "g"]) == 0
    out = capsys.readouterr().out
    assert "band g: 3 of 12 light curves have no observation in g and are not written" in out
    assert "wrote 9 of 9 light curves" in out
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert manifest["light_curves_without_band"] == 3
    assert sum(s["light_curves"] for s in manifest["splits"].values()) == 9


def test_make_records_on_a_missing_band_is_one_line(tmp_path, capsys):
    main = make_records_main()
    table = mixed_table()
    table["band"] = table["band"].astype(object)
    table.loc[[4, 30], "band"] = np.nan
    table.to_csv(tmp_path / "nan_band.csv", index=False)
    code = main([str(tmp_path / "nan_band.csv"), str(tmp_path / "out"), "--shards", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "2 row(s)" in err and "band" in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_table_validation_counts_rows_without_a_band():
    # make_records reads bands through the table's validation.
    from astromer.data.validation import validate_table

    def table(band):
        return pd.DataFrame({"id": ["a"] * len(band), "time": np.arange(len(band), dtype=float), "mag": 15.0,
                             "err": 0.1, "band": pd.Series(band, dtype=object)})

    with pytest.raises(DataError, match=r"^Column 'band' of t.csv is empty in 3 row\(s\), first at row 3"):
        validate_table(table([1, "g", np.nan, "", 2.5, None]), "t.csv")
    assert validate_table(table([1, "g", b"r"]), "t")["band"].tolist() == ["1", "g", "r"]


def test_make_records_on_an_empty_id_is_one_line(tmp_path, capsys):
    # Rows are never merged into, or dropped as, a light curve without an id
    # (the check itself is read_table's).
    table = mixed_table()
    table["id"] = table["id"].astype(object)
    table.loc[[0, 1, 2], "id"] = ""
    table.to_csv(tmp_path / "empty_id.csv", index=False)
    code = make_records_main()([str(tmp_path / "empty_id.csv"), str(tmp_path / "out"), "--shards", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "3 row(s)" in err and "id" in err
