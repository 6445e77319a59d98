"""The Dask survey job on a folder of Parquet partitions (`astromer.survey.job`,
`astromer-embed --workers`): a LocalCluster of 2 worker processes on
127.0.0.1, a tiny model, 200 EROS-1 light curves in 4 files (simulated
ones when ../shared is missing). Each job is compared with the one-process
path (`astromer-embed` / `astromer-features` on the same rows as one table).
"""

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest

from astromer.cli.embed import main as embed_main
from astromer.cli.features import main as features_main
from tests.conftest import SHARED
from tests.harness import run_cli

pytest.importorskip("distributed")

N_OBJECTS, N_FILES, BAND = 200, 4, "EROS_R"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`(partition folder, the same rows as one table)`."""
    root = tmp_path_factory.mktemp("survey")
    eros = SHARED / "data" / "eros1_lmc" / "lightcurves.parquet"
    if eros.exists():
        flat = pd.read_parquet(eros)
        ids = flat["id"].drop_duplicates().iloc[:N_OBJECTS]
        flat = flat[flat["id"].isin(ids)].reset_index(drop=True)
    else:
        from astromer.data.demo import simulate_survey

        curves = simulate_survey(N_OBJECTS, seed=0, bands=["EROS_B", BAND])
        flat = pd.DataFrame([(lc.id, t, m, e, b) for lc in curves
                             for t, m, e, b in zip(lc.time, lc.mag, lc.err, lc.band)],
                            columns=["id", "time", "mag", "err", "band"])
        ids = flat["id"].drop_duplicates()
    parts = root / "parts"
    parts.mkdir()
    for k, chunk in enumerate(np.array_split(ids.to_numpy(), N_FILES)):
        flat[flat["id"].isin(chunk)].to_parquet(parts / f"part{k}.parquet", index=False)
    flat.to_parquet(root / "all.parquet", index=False)
    return str(parts), str(root / "all.parquet")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from tests.harness import tiny_pretrainer

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_pretrainer(16, seed=0).save(path)
    return str(path)


def read_folder(out):
    files = sorted(f for f in os.listdir(out) if f.endswith(".parquet"))
    return pd.concat([pd.read_parquet(os.path.join(out, f)) for f in files], ignore_index=True)


def job(parts, out, weights, hook=None, delay=0.0):
    from astromer.survey import SurveySettings
    from astromer.survey.job import JobSettings, run

    return run(JobSettings(parts, str(out), SurveySettings(weights, band=BAND, delay_s=delay), workers=2,
                           standardize=False, progress=False, on_partition=hook))


def one_process(weights, table, out, *extra):
    result = run_cli(embed_main, ["--weights", weights, "--data", table, "--out", out, "--band", BAND, *extra])
    assert result.returncode == 0, result.stderr
    return pd.read_parquet(out).set_index("id")


@pytest.mark.slow
def test_job_with_features_equals_one_process_and_loads_the_model_once_per_worker(folder, weights, tmp_path):
    parts, table = folder
    out = tmp_path / "emb"
    result = run_cli(embed_main, ["--weights", weights, "--data", parts, "--out", out, "--band", BAND, "--workers",
                                  "2", "--features"])
    assert result.returncode == 0, result.stderr
    assert "4/4 partitions" in result.stderr and "peak memory per worker" in result.stdout
    got = read_folder(out)
    assert got["id"].is_unique and len(got) == N_OBJECTS
    expected = one_process(weights, table, str(tmp_path / "one.parquet"))  # standardised with its own statistics
    got = got.set_index("id").loc[expected.index]
    assert np.abs(np.stack(got["embedding"]) - np.stack(expected["embedding"])).max() < 1e-6
    assert (got["n_obs"] == expected["n_obs"]).all() and (got["n_windows"] == expected["n_windows"]).all()
    stats = json.load(open(out / "stats.json"))
    assert stats["count"] == N_OBJECTS
    # The 44 features per band of astromer-features on the whole table (one periodogram grid for all partitions).
    features = run_cli(features_main, [table, "--out", tmp_path / "f.parquet", "--quiet"])
    assert features.returncode == 0, features.stderr
    reference = pd.read_parquet(tmp_path / "f.parquet").set_index("id").loc[expected.index]
    assert reference.shape[1] == 88
    np.testing.assert_allclose(got[reference.columns].to_numpy(), reference.to_numpy(), rtol=1e-12, equal_nan=True)
    manifest = json.load(open(out / "manifest.json"))
    entries = manifest["partitions"].values()
    assert sorted(manifest["partitions"]) == [f"part{k}" for k in range(N_FILES)]
    assert all(e["models_loaded"] == 1 for e in entries)  # a worker's later partitions reuse its model
    assert len({e["pid"] for e in entries}) == 2  # ... and both workers worked
    merged = json.load(open(out / "report.json"))["cleaning"]
    assert merged["light_curves_in"] == N_OBJECTS == sum(e["cleaning"]["light_curves_in"] for e in entries)
    assert not [f for f in os.listdir(out) if "raw" in f or f.endswith(".tmp")]

    # A rerun does nothing; a rerun with other settings is refused in one line.
    again = run_cli(embed_main, ["--weights", weights, "--data", parts, "--out", out, "--band", BAND, "--workers", "2",
                                 "--features"])
    assert again.returncode == 0 and "0 computed now, 4 done before" in again.stdout
    other = run_cli(embed_main, ["--weights", weights, "--data", parts, "--out", out, "--band", BAND, "--workers", "2",
                                 "--layer", "input"])
    assert other.returncode == 2 and "other settings" in other.stderr and "layer" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(folder, weights, tmp_path):
    parts, table = folder
    killed = []

    def kill_a_busy_worker(client, name, entry):
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        pids = client.run(os.getpid)
        killed.append(pids[busy[0]])
        os.kill(pids[busy[0]], signal.SIGKILL)

    # Partitions slow enough (3 s each) that the kill lands while a task runs.
    result = job(parts, tmp_path / "out", weights, hook=kill_a_busy_worker, delay=3.0)
    assert killed and result.partitions == N_FILES
    got = read_folder(tmp_path / "out")
    assert got["id"].is_unique and len(got) == N_OBJECTS
    entries = result.manifest.partitions.values()
    # The killed worker recorded at most what it finished before the kill; its task ran again elsewhere.
    assert sum(e["pid"] == killed[0] for e in entries) <= 1 and len(entries) == N_FILES
    expected = one_process(weights, table, str(tmp_path / "one.parquet"), "--no-standardize")
    got = got.set_index("id").loc[expected.index]
    assert np.abs(np.stack(got["embedding"]) - np.stack(expected["embedding"])).max() < 1e-6


@pytest.mark.slow
def test_an_interrupted_job_resumes_with_the_partitions_left(folder, weights, tmp_path):
    parts, _ = folder
    out = tmp_path / "out"

    def interrupt(client, name, entry):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job(parts, out, weights, hook=interrupt)
    first = json.load(open(out / "manifest.json"))["partitions"]
    assert len(first) == 1
    (done,) = first
    mtime = os.path.getmtime(out / first[done]["file"])
    result = job(parts, out, weights)
    assert sorted(result.computed) == sorted(f"part{k}" for k in range(N_FILES) if f"part{k}" != done)
    assert os.path.getmtime(out / first[done]["file"]) == mtime
    got = read_folder(out)
    assert got["id"].is_unique and len(got) == N_OBJECTS


def test_features_in_one_pass_on_one_table_equal_astromer_features(folder, weights, tmp_path):
    _, table = folder
    out = tmp_path / "emb.parquet"
    result = run_cli(embed_main, ["--weights", weights, "--data", table, "--out", out, "--band", BAND, "--features"])
    assert result.returncode == 0, result.stderr
    got = pd.read_parquet(out).set_index("id")
    expected = one_process(weights, table, str(tmp_path / "one.parquet"))
    assert list(got.index) == list(expected.index)
    assert np.abs(np.stack(got["embedding"]) - np.stack(expected["embedding"])).max() < 1e-6
    assert json.load(open(f"{out}.stats.json"))["count"] == N_OBJECTS
    assert run_cli(features_main, [table, "--out", tmp_path / "f.parquet", "--quiet"]).returncode == 0
    reference = pd.read_parquet(tmp_path / "f.parquet").set_index("id").loc[got.index]
    np.testing.assert_allclose(got[reference.columns].to_numpy(), reference.to_numpy(), rtol=1e-12, equal_nan=True)


def test_a_missing_or_empty_folder_is_a_one_line_error(weights, tmp_path):
    (tmp_path / "empty").mkdir()
    for data, words in ((tmp_path / "nope", "does not exist"), (tmp_path / "empty", "holds no .parquet file")):
        for main, argv in ((embed_main, ["--weights", weights, "--data", data, "--out", tmp_path / "o"]),
                           (features_main, [data, "--out", tmp_path / "o"])):
            result = run_cli(main, [*argv, "--workers", "2"])
            assert result.returncode == 2 and words in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_padded_reaches_the_survey_embedder(weights):
    # astromer-embed --padded on the survey path: full windows in every worker's Embedder.
    from astromer.survey.task import SurveySettings, cached_embedder

    assert cached_embedder(SurveySettings(weights)).padding_free  # the tiny model keeps padding out of attention
    assert not cached_embedder(SurveySettings(weights, padding_free=False)).padding_free
