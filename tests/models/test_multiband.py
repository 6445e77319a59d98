"""Joint multi-band models: band embedding, per-band centring, band mapping."""

import json

import numpy as np
import pytest

from astromer.data.demo import simulate_survey
from astromer.data.lightcurves import LightCurve
from astromer.models.astromer_backbone import AstromerBackbone
from astromer.embedding import Embedder
from tests.harness import run_cli, tiny_backbone, tiny_pretrainer


def joint(band_names=("B", "R"), **kwargs):
    import keras

    keras.utils.set_random_seed(4)
    backbone = tiny_backbone(64, dropout=0.0, band_names=list(band_names), **kwargs)
    table = backbone.get_layer("band_embedding").embeddings
    table.assign(np.random.default_rng(0).normal(size=table.shape).astype("float32"))
    return backbone


def two_band_curves(n=5):
    return simulate_survey(n, seed=7, min_obs=30, max_obs=90, bands=["B", "R"])


def test_band_order_does_not_change_the_embedding():
    lcs = two_band_curves()
    a = joint(("B", "R"))
    b = joint(("R", "B"))
    # same model once the mapping is the same: swap the band embedding rows
    b.set_weights([w for w in a.get_weights()])
    rows = a.get_layer("band_embedding").embeddings.numpy()
    b.get_layer("band_embedding").embeddings.assign(rows[::-1])
    _, ea = Embedder(a).embed_array(lcs)
    _, eb = Embedder(b).embed_array(lcs)
    np.testing.assert_allclose(ea, eb, atol=1e-5)
    # and the bands matter: relabelling the observations changes it
    swapped = [LightCurve(lc.id, lc.time, lc.mag, lc.err, band=np.where(lc.band == "B", "R", "B")) for lc in lcs]
    _, es = Embedder(a).embed_array(swapped)
    assert not np.allclose(es, ea, atol=1e-3)


def test_unseen_band_fails_with_its_name_and_one_band_still_embeds():
    backbone = joint()
    lc = two_band_curves(1)[0]
    odd = LightCurve(lc.id, lc.time, lc.mag, lc.err, band=np.where(lc.band == "B", "V", lc.band))
    with pytest.raises(ValueError, match=r"Band\(s\) \['V'\] were not seen in training; this model knows bands \['B', 'R'\]"):
        Embedder(backbone).embed_array([odd])
    r_only = lc.band == "R"
    single = LightCurve(lc.id, lc.time[r_only], lc.mag[r_only], lc.err[r_only], band=lc.band[r_only])
    _, emb = Embedder(backbone).embed_array([single])
    assert emb.shape == (1, 8) and np.all(np.isfinite(emb))


def test_per_band_centring():
    from astromer.data.windows import sequential_windows

    t = np.arange(6.0)
    mag = np.array([10.0, 20.0, 11.0, 21.0, 12.0, 22.0])
    w = sequential_windows(np.stack([t, mag, np.full(6, 0.1)], 1), window_size=8, bands=np.array([0, 1, 0, 1, 0, 1]))
    np.testing.assert_allclose(w["magnitudes"][0][:6], [-1, -1, 0, 0, 1, 1])
    np.testing.assert_array_equal(w["bands"][0], [0, 1, 0, 1, 0, 1, 0, 0])


def test_training_pipeline_centres_per_band_in_both_paths():
    from astromer.data.datasets import NumpyWindowDataset, PackedLightCurves
    from astromer.preprocessing import PretrainingPreprocessor

    lcs = two_band_curves(8)
    packed = PackedLightCurves.from_light_curves(lcs, band_names=["B", "R"])
    config = PretrainingPreprocessor(window_size=64, band_names=["B", "R"],
                                     input_names=("magnitudes", "times", "padding_mask", "hidden_mask", "bands"))
    x, y = NumpyWindowDataset(packed, config, 4, mode="eval")[0]
    for b in (0.0, 1.0):
        in_band = (x["bands"] == b) & (x["padding_mask"] == 0)
        means = [y["magnitudes"][i][in_band[i]].mean() for i in range(4) if in_band[i].any()]
        np.testing.assert_allclose(means, 0.0, atol=1e-5)
    tf = pytest.importorskip("tensorflow")
    from astromer.data.tf_dataset import tf_dataset

    ds, _ = tf_dataset(packed, config, 4, mode="eval")
    tx, ty = next(ds.as_numpy_iterator())
    for k in x:
        np.testing.assert_allclose(tx[k], x[k], atol=1e-6)
    with pytest.raises(ValueError, match=r"band\(s\) \['R'\] outside \['B'\]"):
        PackedLightCurves.from_light_curves(lcs, band_names=["B"])
    assert tf


@pytest.mark.slow  # 25 CPU-s
def test_multiband_preset_trains_on_the_demo(tmp_path):
    import yaml

    from astromer import presets
    from astromer.cli.train import main as train

    config = presets.load_preset("a2-mb")
    config["model"].update(num_layers=1, num_heads=2, head_dim=4, ff_dim=8, window_size=48, use_leak=False)
    config["demo"] = {"light_curves": 60, "seed": 0, "pretraining.batch_size": 8, "pretraining.epochs": 2}
    (tmp_path / "mb.yaml").write_text(yaml.safe_dump(config))
    out = run_cli(train, ["--preset", tmp_path / "mb.yaml", "--out", "run", "--quiet"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    import astromer

    model = astromer.load_model(tmp_path / "run")
    assert model.backbone.band_names == ["g", "r"]  # recorded in the saved model
    assert "bands" in model.backbone.input_names
    with pytest.raises(ValueError, match="give the list of band names"):
        AstromerBackbone.from_preset("a2-mb")


@pytest.mark.slow  # 42 CPU-s
def test_per_band_variants_are_the_mean_and_concatenation_of_single_band_features(tmp_path):
    # band_mean / band_concat of a single-band encoder are, per object, the
    # mean / concatenation of its single-band features; one finetuned encoder
    # per fold serves every variant of a run.
    import pandas as pd

    from astromer import fewshot, presets
    from astromer.core.factory import build_pretrainer

    lcs = simulate_survey(24, seed=3, classes=("RRL", "LPV", "noise"), min_obs=40, max_obs=80, bands=["B", "R"])
    config = presets.load_preset("a1")
    config["model"].update(num_layers=1, num_heads=2, head_dim=4, ff_dim=8, window_size=32, dropout=0.0)
    config["pretraining"].update(batch_size=8)
    model = build_pretrainer(config)
    passes = fewshot.EncoderPasses(model.backbone, lcs)
    single = {b: fewshot.EncoderFeatures(passes, "single", [b]) for b in ("B", "R")}
    mean = fewshot.EncoderFeatures(passes, "band_mean", ["B", "R"])
    concat = fewshot.EncoderFeatures(passes, "band_concat", ["B", "R"])
    assert mean.ids == concat.ids == single["B"].ids
    np.testing.assert_allclose(mean.mean_layers, (single["B"].mean_layers + single["R"].mean_layers) / 2, atol=1e-6)
    np.testing.assert_allclose(concat.max_last, np.concatenate([single["B"].max_last, single["R"].max_last], -1))
    with pytest.raises(ValueError, match="needs two or more bands"):
        fewshot.EncoderFeatures(passes, "band_mean", ["B"])

    from astromer.training.continued import continue_training

    settings = fewshot.fewshot_settings(["continued_pretraining.epochs=1"], out=str(tmp_path / "out"),
                                        methods=("logreg",), spcs=(4,), folds=1, finetune=True,
                                        variants=["band_mean", "band_concat"], bands=["B", "R"], verbose=False)
    frame = fewshot.run(settings, lcs, {lc.id: lc.label for lc in lcs}, model, config, trainer=continue_training)
    assert sorted(frame["method"]) == ["logreg band_concat", "logreg band_mean"]
    assert (tmp_path / "out" / "confusion_logreg_band_mean_spc4.png").exists()
    assert [p.name for p in (tmp_path / "out" / "finetune").iterdir()] == ["fold0_spc4"]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 2
    record = json.loads((tmp_path / "out" / "finetune" / "fold0_spc4" / "finetune.json").read_text())
    assert record["kept"] == (record["best_val_loss"] < record["val_loss_before"])
    # An encoder that finetuning only makes worse is returned unchanged.
    by_id = {lc.id: lc for lc in lcs}
    ids = [lc.id for lc in lcs]
    diverging = fewshot.fewshot_settings(["continued_pretraining.epochs=1", "continued_pretraining.learning_rate=1e3"])
    same = fewshot.continue_pretraining(model, config, by_id, {"train": ids[:12], "val": ids[12:]},
                                        tmp_path / "diverged", diverging.continued_pretraining, continue_training,
                                        ["B", "R"])
    assert same is model
    assert not json.loads((tmp_path / "diverged" / "finetune.json").read_text())["kept"]


def test_run_config_of_a_multiband_model_is_written_and_read_back(tmp_path):
    # The band mapping of a built model (a tracked list) must survive the
    # run's config.yaml, which finetuning writes from `get_config()`.
    from astromer.core.factory import read_config, write_config

    config = {"model": {k: v for k, v in joint().get_config().items() if k not in ("name", "trainable")},
              "pretraining": {"seed": np.int64(3)}}
    write_config(config, tmp_path / "config.yaml")
    again = read_config(tmp_path / "config.yaml")
    assert again["model"]["band_names"] == ["B", "R"] and again["pretraining"]["seed"] == 3
    assert AstromerBackbone(**again["model"]).band_names == ["B", "R"]


@pytest.mark.parametrize("kind", ["astromer", "astroco"])
def test_with_bands_starts_as_the_single_band_model(kind):
    # A single-band backbone extended with bands gives, on light curves of one
    # band, the same embedding as before (zero band table); after the table
    # changes, the bands are told apart.
    import keras

    keras.utils.set_random_seed(1)
    if kind == "astromer":
        single = tiny_backbone(64, dropout=0.0)
    else:
        single = tiny_backbone(64, kind="astroco", dropout=0.0)
    multi = single.with_bands(["B", "R"])
    assert multi.band_names == ["B", "R"] and single.band_names in (None, [])
    lcs = [LightCurve(lc.id, lc.time, lc.mag, lc.err, band=np.array(["R"] * len(lc.time)))
           for lc in simulate_survey(3, seed=5, min_obs=30, max_obs=60)]
    _, before = Embedder(single).embed_array(lcs)
    _, after = Embedder(multi).embed_array(lcs)
    np.testing.assert_allclose(after, before, atol=1e-5)
    table = multi.get_layer("band_embedding").embeddings
    table.assign(np.ones(table.shape, "float32"))
    _, moved = Embedder(multi).embed_array(lcs)
    assert np.abs(moved - before).max() > 1e-2
    with pytest.raises(ValueError, match="already reads bands"):
        multi.with_bands(["g"])


def test_pretrainer_with_bands_reconstructs_as_before():
    import keras

    keras.utils.set_random_seed(2)
    single = tiny_pretrainer(16, dropout=0.0)
    multi = single.with_bands(["B", "R"])
    rng = np.random.default_rng(0)
    x = {"magnitudes": rng.normal(size=(2, 16)).astype("float32"),
         "times": np.sort(rng.uniform(0, 50, (2, 16)), 1).astype("float32"),
         "padding_mask": np.ones((2, 16), "float32"), "hidden_mask": np.zeros((2, 16), "float32")}
    np.testing.assert_allclose(multi.predict_on_batch({**x, "bands": np.ones((2, 16), "int32")}),
                               single.predict_on_batch(x), atol=1e-5)


def test_per_band_pooling_of_a_joint_model():
    # Per-band vectors weighted by each band's number of observations
    # average back to the plain masked mean; a missing band gives zeros;
    # max pooling per band is bounded by the plain max.
    backbone = joint()
    lcs = two_band_curves(4)
    counts = np.array([[np.sum(lc.band.astype(str) == b) for b in ("B", "R")] for lc in lcs])
    _, plain = Embedder(backbone).embed_array(lcs)
    _, split = Embedder(backbone, per_band=True).embed_array(lcs)
    dim = plain.shape[-1]
    assert split.shape == (len(lcs), 2 * dim)
    per_band = split.reshape(len(lcs), 2, dim)
    recombined = (per_band * counts[:, :, None]).sum(1) / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(recombined, plain, atol=1e-5)
    _, top = Embedder(backbone, pooling="max").embed_array(lcs)
    _, top_split = Embedder(backbone, pooling="max", per_band=True).embed_array(lcs)
    np.testing.assert_allclose(top_split.reshape(len(lcs), 2, dim).max(1), top, atol=1e-6)
    only_r = LightCurve("r", lcs[0].time, lcs[0].mag, lcs[0].err, band=np.array(["R"] * len(lcs[0].time)))
    _, alone = Embedder(backbone, per_band=True, layer="all").embed_array([only_r])
    assert alone.shape == (1, 2, 2 * dim)
    np.testing.assert_array_equal(alone[0, :, :dim], 0.0)
    assert np.abs(alone[0, :, dim:]).max() > 0
    with pytest.raises(ValueError, match="needs a joint multi-band backbone"):
        Embedder(tiny_backbone(64), per_band=True)


def test_sorted_key_lengths_reorder_the_bands_with_the_steps():
    # attention_implementation="lengths" reorders each window (hidden and
    # padded steps last); the band of each step must travel with it.
    rng = np.random.default_rng(8)
    n, window = 3, 64
    pad = np.zeros((n, window), "float32")
    pad[0, 20:30] = 1
    pad[1, 50:] = 1
    hidden = (rng.uniform(size=(n, window)) < 0.3).astype("float32") * (1 - pad)
    x = {"magnitudes": rng.normal(size=(n, window)).astype("float32"),
         "times": np.sort(rng.uniform(0, 300, (n, window)), 1).astype("float32"),
         "padding_mask": pad, "hidden_mask": hidden,
         "bands": (rng.uniform(size=(n, window)) < 0.5).astype("float32")}
    a = joint(attention_implementation="explicit")
    b = joint(attention_implementation="lengths")
    b.set_weights(a.get_weights())
    expected = a.predict_on_batch(x)["sequence_output"]
    np.testing.assert_allclose(b.predict_on_batch(x)["sequence_output"], expected, atol=1e-5)
    # The bands matter here: flipping them changes the output.
    flipped = b.predict_on_batch({**x, "bands": 1 - x["bands"]})["sequence_output"]
    assert np.abs(flipped - expected).max() > 1e-2
