"""What a command writes when its output goes to a file (a batch job's
log): plain lines, no ANSI codes, no redraws, a bounded number of progress
lines; and nothing from the frameworks' start-up, on every backend."""

import io
import re
import sys
import time

import pandas as pd
import pytest

from tests.conftest import shared_path
from tests.harness import run_fresh, run_process, tiny_preset

CONTROL = re.compile(r"[\x1b\r\b]")


def test_progress_to_a_file_is_plain_lines_at_most_one_per_interval(monkeypatch):
    from astromer import progress

    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.5)
    monkeypatch.setattr(progress, "DELAY_S", 0.2)
    start = time.time()
    bar = progress.progress(total=300, unit="light curves", desc="embedding")
    for _ in range(300):
        time.sleep(0.01)
        bar.update(1)
        bar.set_postfix_str("rows 1,000", refresh=False)
    bar.close()
    elapsed = time.time() - start
    text = log.getvalue()
    assert not CONTROL.search(text), repr(text[:300])
    lines = text.splitlines()
    # One line per 0.5 s at most, plus the final one (300 updates otherwise).
    assert 2 <= len(lines) <= elapsed / 0.5 + 2, lines
    assert all(line.startswith("embedding: ") for line in lines), lines
    assert "300/300" in lines[-1] and "rows 1,000" in lines[-1]
    assert len(set(lines)) == len(lines)  # the final line once

    # Quick work (under DELAY_S) writes nothing; work of unknown length counts.
    log.truncate(0), log.seek(0)
    for _ in progress.progress(range(5)):
        pass
    assert log.getvalue() == ""
    with progress.progress(unit="fits") as bar:
        time.sleep(0.3)
        bar.update(7)
    assert log.getvalue().splitlines()[-1].startswith("7 fits [")


def test_keras_fit_to_a_file_gives_one_line_per_epoch(capsys):
    import keras
    import numpy as np

    from astromer.progress import keras_verbose

    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=1)
    # Keras redraws its bar with ANSI codes even into a file (it takes any
    # POSIX system for a terminal): what keras_verbose avoids.
    assert CONTROL.search(capsys.readouterr().out)
    assert keras_verbose(1) == 2 and keras_verbose(0) == 0
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=keras_verbose(1))
    out = capsys.readouterr().out
    assert not CONTROL.search(out), repr(out)
    lines = out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "8/8", "Epoch 2/2", "8/8"], lines

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert keras_verbose(1, Terminal()) == 1


@pytest.mark.slow  # 150 s on 2 busy cores
def test_training_log_has_no_redraws(tmp_path):
    preset = tiny_preset(tmp_path, epochs=2, light_curves=80)
    # the command must silence TensorFlow itself
    out = run_process("astromer.cli.train", ["--preset", preset, "--out", "run"], cwd=tmp_path,
                      env={"TF_CPP_MIN_LOG_LEVEL": None})
    assert out.returncode == 0, out.stderr[-3000:]
    assert not CONTROL.search(out.stdout + out.stderr), repr((out.stdout + out.stderr)[:2000])
    epochs = [line for line in out.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs == ["Epoch 1/2", "Epoch 2/2"], out.stdout
    assert len(out.stdout.splitlines()) < 40, out.stdout


def _start_jax_then_tensorflow():
    """(run by run_fresh: start-up lines are a process's) The commands'
    JAX start-up, then TensorFlow imported late; a value from each and
    TensorFlow's loader."""
    from astromer.cli.startup import start_frameworks

    start_frameworks()
    import jax.numpy as jnp
    import tensorflow as tf  # as reading an original checkpoint or TFRecords does

    return [float(jnp.ones(3).sum()), float(tf.constant(2.0).numpy()), tf.__loader__.__class__.__name__]


def test_jax_start_up_and_a_late_tensorflow_import_are_silent(tmp_path):
    pytest.importorskip("jax")
    out = run_fresh(_start_jax_then_tensorflow, cwd=tmp_path,
                    env={"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": None}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # TensorFlow itself, loaded as usual (the hook only held stderr).
    assert out.value == [3.0, 2.0, "SourceFileLoader"]
    assert out.stderr == ""


@pytest.mark.slow  # 24 CPU-s: a JAX process
def test_jax_embedding_writes_only_its_own_lines(tmp_path):
    """Under JAX the original checkpoint is read with TensorFlow, loaded late:
    its absl/CUDA start-up lines must not reach stderr either."""
    pytest.importorskip("jax")
    weights = shared_path("weights", "astromer1-macho")
    table = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    ids = table["id"].drop_duplicates().iloc[:5]
    table[table["id"].isin(ids) & (table["band"] == "EROS_R")].to_parquet(tmp_path / "five.parquet")
    out = run_process("astromer.cli.embed", ["--weights", weights, "--data", "five.parquet", "--out", "e.parquet"],
                      cwd=tmp_path, env={"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": None})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "wrote 5 embeddings of size 256" in out.stdout
    # Only the progress lines, plain (absl wrote "WARNING: All log messages
    # before absl::InitializeLog() ..." and "Could not find cuda drivers").
    assert all(line.startswith("embedding: ") for line in out.stderr.splitlines()), out.stderr
    assert not CONTROL.search(out.stderr), repr(out.stderr)
