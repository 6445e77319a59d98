"""astromer-export: ONNX files with the light-curve hub's interface, checked
under onnxruntime against the Keras model with `LIMITS`, with the
preprocessor that makes their inputs saved in them (docs/export.md)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import requires_tensorflow_backend, shared_path

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

from astromer.export import LIMITS  # noqa: E402
from tests.harness import ROOT, process_env, tiny_backbone


def run_export(args, cwd):
    """`astromer-export ARGS` in a fresh process, as a user types it."""
    script = Path(sys.executable).with_name("astromer-export")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "astromer.cli.export"]
    return subprocess.run(command + list(args), cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=process_env())


@pytest.fixture(scope="module")
def a1_onnx(tmp_path_factory):
    """docs/export.md's first command on the published weights."""
    requires_tensorflow_backend()
    weights = shared_path("weights", "astromer1-macho")
    folder = tmp_path_factory.mktemp("a1")
    return folder, run_export(["--weights", str(weights), "--out", "astromer1.onnx"], cwd=folder)


def test_docs_state_the_limits_the_command_uses():
    text = (ROOT / "docs" / "export.md").read_text()
    found = re.search(r"limits: `mean` ([0-9.e+-]+), `max` and `sequence` ([0-9.e+-]+)", text)
    assert found, "docs/export.md must state the limits"
    assert (float(found[1]), float(found[2])) == (LIMITS.mean, LIMITS.steps)


@pytest.mark.slow  # 21 CPU-s with the a1_onnx export
def test_the_documented_command_exports_the_published_a1(a1_onnx):
    folder, result = a1_onnx
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(folder)) == ["astromer1.onnx"]  # no temporary file left beside it
    report = result.stdout.strip().splitlines()[-1]
    diffs = dict(re.findall(r"(mean|max|sequence) ([0-9.]+e[+-]\d+)", report))
    assert sorted(diffs) == ["max", "mean", "sequence"], report
    for name, value in diffs.items():
        # within the limits, and not zero: the check compared two evaluations
        assert 0 < float(value) <= LIMITS.of(name), report
    assert f"limits {LIMITS.describe()}" in report
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / "astromer1.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input", "times", "mask_in"]
    assert session.get_inputs()[0].shape[1:] == [200, 1]  # dynamic batch
    assert sorted(o.name for o in session.get_outputs()) == ["max", "mean", "sequence"]


@pytest.mark.slow
def test_a_failed_check_is_a_user_error_and_leaves_no_file(tmp_path):
    requires_tensorflow_backend()
    weights = shared_path("weights", "astromer1-macho")
    # A1's single steps differ by about 3e-4 between onnxruntime and Keras.
    result = run_export(["--weights", str(weights), "--out", "exports/astromer1.onnx", "--atol-steps", "1e-6"],
                        cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("astromer-export: error: "), result.stderr[-3000:]
    assert "sequence" in errors[0] and "> 1e-06" in errors[0] and "nothing was written" in errors[0]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert os.listdir(tmp_path) == []  # neither the file, a temporary one, nor the folder made for it


def eros_table(count, band="EROS_R"):
    """The first `count` EROS-1 light curves of `band` (id, time, mag, err)."""
    table = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    table = table[table["band"] == band].drop(columns="band")
    return table[table["id"].isin(table["id"].drop_duplicates().iloc[:count])]


def hub_windows(table, cleaning, **windowing):
    """Every window of `table` in the hub's format, and the id of each."""
    from astromer.data.cleaning import CleaningConfig, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves
    from astromer.data.windows import sequential_windows

    ids, parts = [], []
    for lc in clean_light_curves(iter_light_curves(table), CleaningConfig.from_dict(cleaning)):
        parts.append(sequential_windows(lc.as_array(), 200, **windowing))
        ids += [lc.id] * len(parts[-1]["starts"])
    stack = {k: np.concatenate([p[k] for p in parts]) for k in ("magnitudes", "times", "padding_mask")}
    return ids, {"input": stack["magnitudes"][..., None], "times": stack["times"][..., None],
                 "mask_in": (1.0 - stack["padding_mask"])[..., None]}


def onnx_outputs(path, windows):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: windows[i.name].astype(np.float32) for i in session.get_inputs()}
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))


@pytest.mark.slow  # 23 CPU-s
def test_published_a1_onnx_matches_keras_on_eros(a1_onnx):
    folder, result = a1_onnx
    assert result.returncode == 0, result.stderr[-3000:]
    import keras

    import astromer
    from astromer.export import check_onnx, hub_model

    model = astromer.load_model(shared_path("weights", "astromer1-macho"))
    hub = hub_model(model.backbone)
    # the hub's convention: windows centred in float64
    _, windows = hub_windows(eros_table(100), {"min_observations": 1})
    assert len(windows["input"]) >= 100
    diffs = check_onnx(folder / "astromer1.onnx", hub, windows)  # raises over LIMITS
    print("A1 ONNX vs Keras on EROS:", diffs)

    # Which float32 evaluation is right where they differ: a float64 copy of
    # the encoder. The exported model's steps are no further from it than
    # Keras' own float32 steps are (both about 5e-4 on A1): what the single
    # steps differ by is float32's, not the export's.
    exact = float64_sequence(model.backbone, windows)
    valid = windows["mask_in"][..., 0] > 0
    keras_steps = keras.ops.convert_to_numpy(hub([windows[k] for k in ("input", "times", "mask_in")])["sequence"])
    keras_error = np.abs(keras_steps - exact)[valid].max()
    onnx_error = np.abs(onnx_outputs(folder / "astromer1.onnx", windows)["sequence"] - exact)[valid].max()
    print(f"steps vs float64: Keras {keras_error:.2e}, ONNX {onnx_error:.2e}")
    assert 1e-5 < keras_error < LIMITS.steps and onnx_error <= 1.25 * keras_error


def float64_sequence(backbone, windows):
    """The last block's output of a float64 copy of `backbone` on the hub
    windows (its float32 magnitude projection and softmax aside)."""
    config = backbone.get_config()
    config["dtype"] = "float64"
    copy = backbone.__class__.from_config(config)
    x = {"magnitudes": windows["input"][..., 0], "times": windows["times"][..., 0],
         "padding_mask": 1.0 - windows["mask_in"][..., 0], "hidden_mask": 0.0 * windows["input"][..., 0]}
    x = {k: np.asarray(v, np.float64) for k, v in x.items() if k in backbone.input_names}
    copy({k: v[:1] for k, v in x.items()})
    copy.set_weights([np.asarray(w, np.float64) if np.asarray(w).dtype == np.float32 and v.dtype == "float64"
                      else np.asarray(w) for w, v in zip(backbone.get_weights(), copy.weights)])
    import keras

    return keras.ops.convert_to_numpy(copy(x, training=False)["sequence_output"])


@pytest.mark.slow  # 18 CPU-s
def test_onnx_mean_equals_astromer_embed_on_eros(a1_onnx, tmp_path):
    """The ONNX `mean` is `astromer-embed --no-standardize`'s embedding when
    both see the same windows. For the published weights astromer-embed
    uses compat original (float32-first centring, no row dropped for its
    error); windows centred in float64 (the hub's convention) are other
    inputs, and the embeddings move by more than the limit."""
    folder, result = a1_onnx
    assert result.returncode == 0, result.stderr[-3000:]
    from astromer.cli.embed import main
    from astromer.compat import original_settings

    weights = str(shared_path("weights", "astromer1-macho"))
    table = eros_table(100)
    table.to_parquet(tmp_path / "eros.parquet")
    original = original_settings()
    runs = {"original": [], "default": ["--compat", "default"]}  # astromer-embed options
    embedded = {}
    for name, options in runs.items():
        out = tmp_path / f"{name}.parquet"
        assert main(["--weights", weights, "--data", str(tmp_path / "eros.parquet"), "--out", str(out),
                     "--no-standardize", *options]) == 0
        embedded[name] = pd.read_parquet(out).set_index("id")
        assert len(embedded[name]) == 100 and (embedded[name]["n_windows"] == 1).all()  # EROS: <= 125 points

    def worst(run, cleaning, **windowing):
        ids, windows = hub_windows(table, cleaning, **windowing)
        mean = onnx_outputs(folder / "astromer1.onnx", windows)["mean"]
        return float(np.abs(mean - np.stack(embedded[run].loc[ids, "embedding"].to_numpy())).max())

    # the windows each compat mode makes
    same = {"original": worst("original", original["cleaning"], mode="original", float32_first=True),
            "default": worst("default", {"min_observations": 1}, mode="nonoverlapping")}
    # compat original's rows and windows, centred in float64 as the hub does
    centring = worst("original", original["cleaning"], mode="original", float32_first=False)
    print(f"ONNX mean vs astromer-embed, same windows: {same}; float64 instead of float32-first centring: "
          f"{centring:.2e}")
    assert same["original"] <= LIMITS.mean and same["default"] <= LIMITS.mean
    assert centring > LIMITS.mean  # other inputs, not an export error


def small_run(tmp_path, preset, *settings):
    from astromer.core.factory import build_pretrainer, resolve_config

    model = build_pretrainer(resolve_config(preset, list(settings)))
    model.save(tmp_path / f"{preset}.keras")
    return tmp_path / f"{preset}.keras", model


def test_astroco_exports_through_the_command_and_matches_keras(tmp_path, capsys):
    requires_tensorflow_backend()
    import onnx

    from astromer.cli.export import main
    from astromer.export import check_onnx, hub_model, random_hub_inputs

    # AstroCo-S's blocks (bf16 policy, exact GELU everywhere), fewer and narrower
    weights, model = small_run(tmp_path, "astroco-s", "model.num_layers=2", "model.head_dim=16")
    assert main(["--weights", str(weights), "--out", str(tmp_path / "astroco.onnx")]) == 0
    print(capsys.readouterr().out)
    ops = {node.op_type for node in onnx.load(str(tmp_path / "astroco.onnx")).graph.node}
    assert "Erf" in ops and "Erfc" not in ops  # the exact GELU, through ONNX's Erf
    hub = hub_model(model.backbone)
    windows = random_hub_inputs(hub, 8, seed=1)  # other windows than the command's check
    diffs = check_onnx(tmp_path / "astroco.onnx", hub, windows)
    print("AstroCo ONNX vs Keras:", diffs)
    assert [i.name for i in hub.inputs] == ["input", "times", "mask_in", "errors"]


@pytest.mark.slow
def test_astroco_s_preset_exports_within_the_limits(tmp_path, capsys):
    requires_tensorflow_backend()
    from astromer.cli.export import main

    weights, _ = small_run(tmp_path, "astroco-s")
    assert main(["--weights", str(weights), "--out", str(tmp_path / "astroco-s.onnx")]) == 0
    print(capsys.readouterr().out)


def test_an_a2_run_exports_through_the_command(tmp_path, capsys):
    requires_tensorflow_backend()
    from astromer.cli.export import main

    weights, _ = small_run(tmp_path, "a2", "model.num_layers=2")
    assert main(["--weights", str(weights), "--out", str(tmp_path / "a2.onnx")]) == 0
    assert "onnxruntime vs Keras on 4 random windows" in capsys.readouterr().out
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "a2.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input", "times", "mask_in"]
    assert sorted(o.name for o in session.get_outputs()) == ["max", "mean", "sequence"]
    assert sorted(os.listdir(tmp_path)) == ["a2.keras", "a2.onnx"]


def test_savedmodel_through_the_command_serves_the_hub_outputs(tmp_path, capsys):
    requires_tensorflow_backend()
    import keras
    import tensorflow as tf

    from astromer.cli.export import main
    from astromer.export import hub_model, random_hub_inputs, read_preprocessor
    from astromer.preprocessing import HubPreprocessor

    weights, model = small_run(tmp_path, "a1", "model.num_layers=1")
    saved = tmp_path / "saved"
    for _ in range(2):  # the second run replaces the first SavedModel
        assert main(["--weights", str(weights), "--format", "savedmodel", "--out", str(saved)]) == 0
        assert "TensorFlow vs Keras on 4 random windows" in capsys.readouterr().out
        assert sorted(os.listdir(tmp_path)) == ["a1.keras", "saved"]
    hub = hub_model(model.backbone)
    x = random_hub_inputs(hub, 3, seed=2)
    loaded = tf.saved_model.load(str(saved))  # kept: its variables must outlive the call
    served = loaded.serve([x["input"], x["times"], x["mask_in"]])
    expected = hub([x["input"], x["times"], x["mask_in"]])
    for name in ("mean", "max", "sequence"):
        np.testing.assert_allclose(served[name].numpy(), keras.ops.convert_to_numpy(expected[name]), atol=1e-5)
    # the preprocessor, in the SavedModel folder's assets.extra/
    saved_config = read_preprocessor(saved).get_config()
    assert saved_config == HubPreprocessor.from_backbone(model.backbone, compat="auto").get_config()
    assert saved_config["window_size"] == model.backbone.window_size


def light_curves(seed=0):
    """(L, 3) arrays of Julian Dates, magnitudes and errors; 40 points make
    3 windows of 16 that differ between compat "original" (the last one
    right-aligned) and "default" (non-overlapping)."""
    rng = np.random.default_rng(seed)
    out = []
    for length in (40, 23, 16, 7):
        time = 2_450_000.5 + np.cumsum(rng.uniform(0.5, 30, length))
        out.append(np.stack([time, 15 + rng.normal(0, 0.3, length), rng.uniform(0.01, 0.1, length)], axis=1))
    return out


def test_the_preprocessor_read_back_from_the_onnx_file_gives_the_keras_embeddings(tmp_path):
    requires_tensorflow_backend()
    import onnx

    import astromer
    from astromer.core.embedder import Embedder
    from astromer.errors import ConfigError
    from astromer.export import export_model, read_preprocessor
    from astromer.export.metadata import PREPROCESSOR_KEY, VERSION_KEY
    from astromer.preprocessing import HubPreprocessor

    # Astromer 1's attention quirk (mask_alpha 1): weights converted from an
    # original checkpoint, which astromer-embed reads with compat original.
    backbone = tiny_backbone(16, seed=3, mask_alpha=1.0)
    path = tmp_path / "a1.onnx"
    export_model(backbone, path)
    assert os.listdir(tmp_path) == ["a1.onnx"]  # self-describing: no file beside it

    saved = HubPreprocessor.from_backbone(backbone, compat="auto")
    assert saved.compat == "original" and saved.float32_first and saved.window_mode == "original"
    metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(metadata[PREPROCESSOR_KEY]) == {"class": "HubPreprocessor", "config": saved.get_config()}
    assert metadata[VERSION_KEY] == astromer.__version__
    preprocessor = read_preprocessor(path)
    assert type(preprocessor) is HubPreprocessor and preprocessor.get_config() == saved.get_config()

    def onnx_embeddings(preprocessor):
        """Per light curve, the ONNX `mean` of its windows weighted by their
        observations (how astromer-embed combines windows)."""
        out = []
        for lc in light_curves():
            windows = preprocessor([lc])
            weight = windows["mask_in"].sum(axis=(1, 2))
            out.append((onnx_outputs(path, windows)["mean"] * weight[:, None]).sum(0) / weight.sum())
        return np.stack(out)

    keras_embeddings = Embedder(backbone, compat="auto").batch(light_curves())
    diff = np.abs(onnx_embeddings(preprocessor) - keras_embeddings).max()
    # Windows made otherwise (the hub's float64 centring, non-overlapping
    # windows) are other inputs: the read-back preprocessor is what matches.
    other = np.abs(onnx_embeddings(HubPreprocessor.from_backbone(backbone, compat="default"))
                   - keras_embeddings).max()
    print(f"ONNX on the read-back preprocessor's windows vs Embedder: {diff:.1e}; on compat default's: {other:.1e}")
    assert diff <= LIMITS.mean < other

    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(ConfigError, match="holds no 'astromer.preprocessor'"):
        read_preprocessor(tmp_path / "bare.onnx")


def test_a_failed_onnx_check_leaves_nothing(tmp_path, capsys):
    requires_tensorflow_backend()
    from astromer.cli.export import main

    weights, _ = small_run(tmp_path, "a1", "model.num_layers=1")
    # no difference at all allowed: float32 evaluations in another order differ
    code = main(["--weights", str(weights), "--out", str(tmp_path / "exports" / "a1.onnx"), "--atol-mean", "0",
                 "--atol-steps", "0"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("astromer-export: error: the ONNX file under onnxruntime differs")
    assert "> 0 " in error and "nothing was written to" in error and "\n" not in error
    assert os.listdir(tmp_path) == ["a1.keras"]


def test_a_failed_savedmodel_export_leaves_nothing(tmp_path, capsys, monkeypatch):
    requires_tensorflow_backend()
    from astromer.cli.export import main
    from astromer.errors import ExportCheckError
    from astromer.export import files

    weights, _ = small_run(tmp_path, "a1", "model.num_layers=1")

    def failing(path, *args):
        assert os.path.exists(os.path.join(path, "saved_model.pb"))  # written, then refused
        raise ExportCheckError("the SavedModel differs from the Keras model by more than the limits: mean 1 > 0")

    monkeypatch.setattr(files, "check_savedmodel", failing)
    assert main(["--weights", str(weights), "--format", "savedmodel", "--out", str(tmp_path / "a" / "saved")]) == 2
    assert "nothing was written to" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["a1.keras"]


def test_an_out_that_must_not_be_replaced_fails_before_loading(tmp_path, capsys):
    from astromer.cli.export import main

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep")
    weights = tmp_path / "model.keras"
    weights.write_bytes(b"")  # never read: the destination is refused first
    assert main(["--weights", str(weights), "--format", "savedmodel", "--out", str(tmp_path / "notes")]) == 2
    assert "is a folder that is not a SavedModel" in capsys.readouterr().err
    assert main(["--weights", str(weights), "--out", str(tmp_path / "notes")]) == 2
    assert "pass a file name for the ONNX model" in capsys.readouterr().err
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep"


def test_a_graph_onnxruntime_refuses_names_the_layer(tmp_path, monkeypatch):
    requires_tensorflow_backend()
    import onnxruntime

    from astromer.export import export_model

    def refuse(path, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for "
                           "Erfc(13) node with name 'astromer_hub_1/astro_co_backbone_1/input_embedding_1/"
                           "fusion_1/Gelu/Erfc'")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    backbone = tiny_backbone(32, kind="astroco")
    with pytest.raises(ValueError, match="layer 'fusion' has an operation with no ONNX equivalent"):
        export_model(backbone, tmp_path / "astroco.onnx")
    assert not (tmp_path / "astroco.onnx").exists()
