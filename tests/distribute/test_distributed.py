"""Training over several workers (astromer.distribute): TensorFlow
workers joined by TF_CONFIG and JAX processes joined by a coordinator, all
on 127.0.0.1, compared with one process on the same global batch; four
logical CPUs under MirroredStrategy; a killed worker; bad cluster settings.

Every subprocess runs under a deadline the test sets (killed after it)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from astromer.distribute import cluster, distribution
from astromer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 300  # s, for every group of processes

# A tiny model whose first Adam step is smooth in the gradient (epsilon 1:
# lr * g / (|g| + 1) instead of lr * sign(g)), so that float rounding in
# the all-reduce moves weights by rounding only, and comparisons can fail.
TINY = ["--preset", "a1", "--set", "model.num_layers=1", "--set", "model.num_heads=1", "--set", "model.head_dim=8",
        "--set", "model.ff_dim=8", "--set", "model.window_size=32", "--set", "model.dropout=0.0",
        "--set", "pretraining.learning_rate=0.01", "--set", "pretraining.epsilon=1.0",
        "--set", "pretraining.epochs=2", "--set", "pretraining.patience=5"]
PER_WORKER = 32  # with 2 workers: a global batch of 64, one step per epoch (the shards hold 33-63)

# The command, with TensorFlow importable or not (JAX runs must not need it).
LAUNCH = """import sys
if sys.argv.pop(1) == 'no-tf':
    sys.modules['tensorflow'] = None
from astromer.cli.train import main
code = main(sys.argv[1:])
if sys.modules.get('tensorflow', 0) is None:
    print('TENSORFLOW-BLOCKED')
sys.exit(code)
"""

def one_process_step(table, out, per_worker, workers, overrides):
    """One process, one epoch of one step (Keras' fit, as the workers run
    it) on the global batch that the workers' first batches make together:
    saves the loss and the weights before and after to `out` (.npz)."""
    import keras

    from astromer.core.factory import build_pretrainer, make_optimizer, resolve_config
    from astromer.preprocessing.pretraining import PretrainingPreprocessor
    from astromer.preprocessing.pretraining_data import DataEpoch, PretrainingData

    config = resolve_config("a1", overrides)
    data = PretrainingData.open(table, config, verbose=False, write_records=False)
    keras.utils.set_random_seed(int(config["pretraining"]["seed"]))
    model = build_pretrainer(config)
    model.compile(make_optimizer(config["pretraining"]), jit_compile=False)
    pipeline = PretrainingPreprocessor.from_preset(config, model.backbone)

    def join(*parts):
        return keras.tree.map_structure(lambda *a: keras.ops.concatenate(a, axis=0), *parts)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        from astromer.data.tf_dataset import tf_dataset

        shards = [tf_dataset(data.train, pipeline, per_worker, epochs=1, shard=(k, workers), steps_per_epoch=1)[0]
                  for k in range(workers)]
        batches = tf.data.Dataset.zip(tuple(shards)).map(join)
    else:
        from astromer.data.datasets import NumpyWindowDataset

        class Together(keras.utils.PyDataset):
            # The processes' datasets, batch by batch, epoch by epoch.
            def __init__(self, parts):
                super().__init__()
                self.parts = parts

            def __len__(self):
                return 1

            def __getitem__(self, index):
                return keras.tree.map_structure(np.asarray, join(*(p[index] for p in self.parts)))

            def set_epoch(self, epoch):
                for p in self.parts:
                    p.set_epoch(epoch)

        batches = Together([NumpyWindowDataset(data.train.shard(k, workers), pipeline, per_worker, steps=1)
                            for k in range(workers)])
    # As training does: the draws of fit's epoch.
    callbacks = [DataEpoch(batches)] if hasattr(batches, "set_epoch") else []
    before = [np.asarray(w) for w in model.get_weights()]
    loss = model.fit(batches, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0,
                     callbacks=callbacks).history["loss"][0]
    after = [np.asarray(w) for w in model.get_weights()]
    np.savez(out, loss=loss, n=len(after), **{f"before{i}": w for i, w in enumerate(before)},
             **{f"after{i}": w for i, w in enumerate(after)})


REFERENCE = """import json, sys
from tests.distribute.test_distributed import one_process_step
one_process_step(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]))
"""


def free_ports(count):
    """Ports free now (the OS picks them), for one group of processes."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from astromer.data.demo import simulate_table

    path = tmp_path_factory.mktemp("table") / "small.parquet"
    return str(simulate_table(path, 100, seed=3, min_obs=20, max_obs=120))


def environment(backend, **extra):
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend,
                JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="", **extra)


class Group:
    """Processes started together, each with its log file, all killed when
    the deadline passes."""

    def __init__(self, folder, name):
        self.folder, self.name, self.procs = Path(folder), name, []
        (self.folder / "launch.py").write_text(LAUNCH)

    def start(self, args, env, tensorflow=True):
        index = len(self.procs)
        log = open(self.folder / f"{self.name}{index}.log", "w")
        command = [sys.executable, str(self.folder / "launch.py"), "tf" if tensorflow else "no-tf", *args]
        self.procs.append((subprocess.Popen(command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT),
                           log))
        return self.procs[-1][0]

    def log(self, index):
        return (self.folder / f"{self.name}{index}.log").read_text()

    def wait(self, timeout=DEADLINE):
        deadline, codes = time.monotonic() + timeout, []
        try:
            for proc, log in self.procs:
                codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
                log.close()
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name}: a process was still running after {timeout} s:\n" +
                        "\n".join(self.log(i)[-2000:] for i in range(len(self.procs))))
        return codes

    def kill(self):
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()


def reference(tmp_path, table, backend, overrides, per_worker=PER_WORKER, workers=2):
    """`one_process_step` on `backend`: here when it is this process's,
    else in a process of its own."""
    import keras

    out = tmp_path / "reference.npz"
    if keras.backend.backend() == backend:
        one_process_step(table, out, per_worker, workers, overrides)
        return np.load(out)
    script = tmp_path / "reference.py"
    script.write_text(REFERENCE)
    done = subprocess.run([sys.executable, str(script), table, str(out), str(per_worker), str(workers),
                           json.dumps(overrides)], cwd=tmp_path, env=environment(backend), capture_output=True,
                          text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return np.load(out)


def overrides_of(args):
    return [args[i + 1] for i, a in enumerate(args) if a == "--set"]


def check_equals_one_process(run, ref):
    """The chief's first epoch (one step) against one process's step."""
    import astromer

    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    np.testing.assert_allclose(history["loss"].iloc[0], float(ref["loss"]), rtol=2e-5)
    after = astromer.load_model(run / "checkpoints" / "epoch-00001" / "model.keras").get_weights()
    assert len(after) == int(ref["n"])
    moved = max(float(np.abs(ref[f"after{i}"] - ref[f"before{i}"]).max()) for i in range(len(after)))
    error = max(float(np.abs(np.asarray(w) - ref[f"after{i}"]).max()) for i, w in enumerate(after))
    print(f"one step moved the weights by up to {moved:.3g}; workers vs one process: {error:.3g}")
    assert moved > 1e-3 and error < 2e-6, (moved, error)
    final = astromer.load_model(run / "model.keras")
    assert type(final).__name__ == "Pretrainer" and final.backbone.window_size == 32


@pytest.mark.slow  # 89 CPU-s: three TensorFlow processes
def test_two_tensorflow_workers_equal_one_process(tmp_path, table):
    pytest.importorskip("tensorflow")
    ports = free_ports(2)
    args = [*TINY, "--data", table, "--out", "run", "--quiet", "--global-batch", str(2 * PER_WORKER)]
    group = Group(tmp_path, "worker")
    for index in range(2):
        group.start(args, environment("tensorflow", TF_CONFIG=tf_config(ports, index)))
    ref = reference(tmp_path, table, "tensorflow", overrides_of(TINY))
    codes = group.wait()
    assert codes == [0, 0], [group.log(i)[-3000:] for i in range(2)]
    assert "written by worker 0" in group.log(1) and "written by worker 0" not in group.log(0)
    run = tmp_path / "run"
    check_equals_one_process(run, ref)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and set(summary["test"]) == {"loss", "rmse", "r2"}
    # Only the chief wrote: no worker's temporary folder is left, nothing else in the run.
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["backbone.weights.h5", "best.weights.h5", "checkpoints", "config.yaml", "history.csv",
         "learning_curves.png", "model.keras", "summary.json", "tensorboard"])


@pytest.mark.slow  # 92 CPU-s: three JAX processes
def test_two_jax_processes_equal_one_process(tmp_path, table):
    pytest.importorskip("jax")
    port = free_ports(1)[0]
    group = Group(tmp_path, "process")
    for index in range(2):
        group.start([*TINY, "--data", table, "--out", "run", "--quiet", "--set",
                     f"pretraining.batch_size={PER_WORKER}", "--coordinator", f"127.0.0.1:{port}",
                     "--num-processes", "2", "--process-id", str(index)], environment("jax"), tensorflow=False)
    ref = reference(tmp_path, table, "jax", overrides_of(TINY))
    codes = group.wait()
    assert codes == [0, 0], [group.log(i)[-3000:] for i in range(2)]
    assert all("TENSORFLOW-BLOCKED" in group.log(i) for i in range(2))
    check_equals_one_process(tmp_path / "run", ref)


MIRRORED = """import json, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)
import astromer
from astromer.core.factory import resolve_config
from astromer.distribute import make_distribution
from astromer.training import loop
from astromer.preprocessing.pretraining_data import PretrainingData
config = resolve_config('a1', json.loads(sys.argv[1]), demo=True)
config['run'] = {'global_batch': 16}
config['demo'] = {'light_curves': 64, 'seed': 1}  # 51 training light curves: 3 steps of 16
results = {}
for kind in ('mirrored', 'none'):
    data = PretrainingData.open(None, config, verbose=False, write_records=False)
    distribution = make_distribution(kind)
    loop.pretrain(config, data, kind, verbose=0, distribution=distribution)
    weights = astromer.load_model(f'{kind}/checkpoints/epoch-00001/model.keras').get_weights()
    history = json.load(open(f'{kind}/summary.json'))
    results[kind] = (distribution.replicas, history['final']['loss'], weights)
(r4, loss4, w4), (r1, loss1, w1) = results['mirrored'], results['none']
error = max(float(np.abs(a - b).max()) for a, b in zip(w4, w1))
print('MIRRORED', r4, r1, loss4, loss1, error)
assert (r4, r1) == (4, 1)
assert abs(loss4 - loss1) < 2e-5 * abs(loss1), (loss4, loss1)
assert error < 5e-6, error
"""


@pytest.mark.slow  # 55 CPU-s
def test_mirrored_strategy_four_cpus_equal_one_device(tmp_path):
    # Three steps (one epoch) through `pretrain`: 4 replicas of 4 windows
    # against one device with the same 16 (the input pipeline batches the
    # global batch; the strategy splits it).
    pytest.importorskip("tensorflow")
    overrides = [*overrides_of(TINY), "pretraining.epochs=1", "pretraining.warmup_steps=0"]
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    out = subprocess.run([sys.executable, str(script), json.dumps(overrides)], cwd=tmp_path,
                         env=environment("tensorflow"), capture_output=True, text=True, timeout=DEADLINE)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    print(out.stdout.strip().splitlines()[-1])
    assert "MIRRORED 4 1" in out.stdout


def test_cluster_settings_are_checked_before_anything_starts():
    bad = {
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}': "task.index 2",
        '{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}': "['a:1'] more than once",
        '{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}': "cluster.worker[0] 'a'",
        '{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}': "job(s) ['ps']",
        '{"cluster": {"worker": ["a:1"]}}': 'no "task" object',
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}': "task.type 'chief'",
        "{'cluster': 1}": "not valid JSON",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError) as error:
            cluster.parse_tf_config(text)
        assert message in str(error.value), (text, str(error.value))
    parsed = cluster.parse_tf_config(
        '{"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert (parsed.count, parsed.index, parsed.chief, parsed.leader) == (3, 2, False, "c:1")
    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h:7,g:8", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
           "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    parsed = cluster.jax_cluster(environ=env)
    assert (parsed.count, parsed.index, parsed.leader) == (2, 1, "h:7")
    assert cluster.jax_cluster(environ={"SLURM_JOB_ID": "5", "SLURM_NTASKS": "4", "SLURM_PROCID": "3"}).index == 3
    assert not cluster.jax_cluster(environ={"SLURM_JOB_ID": "5", "SLURM_NTASKS": "1"}).multi
    for kwargs, message in (({"coordinator": "h:1", "num_processes": "2"}, "--process-id is not"),
                            ({"coordinator": "h:1", "num_processes": "2", "process_id": "2"}, "not a process of 2"),
                            ({"coordinator": "h", "num_processes": "2", "process_id": "0"}, "'h' is not an address"),
                            ({"coordinator": "h:1", "num_processes": "two", "process_id": "0"}, "'two' is not")):
        with pytest.raises(ConfigError) as error:
            cluster.jax_cluster(environ={}, **kwargs)
        assert message in str(error.value), (kwargs, str(error.value))
    from astromer.distribute import Distribution

    two = Distribution("multiworker", None, 2, cluster.Cluster("tf_config", 2, 0))
    with pytest.raises(ConfigError, match=r"--global-batch 63 does not divide among the 2 replicas .* e.g. 62 or 64"):
        two.split_batch(63)
    assert two.split_batch(64) == 32


def run_command(tmp_path, args, env, tensorflow=True, timeout=120):
    script = tmp_path / "launch.py"
    script.write_text(LAUNCH)
    return subprocess.run([sys.executable, str(script), "tf" if tensorflow else "no-tf", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # 23 CPU-s: a process per case
def test_bad_cluster_settings_are_one_line_errors(tmp_path, table):
    args = [*TINY, "--data", table, "--out", "run", "--quiet"]
    start = time.monotonic()
    out = run_command(tmp_path, args, environment("tensorflow", TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:1"]'))
    assert out.returncode == 2 and "TF_CONFIG is not valid JSON" in out.stderr, out.stderr[-2000:]
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    ports = free_ports(2)
    out = run_command(tmp_path, [*args, "--global-batch", "33"],
                      environment("tensorflow", TF_CONFIG=tf_config(ports, 0)))
    assert out.returncode == 2 and "--global-batch 33 does not divide among the 2 workers" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    # A coordinator that never comes (TensorFlow: the first task of
    # TF_CONFIG; JAX: --coordinator): named, within the timeout.
    out = run_command(tmp_path, [*args, "--cluster-timeout", "2"],
                      environment("tensorflow", TF_CONFIG=tf_config(ports, 1)))
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"first task (coordination service) at 127.0.0.1:{ports[0]} cannot be reached" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    port = free_ports(1)[0]
    out = run_command(tmp_path, [*args, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                                 "--process-id", "1", "--cluster-timeout", "3"], environment("jax"), tensorflow=False)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"coordinator (--coordinator=127.0.0.1:{port}) at 127.0.0.1:{port} cannot be reached" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
    print(f"four bad settings answered in {time.monotonic() - start:.1f} s")


def start_cluster(group, args, backend):
    """Two workers of `backend` running `args`, joined on free ports."""
    ports = free_ports(2)
    procs = []
    for i in range(2):
        if backend == "tensorflow":
            procs.append(group.start(args, environment(backend, TF_CONFIG=tf_config(ports, i))))
        else:
            procs.append(group.start([*args, "--coordinator", f"127.0.0.1:{ports[0]}", "--num-processes", "2",
                                      "--process-id", str(i)], environment(backend), tensorflow=False))
    return procs


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_killed_worker_stops_the_others_and_all_resume(tmp_path, table, backend):
    pytest.importorskip(backend)
    epochs = 12
    args = [*TINY, "--set", f"pretraining.epochs={epochs}", "--set", "pretraining.patience=100", "--data", table,
            "--out", "run", "--quiet", "--global-batch", "16"]
    group = Group(tmp_path, "worker")
    procs = start_cluster(group, args, backend)
    latest = tmp_path / "run" / "checkpoints" / "latest"
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and not (latest.exists() and latest.read_text().strip() >= "epoch-00003"):
        assert all(p.poll() is None for p in procs), [group.log(i)[-2000:] for i in range(2)]
        time.sleep(0.1)
    time.sleep(0.3)  # mid-epoch
    procs[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    codes = group.wait(timeout=150)
    stopped_after = time.monotonic() - killed
    assert codes[0] == distribution.WORKER_LOST_EXIT, group.log(0)[-3000:]
    last = group.log(0).strip().splitlines()[-1]
    assert last.startswith("astromer-train: error: worker 0 of 2: another worker stopped answering"), last
    done = int(latest.read_text().strip().split("-")[1])
    assert f"after epoch {done}" in last and "--resume" in last and done < epochs
    print(f"{backend}: the chief stopped {stopped_after:.1f} s after the kill, after epoch {done}")
    # Both again with --resume: from the last complete epoch to the end.
    again = Group(tmp_path, "resumed")
    start_cluster(again, ["--out", "run", "--resume", "--quiet", "--global-batch", "16"], backend)
    codes = again.wait()
    assert codes == [0, 0], [again.log(i)[-3000:] for i in range(2)]
    assert all(f"resuming run after epoch {done}" in again.log(i) for i in range(2))
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))
    # A worker that cannot see the chief's checkpoints (its --out is not the
    # shared folder): every worker refuses to start, saying what each found.
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(tmp_path / "run" / "config.yaml", tmp_path / "elsewhere")
    apart = Group(tmp_path, "apart")
    ports = free_ports(2)
    for i, out in enumerate(("run", "elsewhere")):
        common = ["--out", out, "--resume", "--quiet", "--global-batch", "16"]
        if backend == "tensorflow":
            apart.start(common, environment(backend, TF_CONFIG=tf_config(ports, i)))
        else:
            apart.start([*common, "--coordinator", f"127.0.0.1:{ports[0]}", "--num-processes", "2",
                         "--process-id", str(i)], environment(backend), tensorflow=False)
    assert apart.wait() == [2, 2], [apart.log(i)[-2000:] for i in range(2)]
    for i in range(2):
        assert (f"the workers do not find the same checkpoint in {('run', 'elsewhere')[i]} (worker 0: epoch "
                f"{epochs}, worker 1: no checkpoint)") in apart.log(i)
