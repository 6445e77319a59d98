"""astromer-train / astromer-finetune: end-to-end runs on tiny models."""

import json
import signal
import time

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from astromer import training
from astromer.core import factory
from astromer.preprocessing.pretraining_data import PretrainingData
from astromer.cli.train import main as train
from tests.harness import run_cli, run_fresh, run_process, tiny_preset, tiny_pretrainer, write_light_curves


def train_process(args, cwd, popen=False):
    """astromer-train in a new process: for what is process-wide (op
    determinism, --deterministic) and for kills."""
    return run_process("astromer.cli.train", args, cwd=cwd, env={"TF_CPP_MIN_LOG_LEVEL": "3"}, popen=popen)


def test_demo_run_learns_and_writes_every_output(tmp_path):
    preset = tiny_preset(tmp_path, epochs=6)
    out = run_cli(train, ["--preset", str(preset), "--out", "run", "--quiet"], cwd=tmp_path)
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


@pytest.mark.slow  # 66 s: two TensorFlow start-ups (op determinism is process-wide)
def test_deterministic_runs_trade_xla_for_identical_reruns(tmp_path):
    preset = tiny_preset(tmp_path, epochs=1, light_curves=80)
    histories = []
    for run in ("a", "b"):
        out = train_process(["--preset", str(preset), "--out", run, "--quiet", "--deterministic"], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert summary["xla"] is (keras.backend.backend() != "tensorflow")
        histories.append(pd.read_csv(tmp_path / run / "history.csv").drop(columns="windows_per_s"))
    np.testing.assert_array_equal(histories[0].to_numpy(), histories[1].to_numpy())


@pytest.mark.slow  # 49 CPU-s: two runs
def test_same_seed_same_loss_curve(tmp_path):
    config = factory.resolve_config(tiny_preset(tmp_path, epochs=2, light_curves=80), demo=True)
    data = PretrainingData.open(None, config, input_path="numpy", verbose=False)
    a = training.pretrain(config, data, tmp_path / "a", verbose=0)
    b = training.pretrain(config, data, tmp_path / "b", verbose=0)
    # every logged value but the throughput (a timing)
    ha, hb = (pd.read_csv(tmp_path / r / "history.csv").drop(columns="windows_per_s") for r in ("a", "b"))
    np.testing.assert_array_equal(ha.to_numpy(), hb.to_numpy())
    assert {k: v for k, v in a["final"].items() if k != "windows_per_s"} == {
        k: v for k, v in b["final"].items() if k != "windows_per_s"}


@pytest.mark.slow  # 121 s: three runs of 5 epochs
def test_sigkill_then_resume_finishes_all_epochs(tmp_path):
    preset = tiny_preset(tmp_path, epochs=5, light_curves=240)
    proc = train_process(["--preset", str(preset), "--out", "run", "--quiet"], cwd=tmp_path, popen=True)
    latest = tmp_path / "run" / "checkpoints" / "latest"
    deadline = time.time() + 300
    while time.time() < deadline and not (latest.exists() and latest.read_text().strip() >= "epoch-00002"):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest.exists(), "no checkpoint was written before the kill"
    killed_after = int(latest.read_text().strip().split("-")[1])
    assert killed_after < 5, "the run finished before it could be killed"
    out = run_cli(train, ["--out", "run", "--resume", "--quiet"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming run after epoch {killed_after}" in out.stdout
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    # Epochs the killed run completed are kept, the interrupted one is redone once.
    assert history["epoch"].iloc[-1] == 5 and len(json.loads((tmp_path / "run" / "summary.json").read_text())) > 0
    assert set(history["epoch"]) == set(range(1, 6))
    # The resumed epochs equal those of an uninterrupted run.
    full = run_cli(train, ["--preset", str(preset), "--out", "full", "--quiet"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    reference = pd.read_csv(tmp_path / "full" / "history.csv").set_index("epoch").drop(columns="windows_per_s")
    resumed = history.drop_duplicates("epoch", keep="last").set_index("epoch").drop(columns="windows_per_s")
    np.testing.assert_allclose(resumed.loc[4].to_numpy(), reference.loc[4].to_numpy(), rtol=1e-4)


def test_bad_inputs_fail_before_training(tmp_path):
    out = run_cli(train, ["--preset", "a3"], cwd=tmp_path)
    assert out.returncode != 0 and "Available presets: ['a1', 'a1-original', 'a2'" in out.stderr
    out = run_cli(train, ["--preset", "a1", "--set", "pretraining.learnin_rate=1"], cwd=tmp_path)
    assert out.returncode == 2 and "Closest valid keys: ['pretraining.learning_rate'" in out.stderr
    (tmp_path / "empty").mkdir()
    out = run_cli(train, ["--preset", "a1", "--data", str(tmp_path / "empty")], cwd=tmp_path)
    assert out.returncode == 2 and str(tmp_path / "empty") in out.stderr
    out = run_cli(train, ["--preset", "a1", "--data", str(tmp_path / "nope.parquet")], cwd=tmp_path)
    assert out.returncode == 2 and "nope.parquet" in out.stderr and "does not exist" in out.stderr
    (tmp_path / "bad.csv").write_text("id,time,mag\n1,2,3\n")
    out = run_cli(train, ["--preset", "a1", "--data", str(tmp_path / "bad.csv")], cwd=tmp_path)
    assert out.returncode == 2 and "no column for ['err']" in out.stderr
    # A model setting the model refuses: a message, not a traceback.
    out = run_cli(train, ["--preset", "a2-original", "--set", "model.attention_implementation=lengths", "--set",
                          "demo.light_curves=40"], cwd=tmp_path)
    assert out.returncode == 2 and "model settings: attention_implementation=\"lengths\" excludes" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("history.csv"))


def _fit_one_step_on_one_and_two_cpus():
    """(run by run_fresh: the CPU must be split in two before TensorFlow
    starts) One SGD step of a tiny model on one device and under a
    MirroredStrategy over two logical CPUs: both losses and the largest
    weight difference."""
    import keras
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from astromer.distribute import global_batch_loss, make_distribution
    from tests.harness import tiny_pretrainer

    rng = np.random.default_rng(0)
    n, w = 8, 16
    x = {"magnitudes": rng.normal(size=(n, w)).astype("float32"),
         "times": np.sort(rng.uniform(-9, 9, (n, w)), 1).astype("float32"),
         "padding_mask": np.zeros((n, w), "float32"), "hidden_mask": (rng.uniform(size=(n, w)) < .3).astype("float32")}
    x["padding_mask"][0, 10:] = 1
    y = {"magnitudes": rng.normal(size=(n, w)).astype("float32"),
         "probe_mask": (rng.uniform(size=(n, w)) < .5).astype("float32"),
         "loss_weight": rng.uniform(.1, 1, (n, w)).astype("float32")}

    def build():
        m = tiny_pretrainer(w, seed=1, dropout=0.0, uncertainty_weighted=True)
        m.compile(keras.optimizers.SGD(0.1))
        return m

    single = build()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(n)
    loss1 = single.fit(ds, epochs=1, verbose=0).history["loss"][0]
    distribution = make_distribution("mirrored")
    strategy, replicas = distribution.strategy, distribution.replicas
    assert replicas == 2, replicas
    with strategy.scope():
        double = global_batch_loss(build())  # the loss of the global batch on each replica
    loss2 = double.fit(ds, epochs=1, verbose=0).history["loss"][0]
    dw = max(float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), double.get_weights()))
    return [float(loss1), float(loss2), dw]


@pytest.mark.slow  # 23 CPU-s: a TensorFlow process
def test_mirrored_strategy_two_cpus_matches_one_device(tmp_path):
    pytest.importorskip("tensorflow")
    out = run_fresh(_fit_one_step_on_one_and_two_cpus, env={"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"},
                    timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    loss1, loss2, dw = out.value
    assert abs(loss1 - loss2) < 1e-5 * abs(loss1) + 1e-6, (loss1, loss2)
    assert dw < 1e-5, dw


def test_model_overrides_apply_to_loaded_weights(tmp_path):
    # --set model.dropout=0 must reach a model loaded from weights (finetuning
    # A1 without its dropout), keep every weight, and an override that
    # changes the architecture must fail by name.
    model = tiny_pretrainer(16, seed=0, dropout=0.3)
    model.save(tmp_path / "m.keras")
    from astromer.core.loading import load_for_finetuning
    from astromer.errors import ConfigError

    loaded, config = load_for_finetuning(str(tmp_path / "m.keras"), "a1",
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
    with pytest.raises(ConfigError, match="num_layers"):
        load_for_finetuning(str(tmp_path / "m.keras"), "a1", ["model.num_layers=2"])


def _train_on_torch_without_tensorflow():
    """(run by run_fresh) astromer-train on tiny.yaml and a 120-curve table
    on PyTorch with TensorFlow blocked; Dynamo's graph breaks and graphs."""
    import sys

    sys.modules["tensorflow"] = None  # import fails; PyTorch's probes see it missing
    import keras

    assert keras.backend.backend() == "torch"
    from torch._dynamo.utils import counters

    from astromer.cli.train import main
    from astromer.data.demo import simulate_table

    simulate_table("table.parquet", 120, seed=2)
    assert main(["--preset", "tiny.yaml", "--data", "table.parquet", "--out", "run", "--quiet"]) == 0
    assert sys.modules["tensorflow"] is None
    return {"breaks": sum(counters["graph_break"].values()), "graphs": counters["stats"]["unique_graphs"]}


@pytest.mark.slow  # 41 CPU-s: a PyTorch process
def test_train_cli_on_pytorch_without_tensorflow_is_one_graph_per_step(tmp_path):
    # `astromer-train` on the PyTorch backend, TensorFlow blocked: Parquet
    # input, and each training / validation step one compiled graph
    # (astromer.models.torch_graph) with no Dynamo graph break.
    pytest.importorskip("torch")
    tiny_preset(tmp_path, epochs=3, batch=16)  # writes tiny.yaml, which the process reads
    out = run_fresh(_train_on_torch_without_tensorflow, cwd=tmp_path, env={"KERAS_BACKEND": "torch"}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = out.value
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
    config = factory.resolve_config("a1", ["data.band=V"])
    with pytest.raises(training.ConfigError, match=r"band 'V' \(data.band\) is not in the table; its bands are "
                                                   r"\['g', 'r'\]"):
        PretrainingData.open(str(tmp_path / "t.parquet"), config)
    config = factory.resolve_config("a1", ["data.band=r", "data.min_observations=1000"])
    with pytest.raises(training.ConfigError, match="none of its 20 light curves is usable"):
        PretrainingData.open(str(tmp_path / "t.parquet"), config)


@pytest.mark.slow  # 44 CPU-s: three runs
def test_resume_continues_on_the_data_the_run_started_with(tmp_path):
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(80, seed=4, min_obs=30, max_obs=60)
    rows = [(lc.id, t, m, e) for lc in lcs for t, m, e in zip(lc.time, lc.mag, lc.err)]
    pd.DataFrame(rows, columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "table.parquet")
    preset = tiny_preset(tmp_path, epochs=1)
    out = run_cli(train, ["--preset", str(preset), "--data", "table.parquet", "--out", "run", "--quiet"],
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    # no --data: the table, not the demo survey
    out = run_cli(train, ["--out", "run", "--resume", "--quiet", "--set", "pretraining.epochs=2"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming on the run's data: {tmp_path / 'table.parquet'}" in out.stdout
    assert "table" in out.stdout and "demo" not in out.stdout
    assert list(pd.read_csv(tmp_path / "run" / "history.csv")["epoch"]) == [1, 2]
    # another table is refused
    pd.DataFrame(rows[:500], columns=["id", "time", "mag", "err"]).to_parquet(tmp_path / "other.parquet")
    out = run_cli(train, ["--out", "run", "--resume", "--data", "other.parquet", "--set", "pretraining.epochs=3"],
                  cwd=tmp_path)
    assert out.returncode == 2 and "--resume continues on the same data" in out.stderr


def test_too_few_light_curves_for_one_batch_is_a_usage_error(tmp_path):
    from astromer.data.demo import simulate_survey

    write_light_curves(tmp_path / "table.parquet", simulate_survey(10, seed=4, min_obs=30, max_obs=60))
    # Without --set the batch follows the data (8 training light curves: a
    # batch of 1); a batch given that the data cannot fill is refused, and
    # leaves no run folder.
    out = run_cli(train, ["--preset", str(tiny_preset(tmp_path, epochs=1)), "--data", "table.parquet", "--out",
                          "run", "--set", "pretraining.batch_size=16"], cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert ("The training split holds 8 light curves, which do not fill one batch of 16: pass --set "
            "pretraining.batch_size=N with N at most 8") in out.stderr
    assert not (tmp_path / "run").exists()


def _epochs_drawn_on_jax():
    """(run by run_fresh: the backend is chosen per process) astromer-train
    on tiny.yaml and a 120-curve table on JAX; the epoch each pretraining
    batch of the NumPy path was drawn for, in order."""
    import keras

    assert keras.backend.backend() == "jax"
    from astromer.cli.train import main
    from astromer.data import datasets
    from astromer.data.demo import simulate_table

    drawn = []
    original = datasets.numpy_batch

    def recording(packed, indices, config, epoch, mode="pretrain", starts=None):
        if mode == "pretrain":
            drawn.append(int(epoch))
        return original(packed, indices, config, epoch, mode, starts)

    datasets.numpy_batch = recording
    simulate_table("table.parquet", 120, seed=2)
    main(["--preset", "tiny.yaml", "--data", "table.parquet", "--out", "run", "--quiet"])
    return drawn


@pytest.mark.slow  # 33 CPU-s: a JAX process
def test_numpy_path_trains_each_epoch_on_that_epochs_windows(tmp_path):
    # Keras' fit ends an epoch once before the first (after peeking at a
    # batch); counted by the dataset, epoch e trained on the windows and masks
    # drawn for e + 1, so a 3-epoch run drew epoch 3. The JAX backend takes
    # the NumPy path (with worker threads, as training sets it up).
    tiny_preset(tmp_path, epochs=3, batch=16)  # tiny.yaml, read by the process
    out = run_fresh(_epochs_drawn_on_jax, cwd=tmp_path, env={"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"},
                    timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    drawn = out.value
    # Each epoch's batches all drawn for that epoch (the first also serves
    # fit's peek), in order, and never a fourth epoch's.
    assert sorted(set(drawn)) == [0, 1, 2], drawn
    assert drawn == sorted(drawn), drawn
    assert drawn.count(0) >= drawn.count(1) == drawn.count(2) >= 2, drawn
