import numpy as np
import pytest

from astromer.layers.positional import TimePositionalEncoding
from tests.conftest import to_numpy
from tests.harness import run_layer_test


def float32_sin_tolerance(angles):
    # The angle t * w_j is a float32 product and w_j a float32 pow: TF 2.15's
    # Eigen (the oracle), today's Eigen and XLA round them differently by a
    # few ulps, i.e. a few times 6e-8 * |angle| after sin/cos. A wrong
    # frequency schedule errs by O(1).
    return 1e-6 + 3e-7 * np.abs(angles)


def reference(times, dim, base=10000.0):
    j = np.arange(dim)
    rates = (1.0 / np.power(np.float32(base), (np.float32(2) * j.astype(np.float32)) / np.float32(dim))).astype(np.float32)
    angles = to_numpy(times, np.float64)[..., None] * rates
    return np.where(j % 2 == 0, np.sin(angles), np.cos(angles)), angles


def test_matches_hand_formula_every_index_not_pairs():
    times = np.array([[0.0, 1.0, -2.5]], "float32")
    out = to_numpy(TimePositionalEncoding(4)(times))
    # angle_j = t * 10000^(-2j/4): j=1 uses exponent 2/4 (not 0 as in the
    # pairwise transformer schedule).
    expected = np.array(
        [
            [1 * 0 + 0, 1.0, 0.0, 1.0],
            [np.sin(1.0), np.cos(0.01), np.sin(1e-4), np.cos(1e-6)],
            [np.sin(-2.5), np.cos(-0.025), np.sin(-2.5e-4), np.cos(-2.5e-6)],
        ]
    )
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


@pytest.mark.parametrize("key", ["unit_pe_dmodel8", "unit_pe_dmodel8_base1000"])
def test_a1_unit_oracle(a1_oracle, key):
    # The original ignored `base=1000`: both oracles are base 10000.
    times = a1_oracle["unit_pe_times"][..., 0]
    out = to_numpy(TimePositionalEncoding(8, base=10000.0)(times))
    _, angles = reference(times, 8)
    assert np.all(np.abs(out - a1_oracle[key]) <= float32_sin_tolerance(angles))


@pytest.mark.parametrize("key", ["unit_pe_dmodel8_default", "unit_pe_dmodel8_base1000_c1"])
def test_a2_unit_oracle(a2_oracle, key):
    times = a2_oracle["unit_pe_times"][..., 0]
    out = to_numpy(TimePositionalEncoding(8, base=10000.0)(times))
    _, angles = reference(times, 8)
    assert np.all(np.abs(out - a2_oracle[key]) <= float32_sin_tolerance(angles))


def test_full_window_oracles(a1_oracle, a2_oracle):
    for times, expected in (
        (a1_oracle["times"][:1, :, 0], a1_oracle["pe_window0"]),
        (a2_oracle["times"][1:2, :, 0], a2_oracle["pe_window_sel1"]),
    ):
        out = to_numpy(TimePositionalEncoding(256)(times))
        _, angles = reference(times, 256)
        assert np.all(np.abs(out - expected) <= float32_sin_tolerance(angles))


def test_base_changes_frequencies():
    times = np.array([[10.0]], "float32")
    a = to_numpy(TimePositionalEncoding(8, base=1000.0)(times))
    expected, _ = reference(times, 8, base=1000.0)
    np.testing.assert_allclose(a, expected, atol=1e-6)
    assert not np.allclose(a, to_numpy(TimePositionalEncoding(8)(times)))


def test_float32_under_mixed_precision():
    times = np.array([[1234.5678]], "float32")
    out = run_layer_test(TimePositionalEncoding(8, dtype="mixed_bfloat16"), times, expected_dtype="float32")
    expected, angles = reference(times, 8)
    assert np.all(np.abs(to_numpy(out) - expected) <= float32_sin_tolerance(angles))


def test_config_round_trip_and_bad_args():
    # a copy from the config gives the same encoding
    run_layer_test(TimePositionalEncoding(16, base=1000.0, exponent_scale=1.0, name="pe"),
                   np.linspace(-300, 300, 10, dtype="float32")[None])
    with pytest.raises(ValueError, match="dim"):
        TimePositionalEncoding(0)
    with pytest.raises(ValueError, match="base"):
        TimePositionalEncoding(8, base=-1)
