from collections import defaultdict

import numpy as np
import pytest

from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves, inference_windows
from astromer.preprocessing import PretrainingPreprocessor
from astromer.data.lightcurves import LightCurve
from tests.conftest import shared_path
from tests.harness import ROOT, run_cli, run_fresh
INPUTS = ("magnitudes", "times", "errors", "padding_mask", "hidden_mask")


def oracle_packed(raw_light_curves):
    return PackedLightCurves.from_light_curves(
        LightCurve(i, a[:, 0], a[:, 1], a[:, 2]) for i, a in raw_light_curves.items()
    )


def by_target(batches):
    """Windows keyed by their target magnitudes and errors (unique here)."""
    out = {}
    for x, y in batches:
        for i in range(len(y["magnitudes"])):
            key = y["magnitudes"][i].tobytes() + x["errors"][i].tobytes()
            out[key] = ({k: v[i] for k, v in x.items()}, {k: v[i] for k, v in y.items()})
    return out


def assert_same_windows(a, b):
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        for part in (0, 1):
            for name in a[key][part]:
                np.testing.assert_array_equal(a[key][part][name], b[key][part][name], err_msg=name)


@pytest.mark.parametrize("mode", ["pretrain", "eval", "inference"])
def test_numpy_and_tf_paths_give_identical_windows(raw_light_curves, mode):
    tf = pytest.importorskip("tensorflow")
    from astromer.data.tf_dataset import tf_dataset

    packed = oracle_packed(raw_light_curves)
    config = PretrainingPreprocessor(input_names=INPUTS, seed=7)
    for epoch in (0, 3):
        numpy_path = NumpyWindowDataset(packed, config, batch_size=4, mode=mode, initial_epoch=epoch)
        tf_path, steps = tf_dataset(packed, config, 4, mode=mode, epochs=epoch + 1, initial_epoch=epoch)
        ours = by_target(numpy_path[i] for i in range(len(numpy_path)))
        theirs = by_target(tf_path.as_numpy_iterator())
        if mode == "inference":
            assert len(ours) == len(inference_windows(packed, config))
        else:
            assert steps == len(numpy_path) == (18 // 4 if mode == "pretrain" else 5)
        if mode == "pretrain":
            # drop_remainder: the two paths batch differently, so compare
            # the windows both produced
            common = ours.keys() & theirs.keys()
            assert len(common) >= 10
            ours = {k: ours[k] for k in common}
            theirs = {k: theirs[k] for k in common}
        assert_same_windows(ours, theirs)
    assert tf.data  # static shapes in training:
    ds, _ = tf_dataset(packed, config, 4, mode="pretrain", epochs=1)
    assert all(spec.shape.as_list() == [4, 200] for spec in ds.element_spec[0].values())


def test_fresh_masks_each_epoch_and_exact_resume(raw_light_curves):
    packed = oracle_packed(raw_light_curves)
    config = PretrainingPreprocessor(input_names=INPUTS)
    data = NumpyWindowDataset(packed, config, batch_size=6)
    first = [data[i] for i in range(len(data))]
    data.on_epoch_end()
    second = [data[i] for i in range(len(data))]
    assert not np.array_equal(first[0][1]["probe_mask"], second[0][1]["probe_mask"])
    resumed = NumpyWindowDataset(packed, config, batch_size=6, initial_epoch=1)
    for (x1, y1), (x2, y2) in zip(second, (resumed[i] for i in range(len(resumed)))):
        for k in x1:
            np.testing.assert_array_equal(x1[k], x2[k])
        np.testing.assert_array_equal(y1["probe_mask"], y2["probe_mask"])
    # eval windows do not change between epochs
    val = NumpyWindowDataset(packed, config, batch_size=6, mode="eval")
    before = val[0]
    val.on_epoch_end()
    np.testing.assert_array_equal(before[1]["probe_mask"], val[0][1]["probe_mask"])


def test_pretraining_windows_are_random_200_obs_cuts(raw_light_curves):
    packed = oracle_packed(raw_light_curves)
    config = PretrainingPreprocessor(input_names=INPUTS)
    starts = defaultdict(set)
    lengths = dict(zip(packed.ids, packed.lengths))
    for epoch in range(30):
        data = NumpyWindowDataset(packed, config, batch_size=18, initial_epoch=epoch, mode="pretrain")
        x, y = data[0]
        n_real = (1 - x["padding_mask"]).sum(1)
        order = data._order()
        for row, i in enumerate(order):
            assert n_real[row] == min(200, lengths[packed.ids[i]])
            # find the start from the first real time (times centred per window)
            starts[packed.ids[i]].add(float(x["times"][row][0] - x["times"][row][1]))
    assert len(starts["macho_1.3444.614"]) > 10  # many different cuts of the 722-point curve
    assert len(starts["syn_00"]) == 1  # a 30-point curve is always the whole curve


def test_compatibility_mode_reproduces_main_code_inference_windows(pipeline_oracle):
    from astromer.data.records import read_records

    lcs = sorted(read_records(shared_path("oracles", "records_a2_maincode")), key=lambda lc: lc.id)
    packed = PackedLightCurves.from_light_curves(lcs)
    config = PretrainingPreprocessor(window_mode="original", float32_first=True, input_names=INPUTS)
    data = NumpyWindowDataset(packed, config, batch_size=64, mode="inference")
    x, y = data[0]
    pairs = [
        (x["magnitudes"], "inf_input"), (x["times"], "inf_times"), (x["padding_mask"], "inf_mask_in"),
        (y["magnitudes"], "inf_target"), (y["probe_mask"], "inf_mask_out"),
    ]
    for ours, key in pairs:
        np.testing.assert_array_equal(ours, pipeline_oracle[key][..., 0], err_msg=key)
    np.testing.assert_allclose(y["loss_weight"], pipeline_oracle["inf_w_error"][..., 0], atol=1e-6)
    tf = pytest.importorskip("tensorflow")
    from astromer.data.tf_dataset import tf_dataset

    ds, _ = tf_dataset(packed, config, 64, mode="inference")
    tx, ty = next(ds.as_numpy_iterator())
    for k in x:
        np.testing.assert_array_equal(tx[k], x[k])
    for k in y:
        np.testing.assert_array_equal(ty[k], y[k])
    assert tf


def test_compatibility_mode_reproduces_a1_library_record_windows():
    pytest.importorskip("tensorflow")
    from astromer.data.records import read_records

    oracle = np.load(shared_path("oracles", "data_pipeline_a1lib_readback.npz"))
    lcs = list(read_records(shared_path("oracles", "records_a1_pylib", "train")))
    packed = PackedLightCurves.from_light_curves(lcs)
    config = PretrainingPreprocessor(window_mode="original", float32_first=True, input_names=INPUTS)
    x, _ = NumpyWindowDataset(packed, config, batch_size=64, mode="inference")[0]
    windows = inference_windows(packed, config)
    position, seen = {}, defaultdict(int)
    for row, i in enumerate(windows[:, 0]):
        position[(packed.ids[i], seen[packed.ids[i]])] = row
        seen[packed.ids[i]] += 1
    seen = defaultdict(int)
    for j, oid in enumerate(oracle["id"]):
        row = position[(str(oid), seen[str(oid)])]
        seen[str(oid)] += 1
        np.testing.assert_array_equal(x["magnitudes"][row], oracle["input"][j, :, 0])
        np.testing.assert_array_equal(x["times"][row], oracle["times"][j, :, 0])
        np.testing.assert_array_equal(x["padding_mask"][row], oracle["mask_in"][j, :, 0])


def _fit_on_jax_with_tensorflow_blocked():
    """(run by run_fresh: the backend is per process) Two epochs of a tiny
    model on the NumPy input path with every TensorFlow import refused;
    the losses, and whether TensorFlow was loaded."""
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError("TensorFlow is blocked in this test")

    sys.meta_path.insert(0, Block())
    import keras
    import numpy as np

    assert keras.backend.backend() == "jax"
    from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves
    from astromer.data.lightcurves import iter_light_curves
    from astromer.preprocessing import PretrainingPreprocessor
    from tests.harness import tiny_pretrainer

    rng = np.random.default_rng(0)
    lcs = [np.stack([np.sort(rng.uniform(0, 100, 80)), rng.normal(size=80), np.full(80, .1)], 1) for _ in range(16)]
    packed = PackedLightCurves.from_light_curves(iter_light_curves(lcs))
    model = tiny_pretrainer(32)
    config = PretrainingPreprocessor(window_size=32, input_names=model.backbone.input_names)
    model.compile("adam")
    h = model.fit(NumpyWindowDataset(packed, config, batch_size=8), epochs=2, verbose=0)
    return {"loss": h.history["loss"], "tensorflow": "tensorflow" in sys.modules}


@pytest.mark.slow  # 16 CPU-s: a JAX process
def test_numpy_path_trains_on_jax_without_tensorflow():
    out = run_fresh(_fit_on_jax_with_tensorflow_blocked, env={"KERAS_BACKEND": "jax"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.value["tensorflow"] is False and len(out.value["loss"]) == 2, out.value


def test_bench_data_command_prints_json():
    import json

    from astromer.cli.bench import main as bench

    out = run_cli(bench, ["data", "--light-curves", "60", "--batch", "16", "--steps", "3", "--warmup", "1",
                          "--threads", "1"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert {r["path"] for r in rows} == {"tf.data", "numpy"}
    assert all(r["windows_per_s"] > 0 and r["batch"] == 16 for r in rows)
