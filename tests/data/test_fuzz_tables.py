"""Generated bad tables through every path a table enters (issues 20, 23).

Each generated table (0-5 light curves of 0-80 rows; NaN, inf, finite
outliers from 1e6 to 1.8e308 in each column, negative and zero values,
repeated and unsorted times, constant magnitudes, zero errors; ids of
several types, clashing or missing; zero, one or two bands; text in a
numeric column, a missing column; DataFrame, Parquet or CSV) goes through
the `Embedder`, the training data path (table -> cleaned, packed, windowed
and masked batches) and make_records + read_records. For every table and
path: either an `AstromerError` (a named, one-line error) or an output
with no NaN/inf in any batch, embedding or record, and light curves in =
out + the ones the report names (by id and reason).

The default suite runs a fixed budget (`FUZZ_TABLES`, 40 tables); the
documented long run is

    ASTROMER_FUZZ_TABLES=2000 python -m pytest -m slow tests/data/test_fuzz_tables.py

(docs/robustness.md gives its result).
"""

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astromer.errors import AstromerError
from tests.harness import tiny_backbone

FUZZ_TABLES = int(os.environ.get("ASTROMER_FUZZ_TABLES", "40"))
OUTLIERS = (np.nan, np.inf, -np.inf, 1e6 + 1, 1e7 + 1, 1e19, 1e20, 1e39, 1.8e308, -1.8e308, -5.0, 0.0)
WINDOW = 16


@st.composite
def tables(draw, max_length=80):
    """`(table, expected ids, bands)`: a DataFrame that may be bad in many ways."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Sizes from the seeded generator too: hypothesis would mostly draw 0.
    n = int(rng.integers(0, 6)) if rng.uniform() < 0.95 else 0
    id_kind = draw(st.sampled_from(["str", "int", "float", "mixed", "clash", "missing"]))
    bands = draw(st.sampled_from([None, ("g",), ("g", "r")]))
    # Issue 42: Julian Dates (float32-first centring must see MJDs), and a
    # band asked of a table without a band column (must be refused).
    julian = draw(st.sampled_from([False, False, True]))
    absent_band = bands is None and draw(st.sampled_from([False, False, True]))
    outlier_rate = draw(st.sampled_from([0.0, 0.02, 0.2]))
    frames, expected = [], []
    for i in range(n):
        length = int(rng.integers(0, max_length + 1)) if rng.uniform() < 0.9 else int(rng.integers(0, 6))
        oid = {"str": f"lc{i}", "int": i, "float": float(i), "mixed": i if i % 2 else f"lc{i}",
               "clash": i if i % 2 else str(i - 1), "missing": None if i == 1 else f"lc{i}"}[id_kind]
        time = 50000 + np.cumsum(rng.exponential(3, length))
        if rng.uniform() < 0.2:
            time = rng.permutation(time)
        if rng.uniform() < 0.2 and length > 2:
            time[1] = time[0]
        mag = np.full(length, 17.0) if rng.uniform() < 0.1 else 15 + rng.normal(0, 0.3, length)
        err = np.zeros(length) if rng.uniform() < 0.1 else rng.uniform(0.0, 1.2, length)
        for column in (time, mag, err):
            hit = rng.uniform(size=length) < outlier_rate
            column[hit] = rng.choice(OUTLIERS, hit.sum())
        frame = pd.DataFrame({"id": [oid] * length, "time": time, "mag": mag, "err": err})
        if bands:
            frame["band"] = rng.choice(bands, length)
        frames.append(frame)
        if length:
            expected.append(oid)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"id": [], "time": [], "mag": [], "err": []})
    # Rare faults from the seeded generator (hypothesis' own draws lean
    # towards their smallest values and would pick them far too often).
    if len(table) and rng.uniform() < 0.05:
        table["mag"] = table["mag"].astype(object)
        table.loc[table.index[-1], "mag"] = "abc"
    if rng.uniform() < 0.03:
        table = table.drop(columns=["err"])
    if julian and len(table):
        table["time"] = table["time"] + 2400000.5
    # In a file, 1 and '1' are the same text, so the same light curve (in a
    # DataFrame they clash: an error).
    ids = list(dict.fromkeys(str(int(i)) if isinstance(i, float) else str(i) for i in expected))
    return table, ids, ("ZZZ",) if absent_band else bands, julian


def write(table, fmt, folder):
    """The table as the user gives it: a DataFrame, or a Parquet / CSV file."""
    if fmt == "frame":
        return table
    path = os.path.join(folder, f"table.{fmt}")
    if fmt == "parquet":
        frame = table.copy()
        # Parquet columns have one type: mixed ids are written as text.
        if frame["id"].dtype == object:
            frame["id"] = frame["id"].map(lambda v: v if v is None else str(v))
        if "mag" in frame and frame["mag"].dtype == object:
            frame["mag"] = frame["mag"].astype(str)
        frame.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    return path


def accounted(report, kept_ids, expected_ids):
    """Light curves in = out + reported drops, by id, each once."""
    dropped = list(report.too_short_ids) + list(report.filtered_ids) + list(report.not_embedded_ids)
    assert sorted(list(kept_ids) + dropped) == sorted(expected_ids)


@pytest.fixture(scope="module")
def embedder():
    from astromer.embedding import Embedder

    backbone = tiny_backbone(WINDOW, dropout=0.0)
    return Embedder(backbone, batch_size=16)


@pytest.fixture(scope="module")
def float32_embedder(embedder):
    """The same model with the original float32-first centring and windows
    (compat original), which depends on the time scale."""
    from astromer.embedding import Embedder

    return Embedder(embedder.backbone, batch_size=16, window_mode="original", float32_first=True)


def through_embedder(embedder, source, ids, bands):
    from astromer.data.cleaning import CleaningReport

    embedder.report = CleaningReport()
    embedder.band = bands[0] if bands else None
    out = embedder(source)
    vectors = np.stack(out["embedding"]) if len(out) else np.zeros((0, 1))
    assert np.all(np.isfinite(vectors))
    accounted(embedder.report, out["id"], ids)
    return out


def julian_twin(float32_embedder, table, fmt, ids, bands, folder):
    """A table in Julian Dates embeds (float32-first) as its MJD twin does:
    both refused, or the same ids and vectors."""
    outcomes = []
    for name, frame in (("jd", table), ("mjd", table.assign(time=table["time"] - 2400000.5))):
        try:
            outcomes.append(through_embedder(float32_embedder, write(frame, fmt, os.path.join(folder, name)), ids,
                                             bands))
        except AstromerError:
            outcomes.append(None)
    if outcomes[0] is None or outcomes[1] is None:
        assert outcomes[0] is None and outcomes[1] is None
        return
    assert list(outcomes[0]["id"]) == list(outcomes[1]["id"])
    if len(outcomes[0]):
        np.testing.assert_allclose(np.stack(outcomes[0]["embedding"]), np.stack(outcomes[1]["embedding"]),
                                   rtol=0, atol=1e-5)


def through_training_data(source, ids, bands, folder):
    from astromer.data.datasets import NumpyWindowDataset
    from astromer.preprocessing import PretrainingPreprocessor
    from astromer.preprocessing.pretraining_data import PretrainingData
    from astromer.core.factory import resolve_config

    path = source if isinstance(source, str) else write(source, "parquet", folder)
    overrides = [f"model.window_size={WINDOW}"] + ([f"data.band={bands[0]}"] if bands else [])
    config = resolve_config("a2", overrides)
    data = PretrainingData.open(path, config, verbose=False)
    masking = {k: v for k, v in config["data"].items() if k not in ("min_observations", "band")}
    pipeline = PretrainingPreprocessor(window_size=WINDOW, masking=masking, seed=0)
    packed_ids = []
    for split in (data.train, data.val, data.test):
        packed_ids += list(split.ids)
        if not len(split):
            continue
        for mode in ("pretrain", "inference"):
            batches = NumpyWindowDataset(split, pipeline, 4, mode=mode, drop_remainder=False)
            for k in range(len(batches)):
                inputs = batches[k][0]
                for name, value in inputs.items():
                    assert np.all(np.isfinite(np.asarray(value))), (name, mode)
    accounted(data.report, packed_ids, ids)


def through_records(source, ids, bands, folder):
    import json

    from astromer.data.pipeline import table_to_records
    from astromer.data.records import read_records

    out = os.path.join(folder, "records")
    manifest = table_to_records(source, out, shards=2, band=bands[0] if bands else None, verbose=False)
    read = list(read_records(out))
    for lc in read:
        assert np.all(np.isfinite(lc.time)) and np.all(np.isfinite(lc.mag)) and np.all(np.isfinite(lc.err))
    written = json.load(open(os.path.join(out, "manifest.json")))
    assert written["cleaning"] == manifest["cleaning"]
    from astromer.data.cleaning import CleaningReport

    cleaning = written["cleaning"]
    # Light curves with no row in the chosen band are counted by the band step.
    report = CleaningReport(too_short_ids=cleaning["too_short_ids"] + written.get("ids_without_band", []),
                            filtered_ids=cleaning["filtered_ids"])
    assert len(written.get("ids_without_band", [])) == written.get("light_curves_without_band", 0)
    accounted(report, [lc.id for lc in read], ids)


def run_paths(embedders, case, fmt, tmp_path_factory):
    """Every path: an AstromerError or a clean, fully counted output; a band
    the table has no column for is always refused; Julian Dates give the
    float32-first embeddings of their MJDs."""
    embedder, float32_embedder = embedders
    table, ids, bands, julian = case
    folder = str(tmp_path_factory.mktemp("fuzz"))
    source = write(table, fmt, folder)
    outcomes = {}
    for name, path in (("embedder", lambda: through_embedder(embedder, source, ids, bands)),
                       ("training", lambda: through_training_data(source, ids, bands, folder)),
                       ("records", lambda: through_records(source, ids, bands, folder))):
        try:
            path()
            outcomes[name] = "ok"
        except AstromerError as error:
            assert str(error).strip(), name
            outcomes[name] = "rejected"
    if bands and "band" not in table.columns and ids:
        assert set(outcomes.values()) == {"rejected"}, outcomes
    if julian:
        for name in ("jd", "mjd"):
            os.makedirs(os.path.join(folder, name))
        julian_twin(float32_embedder, table, fmt, ids, bands, folder)
    return outcomes


@settings(max_examples=FUZZ_TABLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=tables(), fmt=st.sampled_from(["frame", "parquet", "csv"]))
@pytest.mark.slow  # 29 CPU-s
def test_generated_tables_give_named_errors_or_clean_counted_outputs(embedder, float32_embedder, case, fmt,
                                                                    tmp_path_factory):
    run_paths((embedder, float32_embedder), case, fmt, tmp_path_factory)


@pytest.mark.slow
@settings(max_examples=max(FUZZ_TABLES, 2000), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=tables(max_length=600), fmt=st.sampled_from(["frame", "parquet", "csv"]))
def test_long_fuzz_run(embedder, float32_embedder, case, fmt, tmp_path_factory):
    run_paths((embedder, float32_embedder), case, fmt, tmp_path_factory)
