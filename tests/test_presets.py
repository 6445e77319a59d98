import pytest

from astromer import presets
from astromer.models.astromer_backbone import AstromerBackbone
from astromer.models.pretrainer import Pretrainer


def test_shipped_presets():
    assert {"a1", "a1-original", "a2", "a2-original"} <= set(presets.available_presets())


@pytest.mark.parametrize(
    "preset,params",
    [
        # Astromer 2 paper Sect. 3.2: "increasing from 661 505 to 3 953 409".
        ("a1", 661_505),
        ("a1-original", 661_505),
        ("a2", 3_953_409 + 1),  # + the mask token scalar
        ("a2-original", 2_375_937),  # the main-code oracle checkpoint
    ],
)
def test_parameter_counts_match_the_papers(preset, params):
    model = Pretrainer(AstromerBackbone.from_preset(preset))
    assert model.count_params() == params


def test_paper_and_original_presets_differ_where_documented():
    a2 = presets.load_preset("a2")["model"]
    original = presets.load_preset("a2-original")["model"]
    assert (a2["mask_token"], a2["mask_alpha"], a2["pe_base"]) == (True, -1e9, 1000.0)
    assert (original["mask_token"], original["mask_alpha"], original["pe_base"]) == (False, -0.5, 10000.0)
    a1 = presets.load_preset("a1-original")["model"]
    assert (a1["mask_alpha"], a1["mask_format"]) == (1.0, "QK")


def test_unknown_preset_lists_available():
    with pytest.raises(ValueError, match=r"Unknown preset 'a3'. Available presets: \['a1', 'a1-original'"):
        presets.load_preset("a3")


def test_overrides_and_closest_key():
    config = presets.load_preset("a2")
    changed = presets.apply_overrides(config, ["model.num_layers=3", "model.dropout=0.2"])
    assert changed["model"]["num_layers"] == 3 and config["model"]["num_layers"] == 6
    # YAML 1.1 reads 1e-4 as a string; an override must still be a number.
    rate = presets.apply_overrides(config, ["pretraining.learning_rate=1e-4"])["pretraining"]["learning_rate"]
    assert rate == 1e-4 and isinstance(rate, float)
    assert presets.apply_overrides(config, ["data.band=EROS_R"])["data"]["band"] == "EROS_R"
    with pytest.raises(ValueError, match=r"Unknown setting 'model.num_layer'. Closest valid keys: \['model.num_layers'"):
        presets.apply_overrides(config, ["model.num_layer=3"])
    with pytest.raises(ValueError, match="key=value"):
        presets.apply_overrides(config, ["model.num_layers"])


def test_from_preset_checks_class_and_keys():
    with pytest.raises(ValueError, match=r"Unknown model setting\(s\) \['layers'\]"):
        AstromerBackbone.from_preset("a1", layers=3)
    backbone = AstromerBackbone.from_preset("a1", num_layers=1, dtype="mixed_bfloat16")
    assert backbone.num_layers == 1 and backbone.layer_dtype.name == "mixed_bfloat16"
    assert backbone.get_layer("block_0").dtype_policy.name == "mixed_bfloat16"
    assert AstromerBackbone.from_config(backbone.get_config()).layer_dtype.name == "mixed_bfloat16"
