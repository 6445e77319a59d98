"""`astromer-train --resume` on damaged run folders and after SIGKILLs at
awkward moments: it resumes from the newest usable checkpoint (saying which
one it skipped and why), keeps history.csv, the epoch counter and the
random streams of that one checkpoint, and ends a run with no usable
checkpoint in one line (exit 2)."""

import copy
import json
import os
import shutil
import signal
import time

import h5py
import numpy as np
import pandas as pd
import pytest

from astromer import training
from astromer.cli.train import main as train
from astromer.core import factory
from astromer.saving import load_keras
from astromer.preprocessing.pretraining_data import PretrainingData
from tests.harness import run_cli, run_process

TINY = ["model.num_layers=1", "model.num_heads=1", "model.head_dim=8", "model.ff_dim=8", "model.window_size=32",
        "pretraining.batch_size=16", "demo.light_curves=64", "pretraining.patience=50"]
EPOCHS = 4


def sets(*assignments):
    return [arg for a in assignments for arg in ("--set", a)]


def tiny_config(epochs=EPOCHS):
    return factory.resolve_config("a1", TINY + [f"pretraining.epochs={epochs}"], demo=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A finished 4-epoch run (in this process): its folder, config, data
    and history; the checkpoints of epochs 3 and 4 are on disk."""
    root = tmp_path_factory.mktemp("baseline")
    config = tiny_config()
    data = PretrainingData.open(None, config, input_path="numpy", verbose=False)
    data.test = None  # no test-split scores at the end of each run: they cost a compilation
    training.pretrain(copy.deepcopy(config), data, root / "run", verbose=0)
    run = root / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-00003", "epoch-00004", "latest"]
    return {"run": run, "config": config, "data": data, "history": history_values(run)}


def history_values(run):
    """history.csv without the throughput (a timing), indexed by epoch."""
    return pd.read_csv(run / "history.csv").drop(columns="windows_per_s").set_index("epoch")


def weights(path):
    return load_keras(path).get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def resume(baseline, tmp_path, capsys, epochs=EPOCHS):
    """Resumes a copy of the run (already damaged by the test) in this
    process; returns (run folder, printed text, summary)."""
    run = tmp_path / "run"
    config = copy.deepcopy(baseline["config"])
    config["pretraining"]["epochs"] = epochs
    capsys.readouterr()
    summary = training.pretrain(config, baseline["data"], run, resume=True, verbose=0)
    return run, capsys.readouterr().out, summary


def copy_run(baseline, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(baseline["run"], run)
    return run


def truncate(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def one_line(text, start):
    lines = [line for line in text.splitlines() if line.startswith(start)]
    assert len(lines) == 1, text
    return lines[0]


def assert_resumed_from_epoch_3(baseline, run, out):
    """The run went back to epoch 3 and redid epoch 4 as the first run did."""
    assert f"resuming {run} after epoch 3 (checkpoint epoch-00003" in out, out
    history = history_values(run)
    assert list(history.index) == [1, 2, 3, 4]
    # Epochs 1-3 are the rows stored in the checkpoint, epoch 4 is computed
    # again from the checkpoint of epoch 3: both equal the first run's.
    np.testing.assert_array_equal(history.to_numpy(), baseline["history"].to_numpy())
    assert (run / "checkpoints" / "latest").read_text() == "epoch-00004"
    state = json.loads((run / "checkpoints" / "epoch-00004" / "state.json").read_text())
    assert state["epoch"] == 4 and [row["epoch"] for row in state["history"]] == [1, 2, 3, 4]
    assert_same_weights(weights(run / "model.keras"), weights(baseline["run"] / "model.keras"))


def test_damaged_state_json_falls_back_to_the_previous_checkpoint(baseline, tmp_path, capsys):
    run = copy_run(baseline, tmp_path)
    truncate(run / "checkpoints" / "epoch-00004" / "state.json")
    run, out, _ = resume(baseline, tmp_path, capsys)
    line = one_line(out, "warning: skipped checkpoint")
    assert f"{run / 'checkpoints' / 'epoch-00004'}: state.json is damaged or truncated (JSONDecodeError" in line
    assert line.endswith("resuming from epoch-00003 instead")
    assert_resumed_from_epoch_3(baseline, run, out)


def assert_finished_at_epoch_3(baseline, run, out):
    """A 3-epoch run resumed from epoch 3: nothing to train; history.csv and
    the final model are epoch 3's, though best.weights.h5 held epoch 4."""
    assert f"resuming {run} after epoch 3 (checkpoint epoch-00003" in out, out
    line = one_line(out, "note:")
    assert line == (f"note: {run / 'best.weights.h5'} holds the weights of epoch 4, not of the best epoch 3: "
                    "best weights re-taken from the resumed checkpoint (epoch-00003, the best epoch)")
    history = history_values(run)
    assert list(history.index) == [1, 2, 3]
    np.testing.assert_array_equal(history.to_numpy(), baseline["history"].loc[[1, 2, 3]].to_numpy())
    assert_same_weights(weights(run / "model.keras"), weights(run / "checkpoints" / "epoch-00003" / "model.keras"))
    with pytest.raises(AssertionError):  # epoch 4's weights differ: the comparison above means something
        assert_same_weights(weights(run / "model.keras"), weights(baseline["run"] / "model.keras"))


def test_latest_naming_a_missing_folder_falls_back(baseline, tmp_path, capsys):
    run = copy_run(baseline, tmp_path)
    shutil.rmtree(run / "checkpoints" / "epoch-00004")
    assert (run / "checkpoints" / "latest").read_text() == "epoch-00004"
    run, out, _ = resume(baseline, tmp_path, capsys, epochs=3)
    line = one_line(out, "warning: skipped checkpoint")
    assert line == (f"warning: skipped checkpoint {run / 'checkpoints' / 'epoch-00004'}: the folder is missing "
                    "(checkpoints/latest names it); resuming from epoch-00003 instead")
    assert_finished_at_epoch_3(baseline, run, out)


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_damaged_model_keras_falls_back(baseline, tmp_path, capsys, damage):
    run = copy_run(baseline, tmp_path)
    model = run / "checkpoints" / "epoch-00004" / "model.keras"
    if damage == "truncated":
        truncate(model, 0.6)
        expected = "model.keras is truncated or damaged (not a readable zip archive"
    else:
        # Bytes in the middle changed: still a zip, but its contents fail
        # their checksums.
        data = bytearray(model.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
        model.write_bytes(bytes(data))
        expected = "model.keras is damaged ("
    run, out, _ = resume(baseline, tmp_path, capsys, epochs=3)
    line = one_line(out, "warning: skipped checkpoint")
    assert "epoch-00004: " + expected in line, line
    assert_finished_at_epoch_3(baseline, run, out)


def test_truncated_best_weights_are_taken_again_from_the_best_checkpoint(baseline, tmp_path, capsys):
    run = copy_run(baseline, tmp_path)
    state = json.loads((run / "checkpoints" / "epoch-00004" / "state.json").read_text())
    assert state["best_epoch"] == 4, "the tiny run's validation loss should fall every epoch"
    truncate(run / "best.weights.h5")
    # The run is finished: resuming only restores the best weights and saves
    # the final model, which must be epoch 4's.
    run, out, summary = resume(baseline, tmp_path, capsys)
    line = one_line(out, "warning:")
    assert line.startswith(f"warning: {run / 'best.weights.h5'} is truncated or damaged"), line
    assert line.endswith("best weights re-taken from the resumed checkpoint (epoch-00004, the best epoch)")
    with h5py.File(run / "best.weights.h5") as f:
        assert int(f.attrs["astromer_epoch"]) == 4
    checkpoint = weights(run / "checkpoints" / "epoch-00004" / "model.keras")
    assert_same_weights(weights(run / "model.keras"), checkpoint)
    assert_same_weights(weights(run / "model.keras"), weights(baseline["run"] / "model.keras"))
    assert summary["best_epoch"] == 4


@pytest.mark.slow  # 16 CPU-s: trains two more epochs
def test_lost_best_weights_restart_the_best_tracking(baseline, tmp_path, capsys):
    run = copy_run(baseline, tmp_path)
    # A checkpoint whose best epoch (3, val_loss 0.1) is not its own, and
    # best.weights.h5 cut short: epoch 3's weights are nowhere.
    path = run / "checkpoints" / "epoch-00004" / "state.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "best": 0.1, "best_epoch": 3}))
    truncate(run / "best.weights.h5", 0.3)
    run, out, summary = resume(baseline, tmp_path, capsys, epochs=5)
    line = one_line(out, "warning:")
    assert "is truncated or damaged" in line and "the weights of the best epoch 3 (val_loss 0.10000) are lost" in line
    assert "best-weights tracking restarts from the resumed epoch 4" in line
    history = history_values(run)
    assert list(history.index) == [1, 2, 3, 4, 5]
    best = 4 if history.loc[4, "val_loss"] <= history.loc[5, "val_loss"] else 5
    # The final model holds the weights of the best epoch from 4 on, and the
    # summary names that epoch.
    assert summary["best_epoch"] == best and summary["best_val_loss"] == history.loc[best, "val_loss"]
    assert_same_weights(weights(run / "model.keras"),
                        weights(run / "checkpoints" / f"epoch-{best:05d}" / "model.keras"))


def test_history_csv_is_rewritten_from_the_checkpoint(baseline, tmp_path, capsys):
    run = copy_run(baseline, tmp_path)
    # As if killed after the checkpoint of epoch 4 but before its row, with
    # a stray row of an epoch the checkpoint does not have.
    lines = (run / "history.csv").read_text().splitlines(keepends=True)
    (run / "history.csv").write_text("".join(lines[:3]) + "9,1,2,3,4,5,6,7\r\n")
    run, out, _ = resume(baseline, tmp_path, capsys)
    assert f"resuming {run} after epoch 4 (checkpoint epoch-00004" in out
    assert "warning" not in out, out
    assert (run / "history.csv").read_text() == "".join(lines)
    np.testing.assert_array_equal(history_values(run).to_numpy(), baseline["history"].to_numpy())


def test_no_usable_checkpoint_is_one_line_and_exit_2(baseline, tmp_path):
    run = copy_run(baseline, tmp_path)
    truncate(run / "checkpoints" / "epoch-00004" / "state.json")
    truncate(run / "checkpoints" / "epoch-00003" / "model.keras")
    out = run_cli(train, ["--out", "run", "--resume", "--quiet"], cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("astromer-train:")]
    assert len(errors) == 1, out.stderr[-3000:]
    error = errors[0]
    assert error.startswith("astromer-train: error: Cannot resume run: no usable checkpoint")
    assert "epoch-00004: state.json is damaged or truncated" in error
    assert "epoch-00003: model.keras is truncated or damaged" in error
    assert "without --resume" in error and "another --out" in error
    # Nothing was touched: the damaged files are still there to look at.
    assert (run / "checkpoints" / "latest").read_text() == "epoch-00004"


# --- SIGKILL at awkward moments, then --resume --------------------------------------------------

KILL_ARGS = ["--quiet", "--deterministic", *sets(*TINY, "pretraining.seed=7")]


def _popen(args, cwd):
    # Unbuffered (run_process's popen): the lines a killed run printed are
    # not lost with it.
    return run_process("astromer.cli.train", args, cwd=cwd, env={"TF_CPP_MIN_LOG_LEVEL": "3"}, popen=True)


def _latest(run):
    try:
        return (run / "checkpoints" / "latest").read_text().strip()
    except OSError:
        return ""


def _writing(run):
    """The temporary folder of a checkpoint being written, or None."""
    try:
        return next((n for n in os.listdir(run / "checkpoints") if n.startswith(".epoch-")), None)
    except OSError:
        return None


def _inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _wait(proc, condition, what, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}:\n{out[-2000:]}\n{err[-3000:]}")
        time.sleep(0.001)
    proc.kill()
    pytest.fail(f"no {what} within {timeout} s")


def kill_and_resume(tmp_path, monkeypatch, epochs, moments):
    """Trains `epochs` epochs, SIGKILLed once at each of `moments` and
    resumed after each kill, while an uninterrupted run with the same seed
    trains alongside. Returns (run folder, reference folder, one note per
    kill: (moment, latest checkpoint when killed, whether the kill landed
    mid-write))."""
    # The demo survey's records, written once here: the two runs would
    # both write them at the same time.
    monkeypatch.chdir(tmp_path)
    PretrainingData.open(None, tiny_config(), input_path="tfdata", verbose=False)
    args = [*KILL_ARGS, "--set", f"pretraining.epochs={epochs}"]
    reference = _popen(["--preset", "a1", "--out", "full", *args], cwd=tmp_path)
    run = tmp_path / "run"
    proc = _popen(["--preset", "a1", "--out", "run", *args], cwd=tmp_path)
    notes, outputs = [], []
    for moment in moments:
        before = _latest(run)
        hit = None
        if moment == "writing":
            # While a checkpoint is being written (its temporary folder
            # exists), at least one epoch after this process started.
            _wait(proc, lambda: _latest(run) != before, "a first checkpoint")
            name = _wait(proc, lambda: _writing(run), "a checkpoint being written")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # Still there: the kill landed before the rename.
            hit = (run / "checkpoints" / name).exists()
        elif moment == "latest":
            # Right after `latest` moves: best weights, pruning, the history
            # row not written yet (or only just).
            _wait(proc, lambda: _latest(run) != before, "a new checkpoint")
        elif moment == "best":
            _wait(proc, lambda: _latest(run) != before, "a first checkpoint")
            _wait(proc, lambda: (run / "best.tmp.weights.h5").exists(), "best weights being written")
        elif moment == "starting":
            # Right after the resumed run rewrote history.csv from its
            # checkpoint, before it trains.
            inode = _inode(run / "history.csv")
            _wait(proc, lambda: _inode(run / "history.csv") not in (inode, None), "history.csv rewritten")
        else:
            raise ValueError(moment)
        proc.send_signal(signal.SIGKILL)
        outputs.append(proc.communicate())
        notes.append((moment, _latest(run), hit))
        proc = _popen(["--out", "run", "--resume", *args], cwd=tmp_path)
    outputs.append(proc.communicate(timeout=600))
    assert proc.returncode == 0, outputs[-1][1][-3000:]
    # Each resumed run went on from the checkpoint `latest` named at the kill.
    for (moment, latest, _), (out, _) in zip(notes, outputs[1:]):
        if latest:
            assert f"resuming run after epoch {int(latest.split('-')[1])} (checkpoint {latest}" in out, (moment, out)
        # A kill never damages a checkpoint (best.weights.h5 may be one
        # epoch behind: taken again, with a note).
        assert "skipped checkpoint" not in out and "warning" not in out, out
    print("kills (moment, latest checkpoint, landed mid-write):", notes)
    ref_out, ref_err = reference.communicate(timeout=600)
    assert reference.returncode == 0, ref_err[-3000:]
    return run, tmp_path / "full", notes


def check_killed_run(run, full, epochs):
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))  # every epoch exactly once
    reference = pd.read_csv(full / "history.csv")
    # Every logged value but the throughput (a timing), bit for bit.
    np.testing.assert_array_equal(history.drop(columns="windows_per_s").to_numpy(),
                                  reference.drop(columns="windows_per_s").to_numpy())
    import astromer

    model, expected = astromer.load_model(run / "model.keras"), astromer.load_model(full / "model.keras")
    assert_same_weights(model.get_weights(), expected.get_weights())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == epochs
    assert summary["best_epoch"] == json.loads((full / "summary.json").read_text())["best_epoch"]
    assert not any(name.startswith(".epoch-") for name in os.listdir(run / "checkpoints"))
    # The last checkpoints agree too: dropout streams, best epoch, early stopping.
    last = f"epoch-{epochs:05d}"
    states = [json.loads((r / "checkpoints" / last / "state.json").read_text()) for r in (run, full)]
    for key in ("epoch", "best", "best_epoch", "early_stopping_wait", "early_stopping_best", "seed_states"):
        assert states[0][key] == states[1][key], key


@pytest.mark.slow  # 87 s: three processes of 8 epochs
def test_two_sigkills_then_resume_equal_an_uninterrupted_run(tmp_path, monkeypatch):
    epochs = 8
    run, full, notes = kill_and_resume(tmp_path, monkeypatch, epochs, ["writing", "latest"])
    # The first kill landed while a checkpoint was being written.
    assert notes[0][2], f"the checkpoint was already complete when the kill landed: {notes}"
    check_killed_run(run, full, epochs)


@pytest.mark.slow
def test_five_sigkills_then_resume_equal_an_uninterrupted_run(tmp_path, monkeypatch, request):
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("slow (about 2 minutes on 2 CPU cores): run with -m slow")
    epochs = 12
    run, full, notes = kill_and_resume(tmp_path, monkeypatch, epochs,
                                       ["writing", "latest", "starting", "best", "writing"])
    assert any(note[0] == "writing" and note[2] for note in notes), notes
    check_killed_run(run, full, epochs)
