import numpy as np
import pytest

from astromer.models.pretrainer import Pretrainer
from astromer.models.astromer_backbone import AstromerBackbone
from tests.conftest import as_inputs, shared_path


@pytest.mark.parametrize(
    "h5,ckpt",
    [
        ("a1_macho_legacy.h5", ("weights", "astromer1-macho")),
        ("a2_oracle_legacy.h5", ("oracles", "a2_ckpt")),
    ],
)
def test_legacy_h5_equals_checkpoint(h5, ckpt, a2_oracle):
    from_h5 = Pretrainer.from_original_checkpoint(str(shared_path("oracles", "legacy_h5", h5)))
    from_ckpt = Pretrainer.from_original_checkpoint(str(shared_path(*ckpt)))
    config = lambda m: {k: v for k, v in m.backbone.get_config().items() if k != "name"}  # noqa: E731
    assert config(from_h5) == config(from_ckpt)
    for a, b in zip(from_h5.get_weights(), from_ckpt.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = as_inputs(a2_oracle["input"], a2_oracle["times"], a2_oracle["mask_in_probe"])
    np.testing.assert_array_equal(from_h5.predict_on_batch(x), from_ckpt.predict_on_batch(x))


def test_a1_checkpoint_architecture_from_conf_json(a1_model):
    b = a1_model.backbone
    assert (b.num_layers, b.num_heads, b.head_dim, b.ff_dim) == (2, 4, 64, 128)
    assert (b.mask_alpha, b.mask_format, b.pe_base, b.mask_token) == (1.0, "QK", 10000.0, False)
    assert a1_model.count_params() == 661_505


def test_a2_checkpoint_architecture_from_config_json(a2_model):
    b = a2_model.backbone
    assert (b.num_layers, b.num_heads, b.head_dim, b.ff_dim, b.use_leak) == (6, 4, 64, 256, False)
    assert (b.mask_alpha, b.mask_format, b.pe_base, b.mask_token) == (-0.5, "K", 10000.0, False)
    assert a2_model.uncertainty_weighted
    assert a2_model.count_params() == 2_375_937


def test_backbone_only_loader(a2_model):
    backbone = AstromerBackbone.from_original_checkpoint(str(shared_path("oracles", "a2_ckpt")))
    for a, b in zip(backbone.get_weights(), a2_model.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_mismatched_checkpoint_names_missing_and_extra_variables():
    from astromer.convert import assign_original_weights, read_tf_checkpoint
    from astromer.models.pretrainer import Pretrainer

    arrays = read_tf_checkpoint(str(shared_path("oracles", "a2_leak_small_ckpt")))
    model = Pretrainer(AstromerBackbone(num_layers=3, num_heads=2, head_dim=16, ff_dim=32, use_leak=False))
    with pytest.raises(ValueError) as info:
        assign_original_weights(model, arrays, source="leak ckpt")
    message = str(info.value)
    assert "missing variables ['layer_with_weights-0/enc_layers/2/" in message
    assert "unexpected variables ['layer_with_weights-0/enc_layers/0/reshape_leak_1/bias'" in message
    wrong = Pretrainer(AstromerBackbone(num_layers=2, num_heads=2, head_dim=8, ff_dim=32, use_leak=True))
    with pytest.raises(ValueError, match=r"shape mismatch for .*mha/wq/kernel: model \(16, 16\), weights \(32, 32\)"):
        assign_original_weights(wrong, arrays, source="leak ckpt")


def test_checkpoint_without_config_asks_for_preset(tmp_path):
    import shutil

    src = shared_path("oracles", "a2_leak_small_ckpt")
    for name in ("checkpoint", "weights.index", "weights.data-00000-of-00001"):
        shutil.copy(src / name, tmp_path / name)
    with pytest.raises(ValueError, match="preset='a1-original'"):
        Pretrainer.from_original_checkpoint(str(tmp_path))
    model = Pretrainer.from_original_checkpoint(str(tmp_path), preset="a2-original", num_heads=2)
    assert model.backbone.head_dim == 16 and model.backbone.use_leak
    with pytest.raises(FileNotFoundError, match="No TF checkpoint"):
        Pretrainer.from_original_checkpoint(str(tmp_path / "nothing"), preset="a2-original")
