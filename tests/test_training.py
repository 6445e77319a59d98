"""astromer-train / astromer-finetune: end-to-end runs on tiny models."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from astromer import presets, training

ROOT = Path(__file__).resolve().parents[1]


def tiny_preset(tmp_path, epochs=4, light_curves=160, batch=16, extra=None):
    config = presets.load_preset("a1")
    config["name"] = "tiny"
    config["model"].update(num_layers=1, num_heads=2, head_dim=8, ff_dim=16, window_size=48, dropout=0.1)
    config["pretraining"].update(learning_rate=3e-3, batch_size=batch, epochs=epochs, patience=50)
    config["demo"] = {"light_curves": light_curves, "seed": 1, "pretraining.batch_size": batch,
                      "pretraining.epochs": epochs}
    for key, value in (extra or {}).items():
        config["pretraining"][key] = value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "astromer.cli.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_run_learns_and_writes_every_output(tmp_path):
    preset = tiny_preset(tmp_path, epochs=6)
    out = run_cli(["--preset", str(preset), "--out", "run", "--quiet"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    # Keras warnings about options we never pass are silenced at their source
    assert "ran out of data" not in out.stderr and "shuffle=True" not in out.stderr, out.stderr[-2000:]
    run = tmp_path / "run"
    for name in ("config.yaml", "history.csv", "learning_curves.png", "model.keras", "backbone.weights.h5",
                 "best.weights.h5", "summary.json", "checkpoints/latest"):
        assert (run / name).exists(), name
    assert (tmp_path / "records" / "demo-160-seed1" / "manifest.json").exists()
    assert any((run / "tensorboard").rglob("*tfevents*"))
    history = pd.read_csv(run / "history.csv")
    # epochs numbered from 1 everywhere: history, checkpoint, summary
    assert list(history["epoch"]) == list(range(1, 7))
    assert (run / "checkpoints" / "latest").read_text().strip() == "epoch-00006"
    state = json.loads((run / "checkpoints" / "epoch-00006" / "state.json").read_text())
    assert state["epoch"] == 6 and state["best_epoch"] == int(history.loc[history["val_loss"].idxmin(), "epoch"])
    from astromer.training.plots import epoch_numbers

    assert epoch_numbers(history.to_dict("list")) == list(range(1, 7))  # the plot's x axis
    assert epoch_numbers({"loss": [3.0, 2.0]}) == [1, 2]
    # The training loss about halves over 6 epochs (ratios 0.40-0.46 over
    # three seeds and two dropout streams); the validation RMSE is already
    # near its plateau after the first epoch, so only "improves" there.
    assert history["loss"].iloc[-1] < 0.6 * history["loss"].iloc[0]
    assert history["val_rmse"].min() < history["val_rmse"].iloc[0]
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["pretraining"]["epochs"] == 6 and resolved["model"]["window_size"] == 48
    import astromer

    model = astromer.load_model(run / "model.keras")
    assert type(model).__name__ == "Pretrainer" and model.backbone.window_size == 48
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 6 and summary["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    assert summary["best_epoch"] == state["best_epoch"]
    assert summary["xla"] is True  # compiled by default, TensorFlow included


def test_deterministic_runs_trade_xla_for_identical_reruns(tmp_path):
    preset = tiny_preset(tmp_path, epochs=1, light_curves=80)
    histories = []
    for run in ("a", "b"):
        out = run_cli(["--preset", str(preset), "--out", run, "--quiet", "--deterministic"], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert summary["xla"] is (keras.backend.backend() != "tensorflow")
        histories.append(pd.read_csv(tmp_path / run / "history.csv").drop(columns="windows_per_s"))
    np.testing.assert_array_equal(histories[0].to_numpy(), histories[1].to_numpy())


def test_same_seed_same_loss_curve(tmp_path):
    config = training.resolve_config(tiny_preset(tmp_path, epochs=2, light_curves=80), demo=True)
    data = training.prepare_data(None, config, tmp_path, input_path="numpy", verbose=False)
    a = training.pretrain(config, data, tmp_path / "a", verbose=0)
    b = training.pretrain(config, data, tmp_path / "b", verbose=0)
    # every logged value but the throughput (a timing)
    ha, hb = (pd.read_csv(tmp_path / r / "history.csv").drop(columns="windows_per_s") for r in ("a", "b"))
    np.testing.assert_array_equal(ha.to_numpy(), hb.to_numpy())
    assert {k: v for k, v in a["final"].items() if k != "windows_per_s"} == {
        k: v for k, v in b["final"].items() if k != "windows_per_s"}


def test_sigkill_then_resume_finishes_all_epochs(tmp_path):
    preset = tiny_preset(tmp_path, epochs=5, light_curves=240)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "astromer.cli.train", "--preset", str(preset), "--out", "run",
                             "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    latest = tmp_path / "run" / "checkpoints" / "latest"
    deadline = time.time() + 300
    while time.time() < deadline and not (latest.exists() and latest.read_text().strip() >= "epoch-00002"):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest.exists(), "no checkpoint was written before the kill"
    killed_after = int(latest.read_text().strip().split("-")[1])
    assert killed_after < 5, "the run finished before it could be killed"
    out = run_cli(["--out", "run", "--resume", "--quiet"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming run after epoch {killed_after}" in out.stdout
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    # Epochs the killed run completed are kept, the interrupted one is redone once.
    assert history["epoch"].iloc[-1] == 5 and len(json.loads((tmp_path / "run" / "summary.json").read_text())) > 0
    assert set(history["epoch"]) == set(range(1, 6))
    # The resumed epochs equal those of an uninterrupted run.
    full = run_cli(["--preset", str(preset), "--out", "full", "--quiet"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    reference = pd.read_csv(tmp_path / "full" / "history.csv").set_index("epoch").drop(columns="windows_per_s")
    resumed = history.drop_duplicates("epoch", keep="last").set_index("epoch").drop(columns="windows_per_s")
    np.testing.assert_allclose(resumed.loc[4].to_numpy(), reference.loc[4].to_numpy(), rtol=1e-4)


def test_bad_inputs_fail_before_training(tmp_path):
    out = run_cli(["--preset", "a3"], cwd=tmp_path)
    assert out.returncode != 0 and "Available presets: ['a1', 'a1-original', 'a2'" in out.stderr
    out = run_cli(["--preset", "a1", "--set", "pretraining.learnin_rate=1"], cwd=tmp_path)
    assert out.returncode == 2 and "Closest valid keys: ['pretraining.learning_rate'" in out.stderr
    (tmp_path / "empty").mkdir()
    out = run_cli(["--preset", "a1", "--data", str(tmp_path / "empty")], cwd=tmp_path)
    assert out.returncode == 2 and str(tmp_path / "empty") in out.stderr
    out = run_cli(["--preset", "a1", "--data", str(tmp_path / "nope.parquet")], cwd=tmp_path)
    assert out.returncode == 2 and "nope.parquet" in out.stderr and "does not exist" in out.stderr
    (tmp_path / "bad.csv").write_text("id,time,mag\n1,2,3\n")
    out = run_cli(["--preset", "a1", "--data", str(tmp_path / "bad.csv")], cwd=tmp_path)
    assert out.returncode == 2 and "no column for ['err']" in out.stderr
    # A model setting the model refuses: a message, not a traceback.
    out = run_cli(["--preset", "a2-original", "--set", "model.attention_implementation=lengths", "--set",
                   "demo.light_curves=40"], cwd=tmp_path)
    assert out.returncode == 2 and "model settings: attention_implementation=\"lengths\" excludes" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("history.csv"))


def test_mirrored_strategy_two_cpus_matches_one_device(tmp_path):
    pytest.importorskip("tensorflow")
    script = tmp_path / "mirrored.py"
    script.write_text(
        "import numpy as np, tensorflow as tf, keras\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from astromer.models.astromer_backbone import AstromerBackbone\n"
        "from astromer.models.pretrainer import Pretrainer\n"
        "from astromer.training import make_strategy\n"
        "rng = np.random.default_rng(0)\n"
        "n, w = 8, 16\n"
        "x = {'magnitudes': rng.normal(size=(n, w)).astype('float32'), 'times': np.sort(rng.uniform(-9, 9, (n, w)), 1).astype('float32'),\n"
        "     'padding_mask': np.zeros((n, w), 'float32'), 'hidden_mask': (rng.uniform(size=(n, w)) < .3).astype('float32')}\n"
        "x['padding_mask'][0, 10:] = 1\n"
        "y = {'magnitudes': rng.normal(size=(n, w)).astype('float32'), 'probe_mask': (rng.uniform(size=(n, w)) < .5).astype('float32'),\n"
        "     'loss_weight': rng.uniform(.1, 1, (n, w)).astype('float32')}\n"
        "def build():\n"
        "    keras.utils.set_random_seed(1)\n"
        "    m = Pretrainer(AstromerBackbone(num_layers=1, num_heads=2, head_dim=4, ff_dim=8, window_size=w, dropout=0.0), uncertainty_weighted=True)\n"
        "    m.compile(keras.optimizers.SGD(0.1))\n"
        "    return m\n"
        "single = build()\n"
        "ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(n)\n"
        "loss1 = single.fit(ds, epochs=1, verbose=0).history['loss'][0]\n"
        "strategy, replicas = make_strategy('mirrored')\n"
        "assert replicas == 2, replicas\n"
        "with strategy.scope():\n"
        "    double = build()\n"
        "loss2 = double.fit(ds, epochs=1, verbose=0).history['loss'][0]\n"
        "w1 = single.get_weights(); w2 = double.get_weights()\n"
        "dw = max(float(np.abs(a - b).max()) for a, b in zip(w1, w2))\n"
        "print('LOSSES', loss1, loss2, dw)\n"
        "assert abs(loss1 - loss2) < 1e-5 * abs(loss1) + 1e-6, (loss1, loss2)\n"
        "assert dw < 1e-5, dw\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "LOSSES" in out.stdout


def test_model_overrides_apply_to_loaded_weights(tmp_path):
    # --set model.dropout=0 must reach a model loaded from weights (finetuning
    # A1 without its dropout), keep every weight, and an override that
    # changes the architecture must fail by name.
    import keras

    from astromer.models.astromer_backbone import AstromerBackbone
    from astromer.models.pretrainer import Pretrainer

    keras.utils.set_random_seed(0)
    model = Pretrainer(AstromerBackbone(num_layers=1, num_heads=2, head_dim=4, ff_dim=8, window_size=16, dropout=0.3))
    model.save(tmp_path / "m.keras")
    loaded, config = training.load_for_finetuning(str(tmp_path / "m.keras"), "a1",
                                                  ["model.dropout=0.0", "pretraining.learning_rate=1e-4"])
    assert loaded.backbone.dropout == 0.0 and config["model"]["dropout"] == 0.0
    assert config["pretraining"]["learning_rate"] == 1e-4
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = {"magnitudes": np.ones((2, 16), "float32"), "times": np.tile(np.arange(16, dtype="float32"), (2, 1)),
         "padding_mask": np.zeros((2, 16), "float32"), "hidden_mask": np.zeros((2, 16), "float32")}
    # training-mode outputs are deterministic once dropout is off
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=True)),
                               keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-6)
    with pytest.raises(training.ConfigError, match="num_layers"):
        training.load_for_finetuning(str(tmp_path / "m.keras"), "a1", ["model.num_layers=2"])


def test_train_cli_on_pytorch_without_tensorflow_is_one_graph_per_step(tmp_path):
    # `astromer-train` on the PyTorch backend, TensorFlow blocked: Parquet
    # input, and each training / validation step one compiled graph
    # (astromer.models.torch_graph) with no Dynamo graph break.
    pytest.importorskip("torch")
    tiny_preset(tmp_path, epochs=3, batch=16)  # writes tiny.yaml, which the script reads
    script = tmp_path / "torch_train.py"
    script.write_text(
        "import sys, json\n"
        "sys.modules['tensorflow'] = None  # import fails; PyTorch's probes see it missing\n"
        "import keras\n"
        "assert keras.backend.backend() == 'torch'\n"
        "from torch._dynamo.utils import counters\n"
        "from astromer.data.demo import simulate_table\n"
        "from astromer.cli.train import main\n"
        "simulate_table('table.parquet', 120, seed=2)\n"
        "main(['--preset', 'tiny.yaml', '--data', 'table.parquet', '--out', 'run', '--quiet'])\n"
        "assert sys.modules['tensorflow'] is None\n"
        "print(json.dumps({'breaks': sum(counters['graph_break'].values()),\n"
        "                  'graphs': counters['stats']['unique_graphs']}))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    # Training and validation, at most two batch shapes each (a smaller
    # last batch traces again).
    assert counts["breaks"] == 0 and 2 <= counts["graphs"] <= 4, counts
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["xla"] is True and summary["epochs_run"] == 3
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["loss"].iloc[-1] < 0.8 * history["loss"].iloc[0]


def test_a_band_the_table_lacks_fails_naming_its_bands(tmp_path):
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(20, seed=1, min_obs=30, max_obs=40)
    rows = [(lc.id, t, m, e, b) for lc in lcs for b in ("g", "r") for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err", "band"]).to_parquet(tmp_path / "t.parquet")
    config = training.resolve_config("a1", ["data.band=V"])
    with pytest.raises(training.ConfigError, match=r"band 'V' \(data.band\) is not in the table; its bands are "
                                                   r"\['g', 'r'\]"):
        training.prepare_data(str(tmp_path / "t.parquet"), config, str(tmp_path / "run"))
    config = training.resolve_config("a1", ["data.band=r", "data.min_observations=1000"])
    with pytest.raises(training.ConfigError, match="none of its 20 light curves is usable"):
        training.prepare_data(str(tmp_path / "t.parquet"), config, str(tmp_path / "run"))


def test_resume_continues_on_the_data_the_run_started_with(tmp_path):
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(80, seed=4, min_obs=30, max_obs=60)
    rows = [(lc.id, t, m, e) for lc in lcs for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "table.parquet")
    preset = tiny_preset(tmp_path, epochs=1)
    out = run_cli(["--preset", str(preset), "--data", "table.parquet", "--out", "run", "--quiet"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    # no --data: the table, not the demo survey
    out = run_cli(["--out", "run", "--resume", "--quiet", "--set", "pretraining.epochs=2"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming on the run's data: {tmp_path / 'table.parquet'}" in out.stdout
    assert "table" in out.stdout and "demo" not in out.stdout
    assert list(pd.read_csv(tmp_path / "run" / "history.csv")["epoch"]) == [1, 2]
    # another table is refused
    pd.DataFrame(rows[:500], columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "other.parquet")
    out = run_cli(["--out", "run", "--resume", "--data", "other.parquet", "--set", "pretraining.epochs=3"],
                  cwd=tmp_path)
    assert out.returncode == 2 and "--resume continues on the same data" in out.stderr


def test_too_few_light_curves_for_one_batch_is_a_usage_error(tmp_path):
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(10, seed=4, min_obs=30, max_obs=60)
    rows = [(lc.id, t, m, e) for lc in lcs for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "table.parquet")
    # Without --set the batch follows the data (8 training light curves: a
    # batch of 1); a batch given that the data cannot fill is refused, and
    # leaves no run folder.
    out = run_cli(["--preset", str(tiny_preset(tmp_path, epochs=1)), "--data", "table.parquet", "--out", "run",
                   "--set", "pretraining.batch_size=16"], cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert ("The training split holds 8 light curves, which do not fill one batch of 16: pass --set "
            "pretraining.batch_size=N with N at most 8") in out.stderr
    assert not (tmp_path / "run").exists()


def test_numpy_path_trains_each_epoch_on_that_epochs_windows(tmp_path):
    # Keras' fit ends an epoch once before the first (after peeking at a
    # batch); counted by the dataset, epoch e trained on the windows and masks
    # drawn for e + 1, so a 3-epoch run drew epoch 3. The JAX backend takes
    # the NumPy path (with worker threads, as training sets it up).
    tiny_preset(tmp_path, epochs=3, batch=16)  # tiny.yaml, read by the script
    script = tmp_path / "numpy_epochs.py"
    script.write_text(
        "import json\n"
        "import keras\n"
        "assert keras.backend.backend() == 'jax'\n"
        "from astromer.data import datasets\n"
        "from astromer.data.demo import simulate_table\n"
        "from astromer.cli.train import main\n"
        "drawn = []\n"
        "original = datasets.numpy_batch\n"
        "def recording(packed, indices, config, epoch, mode='pretrain', starts=None):\n"
        "    if mode == 'pretrain':\n"
        "        drawn.append(int(epoch))\n"
        "    return original(packed, indices, config, epoch, mode, starts)\n"
        "datasets.numpy_batch = recording\n"
        "simulate_table('table.parquet', 120, seed=2)\n"
        "main(['--preset', 'tiny.yaml', '--data', 'table.parquet', '--out', 'run', '--quiet'])\n"
        "print(json.dumps(drawn))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    drawn = json.loads(out.stdout.strip().splitlines()[-1])
    # Each epoch's batches all drawn for that epoch (the first also serves
    # fit's peek), in order, and never a fourth epoch's.
    assert sorted(set(drawn)) == [0, 1, 2], drawn
    assert drawn == sorted(drawn), drawn
    assert drawn.count(0) >= drawn.count(1) == drawn.count(2) >= 2, drawn
