"""Reconstruction metrics accumulated over an epoch.

Both take dict targets like the losses (`magnitudes`, `probe_mask`) and
`(batch, steps)` predictions. They accumulate exact sums, so the epoch value
does not depend on how the data was cut into batches (the original averaged
per-batch values instead).
"""

import keras
from keras import ops

from astromer.losses import masked_mse_per_sample, masked_r2_terms


class _MaskedSumsMetric(keras.metrics.Metric):
    """Accumulates scalar sums over an epoch (one variable per name in
    `sums`, in that order) from `(magnitudes, predictions, mask)` terms."""

    sums = ()

    def __init__(self, mask_key="probe_mask", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.mask_key = mask_key
        for sum_name in self.sums:
            setattr(self, sum_name, self.add_variable(shape=(), initializer="zeros", name=sum_name))

    def terms(self, magnitudes, predictions, mask):
        """The batch's contribution to each of `sums`."""
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        terms = self.terms(y_true["magnitudes"], y_pred, y_true[self.mask_key])
        for sum_name, term in zip(self.sums, terms):
            getattr(self, sum_name).assign_add(term)

    def get_config(self):
        config = super().get_config()
        config.update({"mask_key": self.mask_key})
        return config


@keras.saving.register_keras_serializable(package="astromer")
class MaskedRMSEMetric(_MaskedSumsMetric):
    """RMSE over masked steps: sqrt(mean over samples of per-sample MSE)."""

    sums = ("total", "count")

    def __init__(self, mask_key="probe_mask", name="rmse", **kwargs):
        super().__init__(mask_key=mask_key, name=name, **kwargs)

    def terms(self, magnitudes, predictions, mask):
        mse = masked_mse_per_sample(magnitudes, predictions, mask)
        return ops.sum(mse), ops.cast(ops.shape(mse)[0], "float32")

    def result(self):
        return ops.sqrt(ops.where(self.count > 0, self.total / ops.maximum(self.count, 1.0), 0.0))


@keras.saving.register_keras_serializable(package="astromer")
class MaskedR2Metric(_MaskedSumsMetric):
    """Coefficient of determination over masked steps (the original `custom_r2`)."""

    sums = ("ss_res", "ss_tot")

    def __init__(self, mask_key="probe_mask", name="r2", **kwargs):
        super().__init__(mask_key=mask_key, name=name, **kwargs)

    def terms(self, magnitudes, predictions, mask):
        return masked_r2_terms(magnitudes, predictions, mask)

    def result(self):
        return 1.0 - ops.where(self.ss_tot > 0, self.ss_res / ops.maximum(self.ss_tot, 1e-30), 0.0)
