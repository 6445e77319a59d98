"""A light curve the model cannot embed is named, skipped and counted; the
rest of the catalogue is written (issue 23)."""

import logging

import numpy as np
import pandas as pd
import pytest

from astromer.embedding import Embedder
from astromer.errors import DataError
from tests.harness import tiny_backbone


def curves(n=6, length=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        t = np.sort(rng.uniform(0, 500, length)) + 50000
        rows.append(pd.DataFrame({"id": f"lc{i}", "time": t, "mag": 15 + rng.normal(0, 0.3, length),
                                  "err": np.full(length, 0.05)}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def backbone():
    return tiny_backbone(32, dropout=0.0)


def test_bad_light_curve_is_skipped_by_id_and_the_rest_written(backbone, tmp_path, caplog):
    frame = curves()
    bad = frame["id"] == "lc2"
    # Finite, but beyond float32 once centred and squared.
    frame.loc[bad, "mag"] = 1e25 * np.linspace(1, 2, bad.sum())
    path = tmp_path / "catalogue.parquet"
    frame.to_parquet(path)
    # With the bound switched off, the model's input or output is not finite.
    embedder = Embedder(backbone, cleaning={"min_observations": 1, "max_abs_mag": None})
    clean = Embedder(backbone)(curves().query("id != 'lc2'"))
    with caplog.at_level(logging.WARNING, logger="astromer.embedding"):
        table = embedder(str(path))
    assert table["id"].tolist() == ["lc0", "lc1", "lc3", "lc4", "lc5"]
    # The others are untouched by their bad neighbour.
    np.testing.assert_allclose(np.stack(table["embedding"]), np.stack(clean["embedding"]), atol=1e-6)
    assert embedder.report.light_curves_not_embedded == 1 and embedder.report.not_embedded_ids == ["lc2"]
    assert f"Light curve 'lc2' of {path} cannot be embedded" in caplog.text
    assert "skipped 1 light curves that could not be embedded" in embedder.report.summary()

    strict = Embedder(backbone, cleaning={"min_observations": 1, "max_abs_mag": None}, on_error="raise")
    with pytest.raises(DataError, match=f"Light curve 'lc2' of {path} cannot be embedded"):
        strict(str(path))


def test_by_default_cleaning_drops_the_row_and_the_light_curve_is_embedded(backbone):
    frame = curves()
    index = frame.index[frame["id"] == "lc2"][5]
    frame.loc[index, "mag"] = 1e20
    embedder = Embedder(backbone)
    table = embedder(frame)
    assert len(table) == 6 and np.all(np.isfinite(np.stack(table["embedding"])))
    assert embedder.report.rows_mag_out_of_range == 1 and embedder.report.light_curves_not_embedded == 0
    assert table.set_index("id").loc["lc2", "n_obs"] == 39


def test_a_failed_embed_leaves_no_temporary_output(backbone, tmp_path):
    from astromer.core.writer import write_parquet

    frame = curves()
    # lc0 comes back after other ids: found while streaming, after some rows were written.
    frame = pd.concat([frame, frame[frame["id"] == "lc0"].assign(time=lambda f: f["time"] + 1000)],
                      ignore_index=True)
    source = tmp_path / "unsorted.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "emb.parquet"
    embedder = Embedder(backbone, read_rows=50)
    with pytest.raises(DataError, match=f"The rows of light curve 'lc0' in '{source}' are not contiguous"):
        write_parquet(embedder.iter_embeddings(str(source)), str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unsorted.csv"]


def test_grouped_tables_stream_in_any_chunk_size(tmp_path):
    # Grouped ids across chunk edges (a light curve split by a chunk) are not "not contiguous".
    from astromer.data.lightcurves import stream_light_curves

    frame = curves(n=5, length=7)
    source = tmp_path / "grouped.csv"
    frame.to_csv(source, index=False)
    for rows in (1, 3, 7, 8, 100):
        got = [(lc.id, len(lc)) for lc in stream_light_curves(str(source), batch_rows=rows)]
        assert got == [(f"lc{i}", 7) for i in range(5)], rows
