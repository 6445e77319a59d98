"""One preprocessing per model: the embedding few-shot scores is the one
`astromer-embed` writes, and only the objects of the cells run are
featurised and embedded, each once."""

import numpy as np
import pandas as pd
import pytest

from astromer import fewshot
from astromer.embedding import Embedder

# Real EROS-1 objects, one class each row: two with EROS_R rows whose error
# is outside (0, 1) (the benchmark's cleaning drops them, the original
# library's keeps them) and two without.
EROS_OBJECTS = {
    "Cep": ["101_10456", "101_1906", "101_2530", "105_10217"],
    "EB": ["100_2063", "109_10421", "101_5149", "102_1163"],
    "Mira": ["364_3", "388_6987", "100_6114", "105_915"],
    "RRL": ["103_3501", "103_4152", "101_3026", "101_5284"],
}


def _eros_table(tmp_path):
    from tests.conftest import shared_path

    root = shared_path("data", "eros1_lmc")
    ids = [i for group in EROS_OBJECTS.values() for i in group]
    table = pd.read_parquet(root / "lightcurves.parquet")
    table = table[table["id"].astype(str).isin(ids)]
    table.to_parquet(tmp_path / "eros.parquet")
    (tmp_path / "labels.csv").write_text(
        "id,label\n" + "".join(f"{i},{label}\n" for label, group in EROS_OBJECTS.items() for i in group))
    return table


def test_fewshot_embeds_each_object_as_astromer_embed_does(tmp_path, capsys):
    # The published A1 weights, compat auto (original for them): the
    # vectors few-shot kept for its objects (`<out>/cache`) are, to 1e-6,
    # what `astromer-embed --no-standardize` writes for the same objects.
    from astromer.cli.embed import main as embed
    from astromer.cli.fewshot import main as few_shot
    from tests.conftest import shared_path

    weights = str(shared_path("weights", "astromer1-macho"))
    table = _eros_table(tmp_path)
    err = table.query("band == 'EROS_R'")["err"]
    assert ((err <= 0) | (err >= 1)).sum() > 0  # the two cleanings differ on these objects
    assert embed(["--weights", weights, "--data", str(tmp_path / "eros.parquet"), "--band", "EROS_R",
                  "--no-standardize", "--out", str(tmp_path / "emb.parquet")]) == 0
    written = pd.read_parquet(tmp_path / "emb.parquet")
    by_embed = {str(i): np.asarray(v, np.float64) for i, v in zip(written["id"], written["embedding"])}

    assert few_shot(["--data", str(tmp_path / "eros.parquet"), "--labels", str(tmp_path / "labels.csv"),
                     "--weights", weights, "--band", "EROS_R", "--spc", "2", "--folds", "1", "--methods", "logreg",
                     "--no-tsne", "--out", str(tmp_path / "fs")]) == 0
    out = capsys.readouterr().out
    assert "encoder input, compat original (auto: weights converted from an original checkpoint)" in out
    [cache] = (tmp_path / "fs" / "cache").glob("embeddings-mean-*.npz")
    with np.load(cache) as data:
        by_fewshot = {str(i): v[-1] for i, v in zip(data["ids"], data["vectors"])}  # last block's mean
    assert sorted(by_fewshot) == sorted(by_embed)  # every object is in the one split
    worst = max(np.abs(by_fewshot[i] - by_embed[i]).max() for i in by_embed)
    assert worst <= 1e-6, worst

    # The benchmark's cleaning (errors in (0, 1), compat default) gives other
    # vectors for the objects with such errors: the check above can fail.
    from astromer.data.lightcurves import iter_light_curves
    from astromer.core.loading import load_backbone

    default = Embedder(load_backbone(weights), band="EROS_R", compat="default")
    bad = ["101_10456", "100_2063", "364_3", "103_3501"]
    ids, vectors = default.embed_array([lc for lc in iter_light_curves(str(tmp_path / "eros.parquet")) if lc.id in bad])
    assert sorted(ids) == sorted(bad)
    assert min(np.abs(v - by_embed[i]).max() for i, v in zip(ids, vectors)) > 1e-3


TINY = ("name: tiny\nmodel:\n  class: AstromerBackbone\n  num_layers: 1\n  num_heads: 2\n  head_dim: 4\n"
        "  ff_dim: 8\n  window_size: 32\n  dropout: 0.0\n  pe_base: 1000.0\n  mask_token: false\n"
        "pretraining:\n  uncertainty_weighted: false\n  learning_rate: 0.001\n  batch_size: 16\n  epochs: 1\n"
        "  patience: 1\n")


def _survey(n=90, seed=4):
    from astromer.data.demo import simulate_survey

    lcs = simulate_survey(n, seed=seed, classes=("RRL", "LPV", "noise"), min_obs=20, max_obs=40)
    return lcs, {lc.id: lc.label for lc in lcs}


def _spy(monkeypatch):
    """Records the ids of every light curve the Embedder is asked to embed
    and every light curve whose features are computed."""
    from astromer.fewshot import feature_store

    embedded, featurised = [], []
    iter_embeddings = Embedder.iter_embeddings

    def spy_embed(self, source, ids=None, on_rows=None):
        embedded.extend((self.pooling, lc.id) for lc in source)
        return iter_embeddings(self, source, ids, on_rows)

    compute = feature_store.light_curve_features

    def spy_features(light_curves, **kwargs):
        featurised.extend(lc.id for lc in light_curves)
        return compute(light_curves, **kwargs)

    monkeypatch.setattr(Embedder, "iter_embeddings", spy_embed)
    monkeypatch.setattr(feature_store, "light_curve_features", spy_features)
    return embedded, featurised


@pytest.mark.slow  # 18 CPU-s
def test_only_the_objects_of_the_cells_run_are_embedded_and_featurised_once(tmp_path, monkeypatch):
    from astromer.core.factory import build_pretrainer, resolve_config

    (tmp_path / "tiny.yaml").write_text(TINY)
    config = resolve_config(str(tmp_path / "tiny.yaml"))
    model = build_pretrainer(config)
    lcs, labels = _survey()
    embedded, featurised = _spy(monkeypatch)
    args = dict(methods=["features_logreg", "features_emb_rf", "logreg"], spcs=[3, 5], folds=3, only_folds=[1],
                verbose=False, tsne=True)
    settings = fewshot.FewshotSettings(out=str(tmp_path / "out"), cache=str(tmp_path / "cache"), **args)
    frame = fewshot.run(settings, lcs, labels, model, config)
    assert len(frame) == 6
    splits = fewshot.read_splits(tmp_path / "out" / "splits", 3, [3, 5])
    cells = set(splits[(1, 3)]["id"]) | set(splits[(1, 5)]["id"])
    assert len(cells) < len(lcs) - 20  # the run's cells leave many objects out
    # each object of the fold's two cells once, and no other (no max pass:
    # no max_pool head)
    assert sorted(featurised) == sorted(cells)
    assert sorted(i for _, i in embedded) == sorted(cells) and {p for p, _ in embedded} == {"mean"}
    # a second run of another fold with the same cache computes only the
    # objects the first did not, and scores the same on the shared fold
    embedded.clear(), featurised.clear()
    again = fewshot.run(fewshot.FewshotSettings(out=str(tmp_path / "out2"), cache=str(tmp_path / "cache"),
                                                **{**args, "only_folds": [1, 2]}), lcs, labels, model, config)
    fold2 = set(splits[(2, 3)]["id"]) | set(splits[(2, 5)]["id"])
    assert sorted(featurised) == sorted(fold2 - cells)
    assert sorted(i for _, i in embedded) == sorted(fold2 - cells)
    pd.testing.assert_frame_equal(again.query("fold == 1").drop(columns="seconds").reset_index(drop=True),
                                  frame.drop(columns="seconds").reset_index(drop=True))


def test_features_of_a_subset_equal_those_computed_with_every_object():
    # The periodogram grid is the whole table's (its longest baseline), so a
    # cell's objects get the features they would get among all objects.
    from astromer.fewshot.feature_store import FeatureStore
    from astromer.core.features import light_curve_features

    lcs, _ = _survey(30)
    full, _ = light_curve_features(lcs, progress=False)
    store = FeatureStore(lcs, verbose=False)
    some = [lcs[k].id for k in (3, 17, 4, 3)]
    store.ensure(some)
    values, rows, names = store.table()
    assert list(rows) == [some[0], some[1], some[2]] and names == list(full.columns)
    np.testing.assert_array_equal(values, full.loc[some[:3]].to_numpy())
    shortest = min(lcs, key=lambda lc: lc.time.max() - lc.time.min())
    alone, _ = light_curve_features([shortest], progress=False)
    assert not np.allclose(alone.to_numpy(), full.loc[[shortest.id]].to_numpy(), equal_nan=True)


def test_max_pool_embeds_its_max_pass_for_the_same_objects(tmp_path, monkeypatch):
    from astromer.core.factory import build_pretrainer, resolve_config

    (tmp_path / "tiny.yaml").write_text(TINY)
    config = resolve_config(str(tmp_path / "tiny.yaml"))
    lcs, labels = _survey()
    embedded, _ = _spy(monkeypatch)
    settings = fewshot.fewshot_settings(["heads.epochs=2"], out=str(tmp_path / "out"), methods=["max_pool", "a2"],
                                        spcs=[3], folds=3, only_folds=[0], verbose=False, tsne=False)
    fewshot.run(settings, lcs, labels, build_pretrainer(config), config)
    split = fewshot.read_splits(tmp_path / "out" / "splits", 3, [3])[(0, 3)]
    for pooling in ("mean", "max"):
        assert sorted(i for p, i in embedded if p == pooling) == sorted(set(split["id"]))
