"""Padding-free inference: windows cut to length buckets give the vectors of
full windows where padding is out of attention, and nothing changes where
it is not (compat original)."""

import numpy as np
import pytest

from astromer.core.buckets import bucket_length, bucket_lengths, bucketed, padded_batch
from astromer.core.embedder import Embedder
from astromer.errors import ConfigError
from astromer.models.backbone import Backbone
from tests.conftest import SHARED

# Every bucket of a 200-step window, several windows (201, 450, 610) and
# light curves of 1 and 2 observations.
LENGTHS = (1, 2, 5, 20, 31, 32, 33, 70, 100, 150, 180, 199, 200, 201, 260, 450, 610, 47, 88)


def light_curves(lengths=LENGTHS, seed=7):
    rng = np.random.default_rng(seed)
    curves = []
    for n in lengths:
        time = 50_000 + np.cumsum(rng.exponential(3.0, n))
        mag = 17 + 0.5 * np.sin(2 * np.pi * time / rng.uniform(0.5, 50)) + rng.normal(0, 0.05, n)
        curves.append(np.stack([time, mag, rng.uniform(0.01, 0.2, n)], axis=1))
    return curves


def small_preset_backbone(preset, **sizes):
    """The preset's backbone with fewer, narrower layers; its attention
    settings (mask_alpha, mask_format, the AstroCo masks and convolution)
    as the preset has them."""
    import keras

    keras.utils.set_random_seed(11)
    return Backbone.from_preset(preset, num_layers=2, dropout=0.0, **sizes)


@pytest.mark.parametrize("preset, sizes, layer, pooling", [
    ("a1", dict(head_dim=16, ff_dim=32), "last", "mean"),
    ("a2", dict(head_dim=16, ff_dim=64), "all", "mean"),
    ("a2", dict(head_dim=16, ff_dim=64), "mix", "max"),
    # bf16 (the preset's dtype) rounds differently at each length; the
    # padding-free property is about the graph, so fp32 here.
    ("astroco-s", dict(head_dim=8, dtype="float32"), "all", "mean"),
])
def test_padding_free_equals_padded_for_the_paper_presets(preset, sizes, layer, pooling):
    backbone = small_preset_backbone(preset, **sizes)
    curves = light_curves()
    ids = [f"lc{i}" for i in range(len(curves))]
    cut = Embedder(backbone, layer=layer, pooling=pooling, batch_size=16)
    full = Embedder(backbone, layer=layer, pooling=pooling, batch_size=16, padding_free=False)
    assert cut.padding_free and not full.padding_free
    assert "padding-free: windows cut to length buckets" in cut.describe()
    assert "full 200-step windows: padding_free=False" in full.describe()

    got_ids, vectors = cut.embed_array(curves, ids=ids)
    full_ids, reference = full.embed_array(curves, ids=ids)
    assert got_ids == full_ids == ids
    np.testing.assert_allclose(vectors, reference, atol=1e-5, rtol=1e-5)
    # Really cut: every bucket ran, the full window only for full windows.
    assert sorted(cut._pooled_models) == bucket_lengths(200)
    assert sorted(full._pooled_models) == [200]


def test_compat_original_keeps_full_windows():
    """The published A1 weights (mask_alpha=+1, "QK": padding gets a bonus
    in attention) run full windows, as before: vectors equal the full-window
    model's by hand; cutting them would change the vectors."""
    path = SHARED / "weights" / "astromer1-macho"
    if path.exists():
        embedder = Embedder.from_weights(str(path))
        assert embedder.compat == "original"
    else:  # a backbone configured as the original
        embedder = Embedder(small_preset_backbone("a1-original", head_dim=16, ff_dim=32))
    assert not embedder.padding_free
    assert "full 200-step windows: padding takes part in attention (mask_format=QK, mask_alpha=1" in (
        embedder.describe())
    with pytest.raises(ConfigError, match="padding_free=True cannot cut windows"):
        Embedder(embedder.backbone, padding_free=True)

    curves = light_curves((5, 40, 130, 260))
    _, vectors = embedder.embed_array(curves)
    model, pre = embedder.pooled_model(), embedder.preprocessor
    by_hand, cut_by_hand = [], []
    for lc in pre.read([c for c in curves], clean=False):
        windows = pre.windows(lc)
        inputs = embedder.backbone.validate_inputs(pre.inputs(windows))
        weights = windows["lengths"][:, None]
        by_hand.append((np.asarray(model.predict_on_batch(inputs)) * weights).sum(0) / weights.sum())
        length = bucket_length(windows["lengths"].max(), 200)
        cut = np.asarray(embedder.pooled_model(length).predict_on_batch({k: v[:, :length] for k, v in inputs.items()}))
        cut_by_hand.append((cut * weights).sum(0) / weights.sum())
    np.testing.assert_allclose(vectors, np.stack(by_hand), atol=1e-6)
    assert np.abs(np.stack(cut_by_hand) - vectors).max() > 1e-3  # why the original keeps full windows


def test_soft_mask_of_the_a2_original_keeps_full_windows():
    backbone = small_preset_backbone("a2-original", head_dim=8, ff_dim=16)
    embedder = Embedder(backbone)
    assert not embedder.padding_free
    assert "mask_format=K, mask_alpha=-0.5" in embedder.describe()


def test_buckets_run_in_order_with_a_bounded_buffer():
    """Windows of mixed buckets come back in arrival order; a bucket runs
    full batches, or pieces of a few shapes; at most `buffer` windows wait."""
    rng = np.random.default_rng(0)
    lengths = rng.choice([3, 40, 90, 130, 200], size=500, p=[0.3, 0.3, 0.25, 0.1, 0.05])
    calls, consumed = [], []

    def items():
        for i, n in enumerate(lengths):
            consumed.append(i)
            yield i, {"lengths": n}

    def run(length, windows):
        calls.append((length, len(windows)))
        assert all(bucket_length(w["lengths"], 200) == length for w in windows)
        return [(length, w["lengths"]) for w in windows]

    out, most_waiting = [], 0
    for (i, window), result in bucketed(items(), run, 16, lambda item: bucket_length(item[-1]["lengths"], 200),
                                        buffer=64):
        most_waiting = max(most_waiting, len(consumed) - len(out))
        out.append(i)
        assert result == (bucket_length(lengths[i], 200), lengths[i])
    assert out == list(range(len(lengths)))
    assert most_waiting <= 64
    assert {size for _, size in calls} <= {8, 16}
    assert {length for length, _ in calls} == {32, 64, 96, 160, 200}
    assert [padded_batch(n, 16) for n in (1, 9, 16)] == [8, 16, 16]
    # One bucket (whole windows) is the previous batching: full batches,
    # then power-of-two pieces (17 = 16 + 1 padded to 8).
    sizes = []
    got = list(bucketed(((i, i) for i in range(49)), lambda _, w: (sizes.append(len(w)), w)[1], 32))
    assert sizes == [32, 16, 8] and [result for _, result in got] == list(range(49))
