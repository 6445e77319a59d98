"""A wrong path on the command line is answered at once, in one line with
exit 2, naming what was given and what to pass instead: before Keras and
TensorFlow start (seconds), not as an internal error after them."""

import json
import os

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.harness import ROOT, run_fresh


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A finished run (names only: the checks read no file), its checkpoints,
    a catalogue's embeddings with their statistics, and a light-curve table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name in ("run/model.keras", "run/config.yaml", "run/checkpoints/latest",
                 "run/checkpoints/epoch-00001/model.keras", "run/checkpoints/epoch-00002/model.keras"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    pq.write_table(pa.table({"id": ["a", "b"], "embedding": [[1.0, 2.0], [3.0, 4.0]]}), tmp_path / "catalogue.parquet")
    (tmp_path / "catalogue.parquet.stats.json").write_text(json.dumps({"mean": [2, 3], "std": [1, 1]}))
    (tmp_path / "lcs.csv").write_text("id,time,mag,err\na,1,15,0.1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line(capsys, main, argv, prog="astromer-embed"):
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    return lines[0]


def test_statistics_given_the_parquet_names_its_stats_json(place, capsys):
    from astromer.cli.embed import main

    line = _one_line(capsys, main, ["--weights", "run", "--data", "lcs.csv", "--statistics", "catalogue.parquet"])
    # was: internal error: UnicodeDecodeError
    assert "--statistics 'catalogue.parquet' is a Parquet file" in line
    assert "pass the <out>.stats.json" in line and "'catalogue.parquet.stats.json'" in line


@pytest.mark.parametrize("content, words", [
    (b"\x89\xff\x00 not text", "not text"),
    (b'{"mean": [1, 2]', "not valid JSON"),
    (b"[1, 2]", "no ['mean', 'std']"),
    (None, "does not exist"),
])
def test_statistics_that_are_not_statistics(place, capsys, content, words):
    from astromer.cli.embed import main

    if content is not None:
        (place / "s.json").write_bytes(content)
    line = _one_line(capsys, main, ["--weights", "run", "--data", "lcs.csv", "--statistics", "s.json"])
    assert "--statistics 's.json'" in line and words in line and "pass the <out>.stats.json" in line


def test_weights_given_the_checkpoints_folder_names_the_run_folder(place, capsys):
    from astromer.cli.embed import main

    line = _one_line(capsys, main, ["--weights", "run/checkpoints", "--data", "lcs.csv"])
    assert "--weights 'run/checkpoints' is the checkpoints folder of a run (epoch-00001, epoch-00002)" in line
    assert "pass the run folder 'run'" in line and "'run/checkpoints/epoch-00002/model.keras'" in line


def test_checkpoints_folder_of_an_unfinished_run(place, capsys):
    from astromer.cli.embed import main

    os.remove("run/model.keras")
    line = _one_line(capsys, main, ["--weights", "run/checkpoints", "--data", "lcs.csv"])
    assert "a run that has no final model yet" in line
    assert "pass one epoch's model, e.g. 'run/checkpoints/epoch-00002/model.keras'" in line
    assert "astromer-train --resume --out run" in line


@pytest.mark.parametrize("weights, words", [
    ("rnu", ["--weights 'rnu' does not exist (did you mean 'run'?)", "pass a run folder of astromer-train"]),
    ("catalogue.parquet", ["--weights 'catalogue.parquet' is a .parquet file, not weights", "pass a run folder"]),
    ("run/config.yaml", ["--weights 'run/config.yaml' is a file beside the weights", "pass 'run'"]),
    (".", ["--weights '.' is a folder without weights", "pass it: './run'"]),
    ("run/best.weights.h5", ["holds weights only", "give the --preset"]),
])
def test_other_wrong_weights(place, capsys, weights, words):
    from astromer.cli.embed import main

    (place / "run" / "best.weights.h5").touch()
    line = _one_line(capsys, main, ["--weights", weights, "--data", "lcs.csv"])
    for word in words:
        assert word in line, line


def _exit_codes_and_frameworks(cases):
    """(run by run_fresh: what a process imports) `astromer.cli.<name>.main(argv)`
    for each (name, argv) of `cases`; the exit codes and the frameworks
    imported."""
    import importlib
    import sys

    codes = [importlib.import_module(f"astromer.cli.{name}").main(argv) for name, argv in cases]
    return codes, sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)


def test_wrong_paths_are_answered_before_the_frameworks_start(place):
    """Every command that takes --weights (and --data): one line each, exit 2,
    no Keras, TensorFlow, JAX or torch imported."""
    cases = [
        ("embed", ["--weights", "rnu", "--data", "lcs.csv"]),
        ("embed", ["--weights", "run", "--data", "lcs.cvs"]),
        ("finetune", ["--weights", "run/checkpoints", "--data", "lcs.csv"]),
        ("fewshot", ["--weights", "run/checkpoints/latest", "--data", "lcs.csv", "--labels", "lcs.csv"]),
        ("fewshot", ["--data", "lcs.csv", "--labels", "labels.csv"]),
        ("export", ["--weights", "rnu/m.keras", "--out", "m.onnx"]),
        ("bench", ["embed", "--weights", "catalogue.parquet"]),
    ]
    out = run_fresh(_exit_codes_and_frameworks, cases, cwd=place, timeout=120)
    codes, loaded = out.value
    assert codes == [2] * len(cases), out.stdout + out.stderr
    assert loaded == [], loaded
    lines = out.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"astromer-{name}" for name, _ in cases], lines
    assert "(did you mean 'run'?)" in lines[0]
    assert "--data 'lcs.cvs' does not exist (did you mean 'lcs.csv'?)" in lines[1]
    assert "pass the run folder 'run'" in lines[2] and "pass the run folder 'run'" in lines[3]
    assert "--labels 'labels.csv' does not exist" in lines[4]
    assert "(there is no folder 'rnu')" in lines[5]
    assert "is a .parquet file, not weights" in lines[6]


@pytest.fixture(scope="module")
def a1_macho():
    return shared_path("weights", "astromer1-macho")


def test_checkpoint_index_or_prefix_loads_the_checkpoint(a1_macho):
    # was: "missing .../weights.index.index"
    import keras

    import astromer
    from astromer.weights_path import resolve_weights_path

    assert resolve_weights_path(a1_macho / "weights.index") == str(a1_macho / "weights")
    assert resolve_weights_path(a1_macho / "weights.data-00000-of-00001") == str(a1_macho / "weights")
    assert resolve_weights_path(a1_macho / "weights") == str(a1_macho / "weights")
    folder = astromer.load_model(a1_macho)
    index = astromer.load_model(a1_macho / "weights.index")
    assert index.backbone.num_layers == folder.backbone.num_layers == 2
    for a, b in zip(folder.weights, index.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def _load_feature_classifier_and_call():
    """(run by run_fresh: a process that imported no model class yet)
    `astromer.load_model("fc.keras")` called on x.npy, saved to y.npy; the
    loaded model's class."""
    import keras
    import numpy as np

    import astromer

    model = astromer.load_model("fc.keras")
    np.save("y.npy", keras.ops.convert_to_numpy(model({"features": np.load("x.npy")}, training=False)))
    return type(model).__name__


def test_feature_classifier_loads_in_a_fresh_process(tmp_path):
    """`astromer.load_model` finds every class the package registers with
    Keras, FeatureClassifier included (it was missing from a hand-kept list)."""
    import keras

    from astromer.models.feature_classifier import FeatureClassifier

    keras.utils.set_random_seed(5)
    features = np.random.default_rng(0).normal(size=(6, 3, 8)).astype("float32")
    model = FeatureClassifier(3, head="a2", feature_shape=(3, 8), standardize=True)
    model.adapt(features)
    expected = keras.ops.convert_to_numpy(model({"features": features}, training=False))
    model.save(tmp_path / "fc.keras")
    np.save(tmp_path / "x.npy", features)
    out = run_fresh(_load_feature_classifier_and_call, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.value == "FeatureClassifier"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-6)


def test_every_registered_class_is_found():
    # The registry is built from the source: every module with a class
    # decorated @keras.saving.register_keras_serializable, found by grep here.
    from astromer.saving import registering_modules

    package = ROOT / "astromer"
    decorated = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts) for path in package.rglob("*.py")
        if any(line.lstrip().startswith("@keras.saving.register_keras_serializable")
               for line in path.read_text().splitlines()))
    assert "astromer.models.feature_classifier" in decorated
    assert sorted(registering_modules()) == decorated
