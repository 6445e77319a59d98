"""Supervised baselines of the Astromer 2 ablation (paper Sect. 5.5)."""

import keras
import numpy as np
import pytest

from astromer.models.baselines import (
    EmbeddingGRUClassifier,
    EmbeddingMLPClassifier,
    RawGRUClassifier,
)
from tests.models.test_classifier import (
    WINDOW,
    check_keras_file_and_config_round_trip,
    check_learns_a_separable_toy_problem,
    check_padding_never_changes_the_logits,
    logits,
    sinusoids,
)

BASELINES = {
    "raw_gru": lambda window=WINDOW: RawGRUClassifier(3, window_size=window, units=6, dropout=0.1),
    "embedding_gru": lambda window=WINDOW: EmbeddingGRUClassifier(3, window_size=window, hidden_dim=8, units=6),
    "embedding_mlp": lambda window=WINDOW: EmbeddingMLPClassifier(
        3, window_size=window, hidden_dim=8, hidden_units=[8], dropout=0.1, layer_norm=True
    ),
}


@pytest.mark.parametrize("kind", list(BASELINES))
def test_padding_never_changes_the_logits(kind):
    check_padding_never_changes_the_logits(BASELINES[kind])


def test_hidden_steps_are_not_read():
    # Baselines have no mask token: a hidden step is skipped like padding.
    x, _ = sinusoids(n=4)
    x["hidden_mask"][:, 2] = 1
    for make in BASELINES.values():
        model = make()
        base = logits(model, x)
        changed = {k: v.copy() for k, v in x.items()}
        changed["magnitudes"][:, 2] += 5.0
        np.testing.assert_allclose(logits(model, changed), base, atol=1e-5)


@pytest.mark.parametrize("kind", list(BASELINES))
def test_keras_file_and_config_round_trip(tmp_path, kind):
    check_keras_file_and_config_round_trip(BASELINES[kind](), tmp_path)


@pytest.mark.parametrize(
    "make, data",
    [
        (lambda: RawGRUClassifier(2, window_size=WINDOW, units=16), {}),
        (lambda: EmbeddingGRUClassifier(2, window_size=WINDOW, hidden_dim=16, units=16), {}),
        # The pooled input embedding is linear in the magnitudes, so on
        # zero-mean windows it cannot see a period: give the classes offsets.
        (
            lambda: EmbeddingMLPClassifier(2, window_size=WINDOW, hidden_dim=16, hidden_units=[32]),
            {"offsets": (-0.5, 0.5)},
        ),
    ],
    ids=["raw_gru", "embedding_gru", "embedding_mlp"],
)
def test_learns_a_separable_toy_problem(make, data):
    # Short vs long periods (noisy vs smooth windows).
    check_learns_a_separable_toy_problem(make(), learning_rate=1e-2, **data)


def test_compile_defaults_and_input_checks():
    model = RawGRUClassifier(2, window_size=WINDOW, units=4)
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    x, _ = sinusoids(n=4)
    base = logits(model, x)
    np.testing.assert_array_equal(logits(model, {**x, "errors": np.ones_like(x["times"])}), base)
    with pytest.raises(ValueError, match=r"windows of 10 steps but this model takes window_size=12"):
        model({k: v[:, :10] for k, v in x.items()})


def test_bad_arguments_echo_the_value():
    with pytest.raises(ValueError, match=r"`hidden_units` must be a positive integer, got 0"):
        EmbeddingMLPClassifier(3, hidden_units=[8, 0])
    with pytest.raises(ValueError, match=r"`hidden_units` must be a list of layer sizes.*got 64"):
        EmbeddingMLPClassifier(3, hidden_units=64)
    with pytest.raises(ValueError, match=r"`units` must be a positive integer, got -4"):
        RawGRUClassifier(3, units=-4)
    with pytest.raises(ValueError, match=r"`num_classes` must be an integer >= 2.*got 2.5"):
        EmbeddingGRUClassifier(2.5)
    with pytest.raises(ValueError, match=r"`window_size` must be a positive integer, got 0"):
        EmbeddingGRUClassifier(3, window_size=0)
