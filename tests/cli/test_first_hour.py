"""What a new user meets first: the documented commands from the published
weights, commands that answer at once, loading a saved model anywhere."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_path
from tests.harness import ROOT, run_cli, run_fresh, run_process, tiny_pretrainer


def run_module(module, args, cwd):
    """A command as a user runs it, in a new process: what it prints of
    TensorFlow's start-up is part of what these tests check."""
    # the commands must silence TensorFlow themselves
    return run_process(module, args, cwd=cwd, env={"TF_CPP_MIN_LOG_LEVEL": None})


@pytest.fixture(scope="module")
def eros_subset(tmp_path_factory):
    """60 EROS light curves, EROS_R only (the finetuning split takes 80/10/10)."""
    table = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    ids = table["id"].drop_duplicates().iloc[:60]
    path = tmp_path_factory.mktemp("eros") / "eros60.parquet"
    table[table["id"].isin(ids) & (table["band"] == "EROS_R")].to_parquet(path)
    return path


@pytest.mark.parametrize("source", ["original", "keras"])
@pytest.mark.slow  # 57 and 55 CPU-s: A1 finetuned in a process
def test_finetune_from_published_weights_and_a_bare_keras_file(tmp_path, eros_subset, source):
    weights = shared_path("weights", "astromer1-macho")
    if source == "keras":
        # what the README's snippet saves: an uncompiled model
        from astromer.models.pretrainer import Pretrainer

        Pretrainer.from_original_checkpoint(weights).save(tmp_path / "a1.keras")
        weights = tmp_path / "a1.keras"
    out = run_module("astromer.cli.finetune", ["--weights", str(weights), "--data", str(eros_subset),
                                                "--set", "pretraining.epochs=1", "--set", "pretraining.batch_size=16",
                                                "--set", "model.dropout=0", "--out", "run", "--quiet"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "finetune.json").read_text())
    assert report["epochs_run"] == 1
    # The published weights reconstruct EROS_R well before finetuning (all
    # observations, no masking; 0.050 on these 60 objects) and one epoch at
    # the rate the scaling rule gives batch 16 (8e-5) leaves them close.
    every = report["before"]["all_observations"]
    assert 0.02 < every["rmse"] < 0.1 and every["r2"] > 0.9
    assert abs(report["after"]["all_observations"]["rmse"] - every["rmse"]) < 0.05
    # On steps it cannot see, the published A1 predicts little better than
    # each window's mean (R2 near 0, the issue measured -0.014 on EROS_R)
    hidden = report["before"]["hidden_steps"]
    assert hidden["hidden_steps"] > 100 and -0.3 < hidden["r2"] < 0.3 and hidden["rmse"] > every["rmse"]
    # start-up lines of TensorFlow are silenced; the cleaning report is there
    assert "I0000" not in out.stderr and "cuInit" not in out.stderr and "shuffle=True" not in out.stderr
    assert "ran out of data" not in out.stderr
    assert "before finetuning: test RMSE" in out.stdout and "on hidden steps" in out.stdout


def test_finetune_before_scores_agree_for_checkpoint_and_keras_file(tmp_path, eros_subset):
    # The same weights, loaded as an original checkpoint or from the .keras
    # file saved from it, must score the same before finetuning.
    from astromer import training
    from astromer.preprocessing.pretraining_data import PretrainingData
    from astromer.core.loading import load_for_finetuning
    from astromer.models.pretrainer import Pretrainer

    weights = shared_path("weights", "astromer1-macho")
    Pretrainer.from_original_checkpoint(weights).save(tmp_path / "a1.keras")
    scores = []
    for source in (weights, tmp_path / "a1.keras"):
        model, config = load_for_finetuning(str(source), None, ["model.dropout=0"])
        data = PretrainingData.open(str(eros_subset), config)
        scores.append((training.evaluate_reconstruction(model, data.test, config, 64),
                       training.evaluate_hidden(model, data.test, config, 64)))
    assert scores[0][0]["rmse"] == pytest.approx(scores[1][0]["rmse"], abs=1e-6)
    assert scores[0][1]["rmse"] == pytest.approx(scores[1][1]["rmse"], abs=1e-6)
    assert scores[0][1]["hidden_steps"] == scores[1][1]["hidden_steps"] > 0


def _frameworks_after(module, argv):
    """(run by run_fresh: what a process imports) `module.main(argv)`; its
    exit code and the frameworks it imported."""
    import importlib
    import sys

    try:
        code = importlib.import_module(module).main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules)


@pytest.mark.parametrize("module", ["astromer.cli.train", "astromer.cli.finetune", "astromer.cli.embed",
                                    "astromer.cli.fewshot", "astromer.cli.bench", "astromer.cli.features",
                                    "astromer.cli.export"])
def test_help_imports_no_framework(module):
    out = run_fresh(_frameworks_after, module, ["--help"], cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.value == [0, []], out.value


def test_unknown_preset_is_answered_without_keras(tmp_path):
    out = run_fresh(_frameworks_after, "astromer.cli.train", ["--preset", "nope"], cwd=tmp_path, timeout=120)
    assert out.value == [2, []], out.stdout + out.stderr
    assert "Unknown preset 'nope'" in out.stderr and "a2" in out.stderr


def _load_and_call(path, inputs, outputs):
    """(run by run_fresh: a process of its own backend) `astromer.load_model`
    of `path` called on the arrays in `inputs`, saved to `outputs`; the
    backend and the model's class."""
    import keras
    import numpy as np

    import astromer

    model = astromer.load_model(path)
    np.save(outputs, keras.ops.convert_to_numpy(model(dict(np.load(inputs)), training=False)))
    return [keras.backend.backend(), type(model).__name__]


@pytest.mark.slow  # 16 CPU-s: a JAX process
def test_load_model_in_a_fresh_process_on_jax(tmp_path):
    pytest.importorskip("jax")
    import keras

    model = tiny_pretrainer(16, seed=3)
    x = {"magnitudes": np.linspace(-1, 1, 32, dtype="float32").reshape(2, 16),
         "times": np.tile(np.arange(16, dtype="float32") * 3.0, (2, 1)),
         "padding_mask": np.ones((2, 16), "float32"), "hidden_mask": np.zeros((2, 16), "float32")}
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "x.npz", **x)
    out = run_fresh(_load_and_call, "m.keras", "x.npz", "y.npy", cwd=tmp_path, env={"KERAS_BACKEND": "jax"},
                    timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.value == ["jax", "Pretrainer"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)


@pytest.mark.slow  # 26 CPU-s
def test_embed_standardises_by_default_and_reuses_statistics(tmp_path, eros_subset):
    weights = str(shared_path("weights", "astromer1-macho"))
    common = ["--weights", weights, "--data", str(eros_subset)]
    out = run_module("astromer.cli.embed", common + ["--out", "cat.parquet"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "standardised, statistics in cat.parquet.stats.json" in out.stdout and "I0000" not in out.stderr
    catalogue = np.stack(pd.read_parquet(tmp_path / "cat.parquet")["embedding"])
    np.testing.assert_allclose(catalogue.mean(0), 0, atol=1e-4)
    # (the process above showed what a user sees; the same command runs in
    # this process for the other options)
    from astromer.cli.embed import main as embed

    out = run_cli(embed, common + ["--out", "raw.parquet", "--no-standardize"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    raw = np.stack(pd.read_parquet(tmp_path / "raw.parquet")["embedding"])
    stats = json.loads((tmp_path / "cat.parquet.stats.json").read_text())
    std = np.asarray(stats["std"])
    np.testing.assert_allclose(catalogue, (raw - stats["mean"]) / np.where(std > 0, std, 1), atol=1e-4)
    # the same objects standardised with the catalogue's statistics
    out = run_cli(embed, common + ["--out", "new.parquet", "--statistics", "cat.parquet.stats.json"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(np.stack(pd.read_parquet(tmp_path / "new.parquet")["embedding"]), catalogue, atol=1e-6)
    assert not (tmp_path / "new.parquet.stats.json").exists()


def test_parameter_count_names_the_mask_token():
    from astromer.core.factory import build_pretrainer, resolve_config
    from astromer.training.loop import parameter_count

    # Astromer 2 paper, Sect. 3.2: 3,953,409 parameters; the token is one more
    assert parameter_count(build_pretrainer(resolve_config("a2"))) == \
        "3,953,409 parameters + 1 mask token"
    assert parameter_count(build_pretrainer(resolve_config("a1"))) == "661,505 parameters"


def test_embed_command_absent_band_exits_2_listing_the_bands(tmp_path, eros_subset, capsys):
    from astromer.cli.embed import main

    rc = main(["--weights", str(shared_path("weights", "astromer1-macho")), "--data", str(eros_subset),
               "--band", "EROS_V", "--out", str(tmp_path / "e.parquet")])
    assert rc == 2
    assert "Band 'EROS_V' is not in the table; its bands are ['EROS_R']" in capsys.readouterr().err
    assert not list(tmp_path.glob("e.parquet*"))


def test_a_damaged_keras_file_is_named_not_called_missing(tmp_path):
    from astromer.core.loading import load_backbone
    from astromer.errors import ConfigError

    tiny_pretrainer(16, seed=0).save(tmp_path / "m.keras")
    data = (tmp_path / "m.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match=r"cut.keras is not a readable .keras file .* damaged or "
                                          r"truncated\): save or copy it again"):
        load_backbone(str(tmp_path / "cut.keras"))


def test_cleaning_thresholds_apply_on_top_of_the_compat_cleaning(tmp_path, eros_subset):
    # --max-error with the published weights (compat chosen automatically:
    # original, which keeps every error) drops exactly the rows at or above
    # the threshold, and still keeps errors <= 0 as the original library does.
    from astromer.embedding import EmbedSettings, run

    table = pd.read_parquet(eros_subset)
    result = run(EmbedSettings(str(shared_path("weights", "astromer1-macho")), str(eros_subset), tmp_path / "e.parquet",
                               progress=False, cleaning_overrides={"max_error": 0.5}))
    assert result.report.rows_bad_error == int((table["err"] >= 0.5).sum()) > 0
