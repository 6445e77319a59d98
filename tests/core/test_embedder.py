"""Embedder: per-object embeddings, independence from batching, streaming."""

import functools

import numpy as np
import pandas as pd
import pytest

from astromer.data.demo import simulate_survey
from astromer.embedding import Embedder
from tests import harness
from tests.harness import run_fresh

# Two blocks: the layer tests pick each of them.
tiny_backbone = functools.partial(harness.tiny_backbone, 32, num_layers=2, dropout=0.0, seed=3)


@pytest.fixture(scope="module")
def light_curves():
    return simulate_survey(12, seed=5, min_obs=20, max_obs=90)


def test_independent_of_batch_size_and_neighbours(light_curves):
    backbone = tiny_backbone()
    ids, many = Embedder(backbone, batch_size=7).embed_array(light_curves)
    _, one = Embedder(backbone, batch_size=1).embed_array(light_curves)
    np.testing.assert_allclose(many, one, atol=1e-5)
    _, alone = Embedder(backbone, batch_size=7).embed_array(light_curves[3:4])
    np.testing.assert_allclose(alone[0], many[3], atol=1e-5)
    assert ids == [lc.id for lc in light_curves]


def test_time_offset_does_not_change_the_embedding(light_curves):
    backbone = tiny_backbone()
    lc = light_curves[0]
    base = lc.as_array()
    shifted = base.copy()
    shifted[:, 0] += 50_000.0
    _, emb = Embedder(backbone).embed_array([base, shifted])
    np.testing.assert_allclose(emb[0], emb[1], atol=1e-4)


def test_layers_and_pooling_by_hand(light_curves):
    backbone = tiny_backbone()
    lcs = light_curves[:4]
    _, all_layers = Embedder(backbone, layer="all").embed_array(lcs)
    assert all_layers.shape == (4, 3, 8)
    for layer, k in (("input", 0), (0, 1), (1, 2), ("last", 2)):
        _, emb = Embedder(backbone, layer=layer).embed_array(lcs)
        np.testing.assert_allclose(emb, all_layers[:, k], atol=1e-5)
    # the layer mix with uniform weights is the mean of the per-layer means
    _, mix = Embedder(backbone, layer="mix").embed_array(lcs)
    np.testing.assert_allclose(mix, all_layers.mean(1), atol=1e-5)
    weights = np.array([0.2, 0.3, 0.5])
    _, mixed = Embedder(backbone, layer="mix", layer_weights=weights).embed_array(lcs)
    np.testing.assert_allclose(mixed, np.einsum("k,nkd->nd", weights, all_layers), atol=1e-5)
    # mean pooling = mean of the step embeddings of every real observation;
    # max pooling = their max
    steps = Embedder(backbone).step_embeddings(lcs)
    _, mean = Embedder(backbone).embed_array(lcs)
    _, maximum = Embedder(backbone, pooling="max").embed_array(lcs)
    for i, s in enumerate(steps):
        assert len(s) == len(lcs[i])  # non-overlapping windows: each observation once
        np.testing.assert_allclose(mean[i], s.mean(0), atol=1e-5)
        np.testing.assert_allclose(maximum[i], s.max(0), atol=1e-5)


def test_bands_and_bad_arguments(light_curves):
    from astromer.data.lightcurves import LightCurve

    backbone = tiny_backbone()
    lc = light_curves[0]
    band = np.where(np.arange(len(lc)) % 2 == 0, "B", "R")
    two = LightCurve(lc.id, lc.time, lc.mag, lc.err, band=band)
    with pytest.raises(ValueError, match=r"has bands \['B', 'R'\]; .* pass band="):
        Embedder(backbone).embed_array([two])
    _, r = Embedder(backbone, band="R").embed_array([two])
    odd = LightCurve(lc.id, lc.time[1::2], lc.mag[1::2], lc.err[1::2])
    _, expected = Embedder(backbone).embed_array([odd])
    np.testing.assert_allclose(r, expected, atol=1e-5)
    with pytest.raises(ValueError, match="Unknown layer 5"):
        Embedder(backbone, layer=5)
    with pytest.raises(ValueError, match="layer_weights needs 3 values"):
        Embedder(backbone, layer="mix", layer_weights=[1, 2])
    embedder = Embedder(backbone)
    nan = lc.as_array().copy()
    nan[:3, 1] = np.nan
    embedder.embed_array([nan])
    assert embedder.report.rows_nonfinite == 3


def test_parquet_streaming_equals_in_memory(tmp_path, light_curves):
    rows = [(lc.id, t, m, e) for lc in light_curves for t, m, e in zip(lc.time, lc.mag, lc.err)]
    table = tmp_path / "lcs.parquet"
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(table)
    embedder = Embedder(tiny_backbone(), batch_size=5)
    count = embedder.write_parquet(table, tmp_path / "emb.parquet", progress=False)
    written = pd.read_parquet(tmp_path / "emb.parquet")
    assert count == len(written) == len(light_curves)
    frame = embedder(str(table))
    np.testing.assert_allclose(np.stack(written["embedding"]), np.stack(frame["embedding"]), atol=1e-6)
    assert list(written["n_obs"]) == [len(lc) for lc in light_curves]


def _embed_and_measure_peak_memory(path):
    """(run by run_fresh: a process's peak memory) Embeds the table at
    `path` with a tiny model, reading 20,000 rows at a time; the peak RSS
    in MB."""
    import resource

    from astromer.embedding import Embedder
    from tests.harness import tiny_backbone

    e = Embedder(tiny_backbone(32), batch_size=64, read_rows=20_000)
    e.write_parquet(path, path + ".emb", progress=False)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow  # 70 s: two processes embedding 2,000 and 20,000 light curves
def test_peak_memory_does_not_grow_with_the_catalogue(tmp_path):
    from astromer.data.demo import simulate_table

    peaks = []
    # Both far beyond one read of 20,000 rows; holding the 20,000-object table
    # in memory would cost ~120 MB more than the 2,000-object one.
    for n in (2000, 20000):
        path = str(tmp_path / f"t{n}.parquet")
        simulate_table(path, n, chunk=500, min_obs=20, max_obs=120)
        out = run_fresh(_embed_and_measure_peak_memory, path, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
        assert out.returncode == 0, out.stderr[-2000:]
        peaks.append(out.value)
    print(f"peak RSS: {peaks[0]:.0f} MB for 2,000 light curves, {peaks[1]:.0f} MB for 20,000")
    assert peaks[1] - peaks[0] < 50, peaks


def test_an_absent_band_or_no_usable_light_curve_is_an_error(tmp_path, light_curves):
    rows = [(lc.id, t, m, e, "R") for lc in light_curves for t, m, e in zip(lc.time, lc.mag, lc.err)]
    table = tmp_path / "lcs.parquet"
    pd.DataFrame(rows, columns=["id", "time", "mag", "err", "band"]).to_parquet(table)
    with pytest.raises(ValueError, match=r"Band 'V' is not in the table; its bands are \['R'\]"):
        Embedder(tiny_backbone(), band="V").write_parquet(table, tmp_path / "emb.parquet", progress=False)
    assert not list(tmp_path.glob("emb.parquet*"))  # nothing half-written left
    too_short = Embedder(tiny_backbone(), band="R", cleaning={"min_observations": 10_000})
    with pytest.raises(ValueError, match=f"None of the {len(light_curves)} light curves is usable"):
        too_short(str(table))


def test_standardised_output_and_reused_statistics(tmp_path, light_curves):
    from astromer.core.standardize import (embedding_statistics, read_statistics, standardize_parquet,
                                                write_statistics)

    rows = [(lc.id, t, m, e) for lc in light_curves for t, m, e in zip(lc.time, lc.mag, lc.err)]
    table = tmp_path / "lcs.parquet"
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(table)
    embedder = Embedder(tiny_backbone(), batch_size=5)
    embedder.write_parquet(table, tmp_path / "raw.parquet", progress=False, chunk=3)  # several row groups
    raw = np.stack(pd.read_parquet(tmp_path / "raw.parquet")["embedding"]).astype(np.float64)
    stats = embedding_statistics(tmp_path / "raw.parquet")
    np.testing.assert_allclose(stats["mean"], raw.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats["std"], raw.std(0), atol=1e-5)
    write_statistics(stats, tmp_path / "s.json")
    standardize_parquet(tmp_path / "raw.parquet", read_statistics(tmp_path / "s.json"))
    z = np.stack(pd.read_parquet(tmp_path / "raw.parquet")["embedding"])
    varying = raw.std(0) > 0
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, varying].std(0), 1, atol=1e-4)
    # raw embeddings of different objects point nearly the same way;
    # standardised ones do not
    cosine = lambda a: (a @ a.T / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(a, axis=1)))  # noqa: E731
    off = ~np.eye(len(z), dtype=bool)
    assert np.median(cosine(z)[off]) < np.median(cosine(raw)[off])
    # New objects with a catalogue's statistics: standardised as written (one
    # pass), the same values as writing raw then standardising
    from astromer.core.standardize import standardizer

    embedder.write_parquet(table, tmp_path / "once.parquet", progress=False, chunk=3, transform=standardizer(stats))
    np.testing.assert_allclose(np.stack(pd.read_parquet(tmp_path / "once.parquet")["embedding"]), z, atol=1e-6)
    wrong = {"mean": stats["mean"][:-1], "std": stats["std"][:-1]}
    with pytest.raises(ValueError, match="another model or layer"):
        embedder.write_parquet(table, tmp_path / "wrong.parquet", progress=False, transform=standardizer(wrong))
    assert not (tmp_path / "wrong.parquet").exists() and not (tmp_path / "wrong.parquet.tmp").exists()
    with pytest.raises(ValueError, match="not an embedding statistics file"):
        (tmp_path / "bad.json").write_text("{}")
        read_statistics(tmp_path / "bad.json")


def test_the_python_api_logs_what_it_cleaned(light_curves, caplog):
    import logging

    nan = light_curves[0].as_array().copy()
    nan[:3, 1] = np.nan
    embedder = Embedder(tiny_backbone())
    with caplog.at_level(logging.INFO, logger="astromer.embedding"):
        embedder([nan, light_curves[1].as_array()])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "dropped 3 rows with NaN/inf" in warnings[0].getMessage()
    assert embedder.report.rows_nonfinite == 3


def test_a_small_job_is_padded_to_a_small_compiled_shape(light_curves):
    from astromer.core.buckets import padded_batch

    assert [padded_batch(n, 256) for n in (1, 8, 9, 49, 129, 256)] == [8, 8, 16, 64, 256, 256]
    assert padded_batch(5, 4) == 4 and padded_batch(3, 6) == 6  # never above the batch
    calls = []
    embedder = Embedder(tiny_backbone(), batch_size=256)
    run = embedder.pooled_model().predict_on_batch
    embedder._pooled_model.predict_on_batch = lambda x: (calls.append(len(x["magnitudes"])), run(x))[1]
    _, small = embedder.embed_array(light_curves[:3])
    assert calls and max(calls) <= 16  # not 256 for a handful of windows
    # The rest runs in power-of-two pieces, largest first: 49 windows are 32 + 16 + 1 (padded to 8).
    from astromer.core.buckets import remainder_piece

    pieces, left = [], 49
    while left:
        pieces.append(remainder_piece(left, 256))
        left -= pieces[-1]
    assert pieces == [32, 16, 1] and [padded_batch(p, 256) for p in pieces] == [32, 16, 8]
    assert remainder_piece(300, 256) == 256 and remainder_piece(5, 256) == 5 and remainder_piece(40, 16) == 16
    windows = sum(1 for _ in embedder._windows(light_curves[:3]))
    calls.clear()
    embedder.embed_array(light_curves[:3])
    assert sum(calls) - windows < 8  # never more than 7 padded windows
    _, full = Embedder(tiny_backbone(), batch_size=2).embed_array(light_curves[:3])
    np.testing.assert_allclose(small, full, atol=1e-5)


def test_per_object_calls_in_the_hub_style(light_curves):
    embedder = Embedder(tiny_backbone(), batch_size=16)
    table = embedder([lc.as_array() for lc in light_curves[:3]], ids=["a", "b", "c"])
    lc = light_curves[1]
    np.testing.assert_allclose(embedder.one(lc.time, lc.mag, lc.err), table["embedding"][1], atol=1e-6)
    np.testing.assert_allclose(embedder(lc.time, lc.mag), table["embedding"][1], atol=1e-6)  # errors not read
    vectors = embedder.batch([(x.time, x.mag) for x in light_curves[:3]])
    assert vectors.shape == (3, embedder.backbone.hidden_dim)
    np.testing.assert_allclose(vectors, np.stack(table["embedding"]), atol=1e-6)
    with pytest.raises(ValueError, match=r"position \[1\] have no usable observation"):
        embedder.batch([(lc.time, lc.mag), (lc.time[:0], lc.mag[:0])])
