"""Supervised seeds kept on disk as they finish and read back by a rerun."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from astromer.fewshot import seed_records, supervised
from astromer.fewshot.methods import Cell, Run
from astromer.fewshot.settings import FewshotSettings, method_settings
from tests.fewshot.test_supervised import EAGER
from tests.harness import tiny_pretrainer

TINY = {"warmup_epochs": 2, "epochs": 2, "batch_size": 8, **EAGER}


@pytest.fixture(scope="module")
def survey():
    from astromer.data.demo import simulate_survey

    light_curves = simulate_survey(30, seed=3, min_obs=20, max_obs=30)
    ids = [lc.id for lc in light_curves]
    y = {oid: i % 2 for i, oid in enumerate(ids)}
    return light_curves, {"train": ids[:16], "val": ids[16:22], "test": ids[22:]}, y


def _encoder(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return tiny_pretrainer(32, dropout=0.0)


def _cell(survey, encoder, out_dir, settings=TINY, seeds=2, verbose=False):
    light_curves, ids, y = survey
    defaults = method_settings()
    run = Run(FewshotSettings(out=str(out_dir), verbose=verbose, heads=replace(defaults["heads"], seeds=seeds),
                              supervised=replace(defaults["supervised"], **settings)),
              light_curves, y, ["EB", "RRL"], model=encoder)
    return Cell(run, fold=1, spc=8, ids=ids, encoder=encoder)


def _counting(monkeypatch):
    calls = []
    real = supervised.train_end_to_end

    def counted(*args, **kwargs):
        calls.append(kwargs["seed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(supervised, "train_end_to_end", counted)
    return calls


@pytest.mark.slow  # 52 CPU-s
def test_a_rerun_reads_every_finished_seed_back_and_predicts_the_same(survey, tmp_path, monkeypatch):
    from sklearn.metrics import f1_score

    calls = _counting(monkeypatch)
    encoder = _encoder()
    first = _cell(survey, encoder, tmp_path)
    predicted, truth, _ = supervised.score("supervised", first)
    assert calls == [1, 1001]  # seed fold + 1000 k, as the frozen heads
    tables = []
    for k in range(2):
        csv_path, json_path = seed_records.paths(str(tmp_path), 1, 8, k)
        table = pd.read_csv(csv_path, dtype={"id": str})
        record = json.load(open(json_path))
        assert list(table["id"]) == survey[1]["test"]
        assert list(table["label"]) == [["EB", "RRL"][t] for t in truth]
        probabilities = table[["p_EB", "p_RRL"]].to_numpy()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
        # The record's macro-F1 is the one of the probabilities beside it.
        assert record["macro_f1"] == pytest.approx(f1_score(truth, probabilities.argmax(1), average="macro"))
        assert record["seed"] == 1 + 1000 * k and record["settings"]["epochs"] == 2
        tables.append(probabilities)
    # The cell's prediction is the argmax of the seeds' mean probability.
    np.testing.assert_array_equal(predicted, np.mean(tables, axis=0).argmax(1))

    # The same cell again: nothing is trained, the prediction is the same.
    again = _cell(survey, encoder, tmp_path)
    predicted_again, truth_again, _ = supervised.score("supervised", again)
    assert calls == [1, 1001]
    np.testing.assert_array_equal(predicted_again, predicted)
    np.testing.assert_array_equal(truth_again, truth)
    assert again.run.shared["supervised_read_back"] == ["supervised spc 8 fold 1 seed 0",
                                                    "supervised spc 8 fold 1 seed 1"]

    # A third seed asked for later: only it is trained.
    supervised.score("supervised", _cell(survey, encoder, tmp_path, seeds=3))
    assert calls == [1, 1001, 2001]


@pytest.mark.slow  # 55 CPU-s
def test_a_seed_made_otherwise_is_trained_again(survey, tmp_path, monkeypatch, capsys):
    calls = _counting(monkeypatch)
    encoder = _encoder()
    supervised.score("supervised", _cell(survey, encoder, tmp_path, seeds=1))
    # Other settings: trained again, and the run says why.
    cell = _cell(survey, encoder, tmp_path, settings={**TINY, "epochs": 1}, seeds=1, verbose=True)
    supervised.score("supervised", cell)
    assert calls == [1, 1]
    assert "training again" in capsys.readouterr().out
    assert json.load(open(seed_records.paths(str(tmp_path), 1, 8, 0)[1]))["settings"]["epochs"] == 1
    # Other encoder weights (another checkpoint, or one finetuned first).
    other = _encoder(seed=5)
    supervised.score("supervised", _cell(survey, other, tmp_path, settings={**TINY, "epochs": 1}, seeds=1))
    assert calls == [1, 1, 1]


def test_records_match_only_the_same_encoder_settings_objects_and_seed(survey, tmp_path):
    encoder = _encoder()
    ids, classes = survey[1], ["EB", "RRL"]
    record = seed_records.fingerprint(encoder, TINY, None, ids, classes, 4)
    test = ids["test"]
    probabilities = np.random.default_rng(0).dirichlet([1, 1], len(test))
    out = str(tmp_path)
    assert seed_records.read(out, 0, 20, 0, record, test) == (None, None)  # nothing written yet
    seed_records.write(out, 0, 20, 0, {**record, "macro_f1": 0.5}, test, probabilities, [0] * len(test))
    kept, found = seed_records.read(out, 0, 20, 0, record, test)
    np.testing.assert_allclose(kept, probabilities, rtol=1e-7)
    assert found["macro_f1"] == 0.5
    changed = {
        "settings": seed_records.fingerprint(encoder, {**TINY, "patience": 3}, None, ids, classes, 4),
        "seed": seed_records.fingerprint(encoder, TINY, None, ids, classes, 5),
        "bands": seed_records.fingerprint(encoder, TINY, ["EROS_R"], ids, classes, 4),
        "objects": seed_records.fingerprint(encoder, TINY, None, {**ids, "train": ids["train"][1:]}, classes, 4),
    }
    for key, other in changed.items():
        kept, why = seed_records.read(out, 0, 20, 0, other, test)
        assert kept is None and f"another {key}" in why, (key, why)
    # One weight moved by a float32 step changes the encoder's hash.
    weights = encoder.backbone.get_weights()
    weights[0] = np.nextafter(weights[0], np.float32(np.inf)).astype(weights[0].dtype)
    encoder.backbone.set_weights(weights)
    kept, why = seed_records.read(out, 0, 20, 0, seed_records.fingerprint(encoder, TINY, None, ids, classes, 4), test)
    assert kept is None and "another encoder" in why
    # Other test objects in the CSV than the cell's: not read back.
    kept, why = seed_records.read(out, 0, 20, 0, record, test[::-1])
    assert kept is None and "other test objects" in why
    # A CSV whose record was never written (killed between the two) is not read.
    (tmp_path / "supervised" / "fold0_spc20_seed0.json").unlink()
    assert seed_records.read(out, 0, 20, 0, record, test) == (None, None)
