"""Damaged or missing weights are named with what is wrong and what to do
(`astromer.errors.WeightsError`), wherever weights are loaded: `.keras`,
`.weights.h5`, legacy `.h5` and original TF checkpoints (the published
Astromer 1 weights, copied and then damaged)."""

import os
import shutil

import pytest

from tests.conftest import shared_path

import astromer
from astromer.errors import ConfigError, WeightsError
from tests.harness import ROOT, run_process, tiny_pretrainer

DATA = "weights.data-00000-of-00001"


def _flip(path, offset=None, length=16):
    """Inverts `length` bytes of `path` at `offset` (default: the middle)."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    for i in range(offset, offset + length):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path, size=None):
    """Cuts `path` to `size` bytes (default: half of it)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if size is None else size])


def _fails(path, *words, preset=None, named=None):
    """Loads `path` through `astromer.load_model`; returns the message of the
    `WeightsError`, checked to name the file (`named`, default `path`) and to
    say each of `words`, on one line."""
    with pytest.raises(WeightsError) as info:
        astromer.load_model(str(path), preset=preset)
    message = str(info.value)
    assert isinstance(info.value, ConfigError)  # as these were before
    assert str(named or path) in message, message
    for word in words:
        assert word in message, message
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny Pretrainer saved as `.keras` and as `.weights.h5`: bytes."""
    folder = tmp_path_factory.mktemp("tiny")
    model = tiny_pretrainer(16, seed=0)
    model.save(folder / "m.keras")
    model.save_weights(folder / "m.weights.h5")
    return {"keras": (folder / "m.keras").read_bytes(), "weights.h5": (folder / "m.weights.h5").read_bytes()}


@pytest.fixture
def a1(tmp_path):
    """A writable copy of the published Astromer 1 checkpoint folder."""
    folder = tmp_path / "astromer1-macho"
    shutil.copytree(shared_path("weights", "astromer1-macho"), folder)
    for name in os.listdir(folder):
        os.chmod(folder / name, 0o644)
    return folder


# ------------------------------------------------------------------- .keras

def test_keras_with_flipped_bytes_is_damaged(tmp_path, tiny):
    path = tmp_path / "flipped.keras"
    path.write_bytes(tiny["keras"])
    _flip(path)
    _fails(path, "damaged", "copy it again")


def test_truncated_keras_is_truncated_not_missing(tmp_path, tiny):
    path = tmp_path / "cut.keras"
    path.write_bytes(tiny["keras"][: len(tiny["keras"]) // 2])
    message = _fails(path, "truncated", f"{len(tiny['keras']) // 2:,} bytes", "copy it again")
    assert "not found" not in message.lower()


def test_empty_keras_is_empty(tmp_path):
    path = tmp_path / "empty.keras"
    path.write_bytes(b"")
    _fails(path, "empty", "0 bytes")


# -------------------------------------------------- original TF checkpoint

def test_truncated_checkpoint_data_is_truncated(a1):
    _truncate(a1 / DATA, 1_000_000)
    _fails(a1, f"{DATA} is truncated", "1,000,000 bytes", "download or copy", named=a1 / DATA)
    # The same through the checkpoint's prefix.
    from astromer.models.pretrainer import Pretrainer

    with pytest.raises(WeightsError, match=f"{DATA} is truncated"):
        Pretrainer.from_original_checkpoint(str(a1 / "weights"))


def test_checkpoint_data_cut_by_a_few_bytes_is_truncated(a1):
    _truncate(a1 / DATA, os.path.getsize(a1 / DATA) - 10)
    with pytest.raises(WeightsError, match=f"{DATA} is truncated"):
        astromer.load_model(str(a1))


def test_checkpoint_data_with_flipped_bytes_is_damaged(a1):
    _flip(a1 / DATA)
    with pytest.raises(WeightsError, match=f"{DATA} is damaged: bytes in it fail their checksum"):
        astromer.load_model(str(a1))


def test_missing_checkpoint_data_is_missing(a1):
    os.remove(a1 / DATA)
    with pytest.raises(WeightsError, match=f"{DATA} is missing.*download or copy"):
        astromer.load_model(str(a1))


def test_missing_checkpoint_index_is_missing(a1):
    os.remove(a1 / "weights.index")
    with pytest.raises(WeightsError, match=r"weights.index is missing.*weights.data-00000-of-00001 cannot be read"):
        astromer.load_model(str(a1))
    # Still the FileNotFoundError it was for code that caught that.
    from astromer.models.pretrainer import Pretrainer

    with pytest.raises(FileNotFoundError, match="weights.index is missing"):
        Pretrainer.from_original_checkpoint(str(a1))


def test_truncated_or_empty_checkpoint_index(a1):
    _truncate(a1 / "weights.index", 1000)
    with pytest.raises(WeightsError, match=r"weights.index is truncated .*1,000 bytes"):
        astromer.load_model(str(a1))
    _truncate(a1 / "weights.index", 0)
    with pytest.raises(WeightsError, match=r"weights.index is empty \(0 bytes\)"):
        astromer.load_model(str(a1))


def test_damaged_checkpoint_index(a1):
    _flip(a1 / "weights.index")
    with pytest.raises(WeightsError, match=r"weights.index is damaged"):
        astromer.load_model(str(a1))


def test_truncated_conf_json_is_truncated(a1):
    _truncate(a1 / "conf.json")
    with pytest.raises(WeightsError, match=r"conf.json is truncated: its JSON stops before it is complete"):
        astromer.load_model(str(a1))
    (a1 / "conf.json").write_text('{"max_obs": 200, "layers": 2')
    with pytest.raises(WeightsError, match=r"conf.json is truncated"):
        astromer.load_model(str(a1))


def test_damaged_or_empty_conf_json(a1):
    text = (a1 / "conf.json").read_text()
    (a1 / "conf.json").write_text(text.replace('"heads": 4,', '"heads": 4 ?'))
    with pytest.raises(WeightsError, match=r"conf.json is damaged: not valid JSON \(Expecting ',' delimiter at "
                                           r"line \d+, column \d+"):
        astromer.load_model(str(a1))
    (a1 / "conf.json").write_text(text.replace('"heads": 4,', '"heads": "four",'))
    with pytest.raises(WeightsError, match=r"conf.json is damaged: its 'heads' is 'four', not an int"):
        astromer.load_model(str(a1))
    (a1 / "conf.json").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"conf.json is empty"):
        astromer.load_model(str(a1))


def test_damaged_checkpoint_file_falls_back_to_the_only_index(a1):
    # The 'checkpoint' file only names the prefix; the weights are intact.
    _flip(a1 / "checkpoint", 10)
    model = astromer.load_model(str(a1))
    assert model.backbone.num_layers == 2


# ------------------------------------------------------- HDF5 weight files

def test_truncated_weights_h5_with_preset(tmp_path, tiny):
    path = tmp_path / "cut.weights.h5"
    path.write_bytes(tiny["weights.h5"][: len(tiny["weights.h5"]) // 2])
    _fails(path, "truncated", f"{len(tiny['weights.h5']):,} bytes", f"{len(tiny['weights.h5']) // 2:,} are there",
           preset="a1")
    path.write_bytes(b"")
    _fails(path, "empty", preset="a1")


def test_damaged_legacy_h5(tmp_path):
    path = tmp_path / "a1_macho_legacy.h5"
    shutil.copy(shared_path("oracles", "legacy_h5", "a1_macho_legacy.h5"), path)
    os.chmod(path, 0o644)
    data = path.read_bytes()
    _flip(path, 800)  # in the file's metadata (raw arrays have no checksum in HDF5)
    _fails(path, "damaged", "legacy .h5")
    _flip(path, 0)
    _fails(path, "not an HDF5 file", "damaged")
    path.write_bytes(data[:100_000])
    _fails(path, "truncated", "100,000 are there")


# ---------------------------------------------------------- astromer-embed

@pytest.fixture
def table(tmp_path):
    path = tmp_path / "lc.csv"
    rows = ["id,time,mag,err"] + [f"a,{t},{15 + 0.01 * t},0.05" for t in range(30)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _embed_fails(capfd, weights, table, out):
    from astromer.cli.embed import main

    assert main(["--weights", str(weights), "--data", str(table), "--out", str(out)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("astromer-embed: error: "), err
    assert not out.exists()
    return err[0]


def test_embed_truncated_keras(tmp_path, tiny, table, capfd):
    path = tmp_path / "cut.keras"
    path.write_bytes(tiny["keras"][:1000])
    line = _embed_fails(capfd, path, table, tmp_path / "e.parquet")
    assert str(path) in line and "truncated" in line


def test_embed_damaged_conf_json(a1, table, capfd, tmp_path):
    _truncate(a1 / "conf.json")
    line = _embed_fails(capfd, a1, table, tmp_path / "e.parquet")
    assert f"{a1 / 'conf.json'} is truncated" in line


def test_embed_truncated_checkpoint_data_in_a_fresh_process(a1, table, tmp_path):
    _truncate(a1 / DATA, 1_000_000)
    out = tmp_path / "e.parquet"
    result = run_process("astromer.cli.embed", ["--weights", a1, "--data", table, "--out", out], cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("astromer-embed: error: "), lines
    assert f"{a1 / DATA} is truncated (1,000,000 bytes" in lines[0]
    assert not out.exists()
