"""What `astromer-embed` tells the user (issue 38): progress in rows of the
band embedded, and a warning when new objects are standardised with their
own statistics beside a catalogue's."""

import numpy as np
import pandas as pd
import pytest

from tests.harness import tiny_backbone


def two_band_table(n=12, seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n):
        for band, length in (("R", 20 + i), ("B", 7 + 2 * i)):
            time = 50000 + np.cumsum(rng.exponential(2.0, length))
            parts.append(pd.DataFrame({"id": f"lc{i}", "time": time, "mag": 15 + rng.normal(0, 0.2, length),
                                       "err": 0.05, "filter": band}))
    return pd.concat(parts).sort_values(["id", "time"], kind="stable")


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_count_rows_of_one_band(tmp_path, suffix):
    from astromer.data.lightcurves import count_rows

    table = two_band_table()
    path = tmp_path / f"t.{suffix}"
    table.to_parquet(path) if suffix == "parquet" else table.to_csv(path, index=False)
    assert count_rows(path) == len(table)
    assert count_rows(path, "R") == sum(20 + i for i in range(12)) == (table["filter"] == "R").sum()
    assert count_rows(path, "V") == 0
    table.drop(columns=["filter"]).to_csv(tmp_path / "one.csv", index=False)
    assert count_rows(tmp_path / "one.csv", "R") == len(table)


def test_progress_counts_the_rows_of_the_band_embedded(tmp_path, capsys, monkeypatch):
    import astromer.progress
    from astromer.embedding import Embedder

    monkeypatch.setattr(astromer.progress, "DELAY_S", 0.0)  # a line even for a short job
    table = two_band_table()
    table.to_parquet(tmp_path / "t.parquet")
    embedder = Embedder(tiny_backbone(16), band="R")
    assert embedder.write_parquet(str(tmp_path / "t.parquet"), tmp_path / "e.parquet", progress=True) == 12
    last = capsys.readouterr().err.strip().splitlines()[-1]
    rows = int((table["filter"] == "R").sum())
    assert f"rows of R {rows:,}/{rows:,}" in last, last
    assert embedder.report.rows_in == rows


def test_new_objects_standardised_alone_beside_a_catalogue_get_a_warning(tmp_path, capsys, tiny_model):
    from astromer.cli.embed import main as embed

    table = two_band_table()
    table[table["id"] != "lc0"].to_parquet(tmp_path / "catalogue_table.parquet")
    table[table["id"] == "lc0"].to_parquet(tmp_path / "new_table.parquet")
    out = tmp_path / "out"
    out.mkdir()
    common = ["--weights", tiny_model, "--band", "R"]
    assert embed(common + ["--data", str(tmp_path / "catalogue_table.parquet"), "--out", str(out / "cat.parquet")]) == 0
    assert "warning" not in capsys.readouterr().err  # the catalogue itself: nothing to compare with
    assert embed(common + ["--data", str(tmp_path / "new_table.parquet"), "--out", str(out / "new.parquet")]) == 0
    err = capsys.readouterr().err
    assert "warning: these 1 embeddings are standardised with their own statistics" in err, err
    assert f"--statistics {out / 'cat.parquet.stats.json'}" in err
    assert embed(common + ["--data", str(tmp_path / "new_table.parquet"), "--out", str(out / "new2.parquet"),
                           "--statistics", str(out / "cat.parquet.stats.json")]) == 0
    assert "warning" not in capsys.readouterr().err
