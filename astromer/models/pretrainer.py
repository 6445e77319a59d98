"""Masked-reconstruction pretraining task on a backbone."""

import keras
from keras import ops

from astromer import convert
from astromer.layers.heads import ReconstructionHead
from astromer.models.astromer_backbone import AstromerBackbone
from astromer.models.backbone import BackboneTask
from astromer.models.graph_steps import GraphStepsMixin
from astromer.losses import masked_mse_per_sample
from astromer.metrics import MaskedR2Metric, MaskedRMSEMetric


@keras.saving.register_keras_serializable(package="astromer")
class Pretrainer(BackboneTask, GraphStepsMixin, keras.Model):
    """A backbone plus a reconstruction head, trained to predict probed magnitudes.

    Inputs are the backbone's inputs; the output is the reconstructed
    magnitude per step, `(batch, window_size)`. Targets are dicts with
    `magnitudes`, `probe_mask` and, for the uncertainty-weighted loss,
    `loss_weight` (what `astromer.data` pipelines yield). `fit` reports
    `loss`, `rmse` and `r2`, the last two on probed steps and unweighted.

    Args:
        backbone: an `AstromerBackbone` or `AstroCoBackbone`.
        uncertainty_weighted: bool. Astromer 2 loss (Eq. 5) instead of the
            plain masked RMSE (Astromer 1, Eq. 4; AstroCo).

    Example:
    >>> model = Pretrainer(AstromerBackbone.from_preset("a2"), uncertainty_weighted=True)
    >>> model.compile(keras.optimizers.Adam(1e-3, beta_2=0.98))
    >>> model.fit(train_windows, validation_data=val_windows)
    """

    # Set for steps run on several replicas at once (TensorFlow strategies:
    # `astromer.distribute.global_batch_loss`): `(*values) -> (values summed
    # over the replicas, number of replicas)`. None: the step's batch is the
    # global batch (one device; JAX's data-parallel step).
    sum_over_replicas = None

    def __init__(self, backbone, uncertainty_weighted=False, **kwargs):
        inputs = backbone.make_inputs(backbone.window_size)
        sequence = backbone(inputs)["sequence_output"]
        # Functional backbones keep their dtype policy in `layer_dtype`.
        reconstruction = ReconstructionHead(
            dtype=getattr(backbone, "layer_dtype", None) or backbone.dtype_policy,
            name="reconstruction_head",
        )(sequence)
        super().__init__(inputs=inputs, outputs=reconstruction, **kwargs)
        self.backbone = backbone
        self.uncertainty_weighted = bool(uncertainty_weighted)
        self.rmse_metric = MaskedRMSEMetric(name="rmse")
        self.r2_metric = MaskedR2Metric(name="r2")

    @property
    def reconstruction_head(self):
        return self.get_layer("reconstruction_head")

    def with_settings(self, **overrides):
        """A copy with the same weights and some backbone settings changed
        (e.g. `dropout=0.0`); a copy with none changed when called bare.

        `keras.models.clone_model` would rebuild this subclassed functional
        model as a plain `Functional`, losing the task API; the config round
        trip keeps the class. Raises ValueError when `overrides` change the
        architecture so that the weights no longer fit.
        """
        config = self.get_config()
        config["backbone"]["config"].update(overrides)
        changed = type(self).from_config(config)
        changed.set_weights(self.get_weights())
        return changed

    def with_bands(self, band_names, **overrides):
        """This model made joint multi-band (`Backbone.with_bands`), with the
        same reconstruction head: it starts as exactly this model."""
        joint = Pretrainer(self.backbone.with_bands(band_names, **overrides),
                           uncertainty_weighted=self.uncertainty_weighted)
        joint.reconstruction_head.set_weights(self.reconstruction_head.get_weights())
        return joint

    def compile(self, optimizer="adam", **kwargs):
        if kwargs.get("loss") is not None:
            raise ValueError(
                "Pretrainer computes its own masked loss; set `uncertainty_weighted` "
                "instead of passing `loss`."
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for models with their own `compile`; without it a
        # reloaded checkpoint would lose its optimizer state.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # sqrt(mean over samples) does not split across replicas: the
        # per-sample MSEs and counts are summed over all replicas first, so
        # every replica sees the loss of the global batch (gradients of the
        # all-reduce carry the other replicas' share). One device: the same
        # number as `MaskedRMSE`.
        weights = y["loss_weight"] if self.uncertainty_weighted else None
        per_sample = masked_mse_per_sample(y["magnitudes"], y_pred, y["probe_mask"], weights)
        sums, replicas = (ops.sum(per_sample), ops.cast(ops.shape(per_sample)[0], "float32")), 1
        if self.sum_over_replicas is not None:
            sums, replicas = self.sum_over_replicas(*sums)
        total, count = sums
        loss = ops.sqrt(total / count)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        # Keras sums the replicas' gradients and un-scales the loss it
        # reports: each replica returns its share (as Keras' own losses do).
        return loss if replicas == 1 else loss / replicas

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.rmse_metric.update_state(y, y_pred)
        self.r2_metric.update_state(y, y_pred)
        return self.get_metrics_result()

    @classmethod
    def from_original_checkpoint(cls, path, preset=None, uncertainty_weighted=None, **overrides):
        """Loads an original Astromer checkpoint (TF checkpoint or legacy .h5).

        Args:
            path: TF checkpoint folder or prefix, or a legacy `.h5` file
                (formats: `astromer.convert`).
            preset: "a1-original" or "a2-original"; read from the
                `conf.json` / `config.json` next to the weights when not given.
            uncertainty_weighted: loss of the returned task (default: the
                original `correct_loss`, False for Astromer 1).
            **overrides: backbone settings to change, e.g. `mask_token=True`
                for the "as intended" Astromer 2 behaviour or `mask_alpha=-1e9`.

        Raises ValueError naming missing, extra or mis-shaped variables when
        the weights do not fit the architecture.
        """
        checkpoint = convert.read_original(path, preset=preset, **overrides)
        if uncertainty_weighted is None:
            uncertainty_weighted = checkpoint.correct_loss
        model = cls(AstromerBackbone(**checkpoint.model_config), uncertainty_weighted=uncertainty_weighted)
        convert.assign_original_weights(model, checkpoint.arrays, source=checkpoint.source)
        return model

    def get_config(self):
        return self.backbone_task_config(uncertainty_weighted=self.uncertainty_weighted)
