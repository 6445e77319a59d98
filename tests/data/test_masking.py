import numpy as np
import pytest

from astromer.data.masking import MaskingConfig, NumpyOps, error_weights, probe_counts, probe_masks


def centred_windows(lengths, window=200, seed=0):
    rng = np.random.default_rng(seed)
    mags = np.zeros((len(lengths), window), np.float32)
    padding = np.ones((len(lengths), window), np.float32)
    for i, n in enumerate(lengths):
        mags[i, :n] = rng.normal(size=n)
        padding[i, :n] = 0
    return mags, padding


def masks_for(lengths, config, epoch=0, keys=None, window=200):
    mags, padding = centred_windows(lengths, window)
    keys = np.arange(len(lengths)) if keys is None else keys
    out = probe_masks(NumpyOps, mags, padding, config.count_table(window), config.mode, 0, epoch, keys)
    return mags, padding, out


def test_original_counts_match_main_code(pipeline_oracle):
    # pt_*: one main-code mask_sample realisation (probed 0.5, rs 0.2, same 0.2).
    # mask_in is 1 on hidden and padded steps, so L = 200 - (mask_in - hidden).
    lengths = 200 - (pipeline_oracle["pt_mask_in"][..., 0].sum(1) - pipeline_oracle["pt_n_msk_token"])
    for i, length in enumerate(lengths.astype(int)):
        n_probed, n_hidden, n_random, n_same = probe_counts(length, 0.5, 0.2, 0.2, "original")
        assert n_probed == pipeline_oracle["pt_n_probed"][i]
        assert n_hidden == pipeline_oracle["pt_n_msk_token"][i]
        assert n_random + n_same == pipeline_oracle["pt_n_visible_probed"][i]
    assert probe_counts(200, 0.5, 0.2, 0.2, "original") == (100, 64, 16, 20)
    # and our masks realise those counts exactly
    config = MaskingConfig("original", probed_fraction=0.5, random_fraction=0.2, same_fraction=0.2)
    _, _, out = masks_for(list(lengths.astype(int)), config)
    np.testing.assert_array_equal(out["hidden_mask"].sum(1), pipeline_oracle["pt_n_msk_token"])
    np.testing.assert_array_equal(out["probe_mask"].sum(1), pipeline_oracle["pt_n_probed"])


def test_paper_counts_hold_exactly_per_window():
    config = MaskingConfig()
    assert probe_counts(200) == (100, 60, 20, 20)
    lengths = [200, 150, 37, 5, 1]
    mags, padding, out = masks_for(lengths, config)
    for i, n in enumerate(lengths):
        expected = probe_counts(n)
        assert out["probe_mask"][i].sum() == expected[0]
        assert out["hidden_mask"][i].sum() == expected[1]
        assert out["random_mask"][i].sum() == expected[2]
        assert out["same_mask"][i].sum() == expected[3]
        assert np.all(out["probe_mask"][i][padding[i] > 0] == 0)  # never on padding
        # hidden magnitudes are zeroed; visible-probed ones kept
        assert np.all(out["input_magnitudes"][i][out["hidden_mask"][i] > 0] == 0)
        same = out["same_mask"][i] > 0
        np.testing.assert_array_equal(out["input_magnitudes"][i][same], mags[i][same])


def test_random_replacements_come_from_the_same_window():
    config = MaskingConfig()
    mags, padding, out = masks_for([200, 120], config)
    for i in range(2):
        replaced = out["input_magnitudes"][i][out["random_mask"][i] > 0]
        real = mags[i][padding[i] == 0]
        assert np.all(np.isin(replaced, real))
        assert not np.all(np.isin(replaced, mags[1 - i][padding[1 - i] == 0]))


def test_masks_change_between_epochs_and_repeat_within_one():
    config = MaskingConfig()
    _, _, a = masks_for([200] * 4, config, epoch=0)
    _, _, b = masks_for([200] * 4, config, epoch=1)
    _, _, c = masks_for([200] * 4, config, epoch=0)
    assert not np.array_equal(a["probe_mask"], b["probe_mask"])
    np.testing.assert_array_equal(a["probe_mask"], c["probe_mask"])
    # keys, not batch positions, decide a light curve's masks
    _, _, d = masks_for([200] * 4, config, epoch=0, keys=np.array([3, 2, 1, 0]))
    np.testing.assert_array_equal(d["probe_mask"][::-1], a["probe_mask"])


def test_probed_positions_are_uniform():
    config = MaskingConfig()
    _, _, out = masks_for([200] * 400, config, keys=np.arange(400))
    freq = out["probe_mask"].mean(0)
    assert abs(freq.mean() - 0.5) < 1e-9 and freq.std() < 0.05


def test_error_weights_match_original(pipeline_oracle, a2_oracle):
    errors = pipeline_oracle["lw_errors"][..., 0]
    weights = error_weights(NumpyOps, errors, np.zeros_like(errors))
    np.testing.assert_allclose(weights, pipeline_oracle["lw_weights"][..., 0], atol=1e-6)
    np.testing.assert_allclose(weights, a2_oracle["unit_loss_weights_out"][..., 0], atol=1e-6)
    # padded steps get 0 and do not enter the min/max
    padded = error_weights(NumpyOps, np.array([[0.1, 0.2, 5.0]], np.float32), np.array([[0, 0, 1]], np.float32))
    np.testing.assert_allclose(padded, [[1.001, 0.001, 0.0]], atol=1e-6)


def test_bad_config():
    with pytest.raises(ValueError, match="Unknown masking mode 'bert'"):
        MaskingConfig("bert")
    with pytest.raises(ValueError, match="hidden_fraction 0.4 must equal"):
        MaskingConfig(hidden_fraction=0.4)
    with pytest.raises(ValueError, match="probed_fraction must be in"):
        MaskingConfig(probed_fraction=1.5)
