"""The classifier heads on precomputed pooled features of a frozen backbone."""

import keras
import numpy as np

from astromer.layers.base import check_dropout
from astromer.layers.pooling import LayerMix
from astromer.models.classifier import ClassificationTask, PooledHead, check_head, classification_head


@keras.saving.register_keras_serializable(package="astromer")
class FeatureClassifier(PooledHead, ClassificationTask):
    """The `Classifier` heads on precomputed pooled features of a frozen backbone.

    With a frozen backbone the heads' first steps are linear: the layer mix
    of per-step outputs followed by a masked mean equals the layer mix of
    per-layer masked means. Pooling every layer once
    (`Embedder(layer="all")`) and training only this head on those features
    gives the same model as `Classifier(head="a2"|"linear")`, without running
    the encoder at every epoch (what the few-shot benchmark does).

    Inputs:
    - heads "a2" and "linear": `features` `(batch, num_layers + 1, dim)`,
      the masked means of the input embedding and of every block;
    - heads "max_pool" and "mean_last": `features` `(batch, dim)`.

    Args:
        num_classes: int.
        head: "a2", "linear", "max_pool" or "mean_last" (as `Classifier`).
        feature_shape: `(num_layers + 1, dim)` or `(dim,)`.
        hidden_units, dropout, layer_norm: as `Classifier`.
        standardize: standardise each feature with the training set's mean
            and variance first (call `adapt(train_features)`): the few-shot
            heads train on a few dozen objects, where unscaled features make
            the optimisation erratic.
    """

    input_names = ("features",)

    def __init__(self, num_classes, head="a2", feature_shape=(3, 256), hidden_units=None,
                 dropout=0.0, layer_norm=False, standardize=False, **kwargs):
        num_classes, hidden_units = check_head(num_classes, head, hidden_units)
        feature_shape = tuple(int(v) for v in feature_shape)
        mixed = head in ("a2", "linear")
        if len(feature_shape) != (2 if mixed else 1):
            raise ValueError(
                f"head={head!r} takes features of shape {'(layers, dim)' if mixed else '(dim,)'}, "
                f"got feature_shape={feature_shape}."
            )
        dropout = check_dropout(dropout)
        features = keras.Input(feature_shape, name="features")
        x = features
        if standardize:
            axis = (-2, -1) if mixed else -1
            x = keras.layers.Normalization(axis=axis, name="standardize")(x)
        if mixed:
            embedding = LayerMix(name="layer_mix")([x[:, k] for k in range(feature_shape[0])])
        else:
            embedding = x
        logits = classification_head(embedding, num_classes, hidden_units, dropout, layer_norm)
        super().__init__(inputs={"features": features}, outputs=logits, **kwargs)
        self.keep_head_settings(num_classes, head, hidden_units, dropout, layer_norm)
        self.feature_shape = feature_shape
        self.standardize = bool(standardize)

    def adapt(self, features):
        """Sets the standardisation to the mean and variance of `features`
        (the training set's; with `standardize=True`)."""
        if self.standardize:
            self.get_layer("standardize").adapt(np.asarray(features))

    def validate_inputs(self, inputs):
        if not hasattr(inputs, "keys"):
            inputs = {"features": inputs}
        return {"features": inputs["features"]}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_classes": self.num_classes,
            "head": self.head,
            "feature_shape": list(self.feature_shape),
            "hidden_units": list(self.hidden_units),
            "dropout": self.dropout,
            "layer_norm": self.layer_norm,
            "standardize": self.standardize,
        }
