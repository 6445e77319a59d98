"""Two silent wrong results on a user's own table (issue 42), through the
commands as a user runs them: Julian Dates under the published weights, and
a band asked of a table that has no band column."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_path
from tests.harness import tiny_backbone


def test_julian_dates_embed_as_their_mjds_with_the_published_weights(tmp_path, capsys):
    from astromer.cli.embed import main as embed

    weights = shared_path("weights", "astromer1-macho")
    table = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    table = table[table["id"].isin(table["id"].unique()[:20]) & (table["band"] == "EROS_R")]
    # MJD-scale times (EROS days + 48,000) and the same instants as Julian Dates.
    mjd = table.assign(time=table["time"] + 48000.0)
    jd = mjd.assign(time=mjd["time"] + 2400000.5)
    vectors = {}
    for name, frame in (("mjd", mjd), ("jd", jd)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
        out = tmp_path / f"{name}_emb.parquet"
        assert embed(["--weights", str(weights), "--data", str(tmp_path / f"{name}.parquet"), "--band", "EROS_R",
                      "--no-standardize", "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "compat original" in printed
        converted = "converted the times of 20 light curves from JD to MJD" in printed
        assert converted == (name == "jd"), printed
        result = pd.read_parquet(out)
        vectors[name] = (list(result["id"]), np.stack(result["embedding"]))
    assert vectors["mjd"][0] == vectors["jd"][0]
    np.testing.assert_allclose(vectors["jd"][1], vectors["mjd"][1], rtol=0, atol=1e-6)
    # The distance the issue measured without the conversion is far above
    # the tolerance: the check can fail.
    assert np.median(np.linalg.norm(vectors["mjd"][1] - vectors["mjd"][1][::-1], axis=1)) > 1e-2


def test_times_on_no_known_scale_are_refused_in_one_line(tmp_path, capsys, tiny_model):
    from astromer.cli.embed import main as embed

    path = tmp_path / "t.csv"
    pd.DataFrame({"id": ["a"] * 6, "time": 5e6 + np.arange(6.0), "mag": 15.0, "err": 0.1}).to_csv(path, index=False)
    args = ["--weights", tiny_model, "--data", str(path), "--out", str(tmp_path / "e.parquet")]
    assert embed(args + ["--compat", "original"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "median 5e+06 days" in lines[0] and "--time-offset" in lines[0], lines
    assert not (tmp_path / "e.parquet").exists()
    # Both ways out the message names work.
    assert embed(args + ["--compat", "original", "--time-offset", "4950000"]) == 0
    assert embed(args + ["--compat", "default"]) == 0


@pytest.fixture
def table_without_band(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        time = 50000 + np.cumsum(rng.exponential(2.0, 40))
        rows.append(pd.DataFrame({"id": f"lc{i}", "time": time, "mag": 15 + rng.normal(0, 0.2, 40), "err": 0.05}))
    path = tmp_path / "no_band.csv"
    pd.concat(rows).to_csv(path, index=False)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": [f"lc{i}" for i in range(12)], "label": ["A", "B"] * 6}).to_csv(labels, index=False)
    return str(path), str(labels)


def one_line_error(capsys, prog):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    assert "'ZZZ'" in lines[0] and "has no band column" in lines[0], lines
    return lines[0]


def test_a_band_asked_of_a_table_without_band_column_is_exit_2_in_every_command(
        table_without_band, tmp_path, capsys, tiny_model):
    from astromer.cli.embed import main as embed
    from astromer.cli.fewshot import main as fewshot
    from astromer.cli.train import main as train

    data, labels = table_without_band
    assert embed(["--weights", tiny_model, "--data", data, "--band", "ZZZ", "--out", str(tmp_path / "e.parquet")]) == 2
    assert "leave out --band" in one_line_error(capsys, "astromer-embed")
    assert not (tmp_path / "e.parquet").exists()
    assert train(["--preset", "a2", "--data", data, "--set", "data.band=ZZZ", "--set", "model.window_size=16",
                  "--out", str(tmp_path / "run")]) == 2
    assert "--set data.band" in one_line_error(capsys, "astromer-train")
    assert fewshot(["--data", data, "--labels", labels, "--band", "ZZZ", "--methods", "features_rf", "--spc", "2",
                    "--folds", "1", "--no-tsne", "--out", str(tmp_path / "fs")]) == 2
    assert "--band / --bands" in one_line_error(capsys, "astromer-fewshot")


def test_the_embedder_refuses_a_band_of_a_dataframe_without_band_column():
    from astromer.embedding import Embedder
    from astromer.errors import DataError

    frame = pd.DataFrame({"id": ["a"] * 8, "time": np.arange(8.0), "mag": 15.0, "err": 0.1})
    embedder = Embedder(tiny_backbone(16), band="ZZZ")
    with pytest.raises(DataError, match="has no band column"):
        embedder(frame)


def test_fewshot_refuses_times_on_no_known_scale_and_takes_the_offset_it_names(
        table_without_band, tmp_path, capsys, tiny_model):
    from astromer.cli.fewshot import main as fewshot

    data, labels = table_without_band
    table = pd.read_csv(data)
    table.assign(time=table["time"] + 5e6).to_csv(tmp_path / "far.csv", index=False)
    args = ["--data", str(tmp_path / "far.csv"), "--labels", labels, "--weights", tiny_model, "--compat", "original",
            "--methods", "logreg", "--epochs", "2", "--spc", "2", "--folds", "1", "--no-tsne", "--no-cache"]
    assert fewshot(args + ["--out", str(tmp_path / "a")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "neither MJD-like" in lines[0] and "--time-offset" in lines[0], lines
    assert fewshot(args + ["--time-offset", "5e6", "--out", str(tmp_path / "b")]) == 0
