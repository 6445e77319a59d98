"""Masked reconstruction losses (Astromer 1 Eq. 4, Astromer 2 Eq. 5).

Targets are dicts, as produced by the data pipeline:

- `magnitudes`: `(batch, steps)` true (window-centred) magnitudes,
- `probe_mask`: `(batch, steps)`, 1 on the probed steps the loss covers,
- `loss_weight`: `(batch, steps)`, per-step uncertainty weights (only for
  the weighted loss; see `astromer.data.masking.error_weights`).

Predictions are `(batch, steps)`.
"""

import keras
from keras import ops


def masked_mse_per_sample(y_true, y_pred, mask=None, weights=None):
    """Per-sample mean of (weighted) squared errors over the masked steps.

    Samples whose mask is all zero get 0 (the original `divide_no_nan`).
    Without a mask, the mean runs over every step.
    """
    y_true = ops.cast(y_true, "float32")
    residuals = ops.square(y_true - ops.cast(y_pred, "float32"))
    if weights is not None:
        residuals = residuals * ops.cast(weights, "float32")
    if mask is None:
        return ops.mean(residuals, axis=1)
    mask = ops.cast(mask, "float32")
    count = ops.sum(mask, axis=1)
    total = ops.sum(residuals * mask, axis=1)
    return ops.where(count > 0, total / ops.maximum(count, 1e-30), 0.0)


def masked_rmse(y_true, y_pred, mask=None, weights=None, root=True):
    """sqrt(mean over samples of the per-sample masked MSE).

    Reproduces `custom_rmse` of the original code: the mean over samples
    counts samples with an empty mask (as 0), and the square root comes last.
    """
    mse = ops.mean(masked_mse_per_sample(y_true, y_pred, mask, weights))
    return ops.sqrt(mse) if root else mse


def masked_r2(y_true, y_pred, mask):
    """1 - SS_res / SS_tot over masked steps, each sample centred on its own
    masked mean (the original `custom_r2`)."""
    ss_res, ss_tot = masked_r2_terms(y_true, y_pred, mask)
    return 1.0 - ops.where(ss_tot > 0, ss_res / ops.maximum(ss_tot, 1e-30), 0.0)


def masked_r2_terms(y_true, y_pred, mask):
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    mask = ops.cast(mask, "float32")
    count = ops.sum(mask, axis=1, keepdims=True)
    mean = ops.where(count > 0, ops.sum(y_true * mask, axis=1, keepdims=True) / ops.maximum(count, 1e-30), 0.0)
    ss_res = ops.sum(ops.square(y_true - y_pred) * mask)
    ss_tot = ops.sum(ops.square(y_true - mean) * mask)
    return ss_res, ss_tot


@keras.saving.register_keras_serializable(package="astromer")
class MaskedRMSE(keras.losses.Loss):
    """Masked reconstruction RMSE, optionally uncertainty-weighted.

    `uncertainty_weighted=False`: Astromer 1 loss (paper Eq. 4),
    `sqrt(mean_i(sum_l m_il (x_il - x^_il)^2 / sum_l m_il))`.

    `uncertainty_weighted=True`: Astromer 2 loss (Eq. 5), each squared error
    multiplied by `loss_weight` (the inverse error, min-max scaled per
    window, plus 1e-3; the original `create_loss_weigths`).

    Call with `y_true` a dict (`magnitudes`, `probe_mask`[, `loss_weight`])
    and `y_pred` `(batch, steps)`.
    """

    def __init__(self, uncertainty_weighted=False, name="masked_rmse", **kwargs):
        super().__init__(name=name, reduction=None, **kwargs)
        self.uncertainty_weighted = bool(uncertainty_weighted)

    def call(self, y_true, y_pred):
        weights = y_true["loss_weight"] if self.uncertainty_weighted else None
        return masked_rmse(y_true["magnitudes"], y_pred, y_true["probe_mask"], weights)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        config.update({"uncertainty_weighted": self.uncertainty_weighted})
        return config
