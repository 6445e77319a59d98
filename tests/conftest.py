"""Fixtures and paths every test file may use: ../shared and its oracles,
the published models, a tiny saved model. Builders and runners are in
tests/harness.py.

`ASTROMER_TEST_TIMES=FILE` appends one line per test to FILE: its id, wall
seconds and CPU seconds (this process and its children): on a busy
machine the CPU time still tells which tests are slow (README, "Tests").
"""

import os
import resource
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import keras  # noqa: E402

SHARED = Path(
    os.environ.get("ASTROMER_SHARED", Path(__file__).resolve().parents[1].parent / "shared")
)


def shared_path(*parts):
    """A path under ../shared; skips the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (set ASTROMER_SHARED)")
    return path


def backend():
    return keras.backend.backend()


def to_numpy(x, dtype=None):
    """Any backend's tensor (or array-like) as a NumPy array; on PyTorch
    `np.asarray` fails on tensors that require grad."""
    array = keras.ops.convert_to_numpy(x)
    return array.astype(dtype) if dtype is not None else array


def requires_tensorflow_backend():
    if backend() != "tensorflow":
        pytest.skip("TensorFlow backend only")


def as_inputs(magnitudes, times, padding_mask, hidden_mask=None):
    """Oracle arrays (N, L, 1) -> model input dict of (N, L) float32."""
    squeeze = lambda a: np.asarray(a, np.float32).reshape(np.shape(a)[0], -1)  # noqa: E731
    pad = squeeze(padding_mask)
    return {
        "magnitudes": squeeze(magnitudes),
        "times": squeeze(times),
        "padding_mask": pad,
        "hidden_mask": np.zeros_like(pad) if hidden_mask is None else squeeze(hidden_mask),
    }


def report_errors(name, actual, expected):
    """Max and 99.9th-percentile absolute error, printed for the test log."""
    err = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
    stats = (float(err.max()), float(np.quantile(err, 0.999)))
    print(f"{name}: max abs err {stats[0]:.3g}, p99.9 {stats[1]:.3g} ({backend()} backend)")
    return stats


@pytest.fixture(scope="session")
def a1_oracle():
    return np.load(shared_path("oracles", "a1_macho_oracle.npz"))


@pytest.fixture(scope="session")
def a2_oracle():
    return np.load(shared_path("oracles", "a2_outputs.npz"))


@pytest.fixture(scope="session")
def pipeline_oracle():
    return np.load(shared_path("oracles", "data_pipeline_oracle.npz"))


@pytest.fixture(scope="session")
def raw_light_curves():
    raw = np.load(shared_path("oracles", "lightcurves_raw.npz"))
    return {str(i): raw[f"lc__{i}"] for i in raw["ids"]}


@pytest.fixture(scope="session")
def a1_model():
    from astromer.models.pretrainer import Pretrainer

    return Pretrainer.from_original_checkpoint(str(shared_path("weights", "astromer1-macho")))


@pytest.fixture(scope="session")
def a2_model():
    from astromer.models.pretrainer import Pretrainer

    return Pretrainer.from_original_checkpoint(str(shared_path("oracles", "a2_ckpt")))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny Pretrainer (tests.harness.tiny_pretrainer, seed 0) saved as
    a .keras file: its path."""
    from tests.harness import tiny_pretrainer

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_pretrainer(16, seed=0).save(path)
    return str(path)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    log = os.environ.get("ASTROMER_TEST_TIMES")
    if not log:
        yield
        return
    wall, cpu = time.perf_counter(), _cpu_seconds()
    yield
    with open(log, "a") as f:
        f.write(f"{item.nodeid}\t{time.perf_counter() - wall:.2f}\t{_cpu_seconds() - cpu:.2f}\n")
