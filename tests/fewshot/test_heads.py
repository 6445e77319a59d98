"""Frozen-encoder heads: several seeds average their probabilities."""

import dataclasses

import numpy as np

from astromer import fewshot


def test_head_seeds_average_the_probabilities_of_single_seed_heads():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 12)
    # noisy class-dependent features, so that heads of different seeds differ
    x = (rng.normal(size=(36, 3, 8)) + 0.6 * y[:, None, None]).astype("float32")
    features = SimpleNamespace(mean_layers=x, max_last=x[:, -1])
    rows = {"train": np.arange(0, 36, 2), "val": np.arange(1, 36, 4), "test": np.arange(3, 36, 4)}
    settings = fewshot.method_settings(["heads.epochs=5"])["heads"]
    singles = [fewshot.train_head("linear", features, y, rows, 3, settings, seed=7 + fewshot.SEED_STRIDE * k)
               for k in range(2)]
    both, gamma = fewshot.train_head("linear", features, y, rows, 3, dataclasses.replace(settings, seeds=2), seed=7)
    p0, p1 = (predict.probabilities(rows["test"]) for predict, _ in singles)
    assert np.abs(p0 - p1).max() > 1e-3  # the seeds matter, so the average is a real test
    np.testing.assert_allclose(both.probabilities(rows["test"]), (p0 + p1) / 2, atol=1e-5)
    np.testing.assert_array_equal(both(rows["test"]), np.argmax(p0 + p1, axis=1))
    np.testing.assert_allclose(gamma, (singles[0][1] + singles[1][1]) / 2, atol=1e-6)
    # a head trained again with the same seed is the same head
    again, _ = fewshot.train_head("linear", features, y, rows, 3, settings, seed=7)
    np.testing.assert_allclose(again.probabilities(rows["test"]), p0, atol=1e-6)
