"""Reconstruction metrics accumulated over an epoch.

Both take dict targets like the losses (`magnitudes`, `probe_mask`) and
`(batch, steps)` predictions. They accumulate exact sums, so the epoch value
does not depend on how the data was cut into batches (the original averaged
per-batch values instead).
"""

import keras
from keras import ops

from astromer.losses import masked_mse_per_sample, masked_r2_terms


@keras.saving.register_keras_serializable(package="astromer")
class MaskedRMSEMetric(keras.metrics.Metric):
    """RMSE over masked steps: sqrt(mean over samples of per-sample MSE)."""

    def __init__(self, mask_key="probe_mask", name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mask_key = mask_key
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        mse = masked_mse_per_sample(y_true["magnitudes"], y_pred, y_true[self.mask_key])
        self.total.assign_add(ops.sum(mse))
        self.count.assign_add(ops.cast(ops.shape(mse)[0], "float32"))

    def result(self):
        return ops.sqrt(ops.where(self.count > 0, self.total / ops.maximum(self.count, 1.0), 0.0))

    def get_config(self):
        config = super().get_config()
        config.update({"mask_key": self.mask_key})
        return config


@keras.saving.register_keras_serializable(package="astromer")
class MaskedR2Metric(keras.metrics.Metric):
    """Coefficient of determination over masked steps (the original `custom_r2`)."""

    def __init__(self, mask_key="probe_mask", name="r2", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mask_key = mask_key
        self.ss_res = self.add_variable(shape=(), initializer="zeros", name="ss_res")
        self.ss_tot = self.add_variable(shape=(), initializer="zeros", name="ss_tot")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ss_res, ss_tot = masked_r2_terms(y_true["magnitudes"], y_pred, y_true[self.mask_key])
        self.ss_res.assign_add(ss_res)
        self.ss_tot.assign_add(ss_tot)

    def result(self):
        return 1.0 - ops.where(self.ss_tot > 0, self.ss_res / ops.maximum(self.ss_tot, 1e-30), 0.0)

    def get_config(self):
        config = super().get_config()
        config.update({"mask_key": self.mask_key})
        return config
