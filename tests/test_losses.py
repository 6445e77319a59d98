"""Losses and metrics against ORACLES.md's tables (and a2_outputs.npz)."""

import numpy as np
import pytest

from astromer.losses import MaskedRMSE, masked_r2, masked_rmse
from astromer.metrics import MaskedR2Metric, MaskedRMSEMetric

RTOL = 1e-5


def hand(a2_oracle):
    return [a2_oracle[f"hand_{k}"][..., 0] for k in ("y_true", "y_pred", "mask", "weights")]


def test_hand_made_values_from_oracles_md(a2_oracle):
    y, p, m, w = hand(a2_oracle)
    assert m[1].sum() == 0  # the all-zero-mask row counts as 0 in the mean
    np.testing.assert_allclose(float(masked_rmse(y, p, m)), 0.632456, rtol=RTOL)
    np.testing.assert_allclose(float(masked_rmse(y, p, m, w)), 0.480758, rtol=RTOL)
    np.testing.assert_allclose(float(masked_rmse(y, p, m, root=False)), 0.4, rtol=RTOL)
    np.testing.assert_allclose(float(masked_rmse(y, p)), 0.635741, rtol=RTOL)
    np.testing.assert_allclose(float(masked_r2(y, p, m)), 0.0357143, rtol=RTOL)
    np.testing.assert_allclose(float(masked_rmse(y, p, m)), a2_oracle["loss_hand_a1lib_rmse"], rtol=RTOL)


@pytest.mark.parametrize("mask_name,mask_key", [("probe", "probe_positions"), ("observed", "mask_out_observed")])
def test_model_output_losses(a2_oracle, mask_name, mask_key):
    # The loss table of ORACLES.md was written for an earlier draft of the
    # oracle (2.66201 vs the stored 2.551619); a2_outputs.npz holds the
    # values computed with the stored arrays, so those are compared.
    y, p, w = (a2_oracle[k][..., 0] for k in ("target", "regression_probe", "w_error"))
    m = a2_oracle[mask_key][..., 0]
    np.testing.assert_allclose(float(masked_rmse(y, p, m)), a2_oracle[f"loss_rmse_{mask_name}"], rtol=RTOL)
    np.testing.assert_allclose(float(masked_rmse(y, p, m, w)), a2_oracle[f"loss_rmse_{mask_name}_weighted"], rtol=RTOL)
    np.testing.assert_allclose(float(masked_rmse(y, p, m, root=False)), a2_oracle[f"loss_mse_{mask_name}_noroot"], rtol=RTOL)
    np.testing.assert_allclose(
        float(masked_rmse(y, p, m, w, root=False)), a2_oracle[f"loss_mse_{mask_name}_weighted_noroot"], rtol=RTOL
    )
    np.testing.assert_allclose(float(masked_r2(y, p, m)), a2_oracle[f"loss_r2_{mask_name}"], rtol=RTOL)
    if mask_name == "probe":
        np.testing.assert_allclose(float(masked_rmse(y, p)), a2_oracle["loss_rmse_nomask"], rtol=RTOL)


def test_keras_loss_objects_and_original_test_step(a2_oracle):
    y, p, w = (a2_oracle[k][..., 0] for k in ("target", "regression_probe", "w_error"))
    m = a2_oracle["probe_positions"][..., 0]
    target = {"magnitudes": y, "probe_mask": m, "loss_weight": w}
    weighted = MaskedRMSE(uncertainty_weighted=True)
    np.testing.assert_allclose(float(weighted(target, p)), a2_oracle["loss_test_step_loss"], rtol=RTOL)
    np.testing.assert_allclose(float(MaskedRMSE()(target, p)), a2_oracle["loss_rmse_probe"], rtol=RTOL)
    clone = MaskedRMSE.from_config(weighted.get_config())
    assert clone.uncertainty_weighted


def test_metrics_accumulate_exactly_over_batches(a2_oracle):
    y, p = (a2_oracle[k][..., 0] for k in ("target", "regression_probe"))
    m = a2_oracle["probe_positions"][..., 0]
    target = {"magnitudes": y, "probe_mask": m}
    rmse, r2 = MaskedRMSEMetric(), MaskedR2Metric()
    for part in (slice(0, 1), slice(1, 4)):  # two uneven batches
        rmse.update_state({k: v[part] for k, v in target.items()}, p[part])
        r2.update_state({k: v[part] for k, v in target.items()}, p[part])
    np.testing.assert_allclose(float(rmse.result()), a2_oracle["loss_rmse_probe"], rtol=RTOL)
    np.testing.assert_allclose(float(r2.result()), a2_oracle["loss_test_step_r_square"], rtol=RTOL)
    rmse.reset_state()
    assert float(rmse.result()) == 0.0
