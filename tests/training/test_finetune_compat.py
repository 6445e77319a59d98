"""`astromer-finetune` reads light curves as `astromer-embed` reads them for
the same weights (issue 38, "one preprocessing per model"): weights
converted from an original checkpoint keep every error value and centre in
float32 first (compat original); `--compat default` drops errors outside
(0, 1) and centres in float64."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from astromer.cli.finetune import main as finetune


@pytest.fixture(scope="module")
def original_like_model(tmp_path_factory):
    """A tiny Astromer 1 with the original code's +1 attention bonus
    (`a1-original`), the quirk that makes compat "auto" pick "original"."""
    import keras

    from astromer import presets
    from astromer.core.factory import build_pretrainer, resolve_config

    keras.utils.set_random_seed(0)
    config = presets.load_preset("a1-original")
    config["model"].update(num_layers=1, num_heads=2, head_dim=8, ff_dim=16, window_size=32)
    root = tmp_path_factory.mktemp("a1o")
    (root / "a1o.yaml").write_text(yaml.safe_dump(config))
    path = root / "a1o.keras"
    build_pretrainer(resolve_config(str(root / "a1o.yaml"))).save(path)
    return str(path)


def table_with_bad_errors(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n):
        length = 40
        err = rng.uniform(0.01, 0.2, length)
        err[:3] = [1.5, 0.0, -0.1] if i % 4 == 0 else err[:3]  # 30 light curves x 3 bad errors = 90 rows
        parts.append(pd.DataFrame({"id": f"lc{i}", "time": 50000 + np.cumsum(rng.exponential(2.0, length)),
                                   "mag": 16 + rng.normal(0, 0.3, length), "err": err}))
    pd.concat(parts).to_parquet(path)
    return str(path)


def dropped_for_error(printed):
    return int(re.search(r"dropped (\d+) rows with an error outside the allowed range", printed).group(1))


@pytest.mark.parametrize("compat,dropped,centring", [("auto", 0, True), ("default", 90, False)])
@pytest.mark.slow  # 44 and 38 CPU-s
def test_finetune_reads_light_curves_as_embed_does_for_the_weights(original_like_model, tmp_path, capsys,
                                                                    compat, dropped, centring):
    data = table_with_bad_errors(tmp_path / "t.parquet")
    out = tmp_path / "run"
    assert finetune(["--weights", original_like_model, "--data", data, "--compat", compat, "--epochs", "1",
                     "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(f"compat {'original' if centring else 'default'}:") == 1, printed
    assert dropped_for_error(printed) == dropped
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["data"]["compat"] == ("original" if centring else "default")
    from astromer.preprocessing.pretraining import PretrainingPreprocessor

    class backbone:  # what the run's pretraining preprocessor reads of a backbone
        window_size, input_names, band_names = 32, ("magnitudes", "times", "padding_mask", "hidden_mask"), None

    assert PretrainingPreprocessor.from_preset(saved, backbone).float32_first is centring


@pytest.mark.slow  # 34 CPU-s
def test_finetune_under_float32_first_centring_moves_julian_dates_to_mjd(original_like_model, tmp_path, capsys):
    data = table_with_bad_errors(tmp_path / "t.parquet")
    table = pd.read_parquet(data)
    table.assign(time=table["time"] + 2400000.5).to_parquet(tmp_path / "jd.parquet")
    assert finetune(["--weights", original_like_model, "--data", str(tmp_path / "jd.parquet"), "--epochs", "1",
                     "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert "converted the times of 120 light curves from JD to MJD" in capsys.readouterr().out
