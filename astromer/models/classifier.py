"""Light-curve classification on a (frozen) backbone, and what the baselines share with it."""

import keras
import numpy as np

from astromer.layers.base import check_choice, check_dropout, check_positive_int
from astromer.layers.pooling import LayerMix, MaskedMaxPooling, MaskedMeanPooling, PerBandPooling
from astromer.models.backbone import Backbone, BackboneTask
from astromer.models.graph_steps import GraphStepsMixin

HEADS = ("a2", "max_pool", "linear", "mean_last")
# Hidden layers of the Astromer 2 classifier MLP (paper Sect. 5.4, Fig. 10).
A2_HIDDEN_UNITS = (1024, 512, 256)


def check_num_classes(num_classes):
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(
            f"`num_classes` must be an integer >= 2 (one logit per class), got {num_classes!r}."
        )
    return int(num_classes)


def check_hidden_units(hidden_units):
    if isinstance(hidden_units, (int, float, str)):
        raise ValueError(
            f"`hidden_units` must be a list of layer sizes, e.g. [1024, 512, 256], got {hidden_units!r}."
        )
    return tuple(check_positive_int("hidden_units", units) for units in hidden_units)


def check_head(num_classes, head, hidden_units):
    """Checked `(num_classes, hidden_units)` of a head of kind `head` (one
    of `HEADS`); `hidden_units=None` is that head's default."""
    num_classes = check_num_classes(num_classes)
    check_choice("head", head, HEADS)
    if hidden_units is None:
        hidden_units = () if head == "linear" else A2_HIDDEN_UNITS
    return num_classes, check_hidden_units(hidden_units)


def classification_head(x, num_classes, hidden_units=(), dropout=0.0, layer_norm=False, dtype=None):
    """MLP on a pooled embedding `(batch, dim)` -> logits `(batch, num_classes)`.

    Per hidden size: (Dropout) -> Dense + ReLU, named `head_dense_{i}`;
    then an optional LayerNormalization, (Dropout) and a linear `logits`
    layer. Dropout layers exist only when `dropout > 0`; they hold no weights,
    so checkpoints do not depend on it. The logits layer runs in float32 also
    under mixed precision, so the softmax cross-entropy sees float32.
    """
    for i, units in enumerate(hidden_units):
        if dropout:
            x = keras.layers.Dropout(dropout, dtype=dtype, name=f"head_dropout_{i}")(x)
        x = keras.layers.Dense(units, activation="relu", dtype=dtype, name=f"head_dense_{i}")(x)
    if layer_norm:
        x = keras.layers.LayerNormalization(dtype=dtype, name="head_layer_norm")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, dtype=dtype, name=f"head_dropout_{len(hidden_units)}")(x)
    return keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)


class _ModelCache:
    """Holds a derived model. A plain object, so Keras neither tracks nor saves it."""

    model = None


@keras.saving.register_keras_serializable(package="astromer")
class ClassificationTask(GraphStepsMixin, keras.Model):
    """Base of the models that map a dict of windows to class logits.

    Not used directly: see `Classifier` and `astromer.models.baselines`. It
    adds the `compile()` defaults of every classification model and the
    backbones' readable input checks (names, `(batch, window_size)` shapes,
    NaN/inf in NumPy input; the original `(batch, steps, 1)` layout is
    squeezed, and extra keys such as `errors` are dropped).

    Targets are integer class labels `(batch,)`; the model outputs logits.
    """

    input_names = ("magnitudes", "times", "padding_mask", "hidden_mask")
    finite_inputs = Backbone.finite_inputs
    validate_inputs = Backbone.validate_inputs

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self.validate_inputs(inputs), *args, **kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """`"auto"` values: Adam with learning rate 1e-3 (the Keras default; the
        papers do not state the classifier's), sparse categorical cross-entropy
        on logits, and accuracy (reported as `accuracy`).
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = keras.optimizers.Adam(learning_rate=1e-3)
        if isinstance(loss, str) and loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if isinstance(metrics, str) and metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # `compile()` takes the stock arguments, so a saved compile config can
        # be replayed as Keras does for models that keep the stock `compile()`.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @classmethod
    def from_config(cls, config):
        # The graph is rebuilt from the constructor arguments, not from a
        # serialized functional graph.
        return cls(**config)


class PooledHead:
    """Mixin of `Classifier` and `FeatureClassifier`: the settings of their
    head (`head`, one of `HEADS`, and the MLP) and its layer-mix weights."""

    def keep_head_settings(self, num_classes, head, hidden_units, dropout, layer_norm):
        self.num_classes = num_classes
        self.head = head
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.layer_norm = bool(layer_norm)

    def gamma_weights(self):
        """Normalised layer-mix weights `(num_layers + 1,)` as a NumPy array
        (index 0: input embedding), or `None` for heads without a mix.
        """
        if self.head not in ("a2", "linear"):
            return None
        return keras.ops.convert_to_numpy(self.get_layer("layer_mix").normalized_weights())


@keras.saving.register_keras_serializable(package="astromer")
class Classifier(BackboneTask, PooledHead, ClassificationTask):
    """A backbone plus a classification head: windows -> class logits.

    Inputs are the backbone's inputs (`magnitudes`, `times`, `padding_mask`,
    `hidden_mask` of shape `(batch, window_size)`, plus `errors` for AstroCo;
    `hidden_mask` is all zeros for classification). The output is logits
    `(batch, num_classes)`; targets are integer labels. Padded steps are
    pooled out; with the `*-original` soft attention mask (A1's
    `mask_alpha=1`) they still reach real steps through attention.

    Heads (`head`):

    - `"a2"`: Astromer 2 (paper Sect. 5.4, Fig. 10): a trainable softmax
      mix (`LayerMix`, the gammas of Fig. 13) of the input embedding and
      every block output, averaged over real steps, then an MLP
      (`hidden_units`, ReLU) and a linear logits layer.
    - `"max_pool"`: the A2 ablation (Sect. 5.5, Fig. 18): max over real
      steps of the last block's output, then the same MLP.
    - `"mean_last"`: mean over real steps of the last block's output, then
      the same MLP (the A1-style per-sample embedding).
    - `"linear"`: AstroCo (paper Sects. 3.3-3.4): `LayerMix`, mean over real
      steps, then a single linear logits layer (no hidden layers).

    The backbone is frozen by default, as in both papers: only the head
    learns. Freezing sets `backbone.trainable = False`; as in Keras and in
    the authors' code, a frozen backbone still applies its dropout during
    `fit` (build it with `dropout=0` for noise-free embeddings).

    Args:
        backbone: an `AstromerBackbone` or `AstroCoBackbone`.
        num_classes: int >= 2.
        head: one of "a2", "max_pool", "linear", "mean_last".
        hidden_units: list of ints. Hidden layers of the MLP; default
            `[1024, 512, 256]` (A2), and none (must be empty) for "linear".
        dropout: float in [0, 1). Dropout before every dense layer of the head.
        layer_norm: bool. LayerNormalization after the last hidden layer, as
            in the authors' A2 classifier code (the paper does not mention it).
        freeze_backbone: bool. Whether the backbone's weights are frozen;
            assigning `model.freeze_backbone = False` unfreezes it (compile again).
        standardize: bool. Standardise the pooled embedding with the training
            windows' mean and variance (call `adapt(train_windows)` before
            fitting) before the MLP. Raw Astromer 1 embeddings of different
            objects are nearly parallel (cosine 0.997 and more on EROS-1); an
            MLP on them barely moves from chance with few labels.
        per_band: bool. Joint multi-band backbones only: pool each band's
            steps separately and concatenate (`PerBandPooling`), as
            `Embedder(per_band=True)`; the MLP reads `bands * dim`.

    Example:
    >>> backbone = AstromerBackbone.from_preset("a2")   # then load weights
    >>> model = Classifier(backbone, num_classes=6, head="a2")
    >>> model.compile()
    >>> model.fit(windows, labels, epochs=100)
    >>> model.gamma_weights()      # (num_layers + 1,) for Fig. 13
    >>> model.embed(windows)       # (batch, hidden_dim) pooled embeddings

    References: Donoso-Oliva et al. 2025, Astromer 2, Sects. 5.4-5.5;
    AstroCo, Sects. 3.3-3.4.
    """

    def __init__(
        self,
        backbone,
        num_classes,
        head="a2",
        hidden_units=None,
        dropout=0.0,
        layer_norm=False,
        freeze_backbone=True,
        standardize=False,
        per_band=False,
        **kwargs,
    ):
        if not isinstance(backbone, Backbone):
            raise TypeError(
                "`backbone` must be an astromer backbone (e.g. AstromerBackbone), "
                f"got {type(backbone).__name__}."
            )
        num_classes, hidden_units = check_head(num_classes, head, hidden_units)
        if head == "linear" and hidden_units:
            raise ValueError(
                f"head='linear' has no hidden layers, got hidden_units={list(hidden_units)}; "
                "use head='a2' for the layer mix plus an MLP."
            )
        dropout = check_dropout(dropout)
        num_bands = len(getattr(backbone, "band_names", None) or ())
        if per_band and not num_bands:
            raise ValueError("per_band=True needs a joint multi-band backbone (one with band_names); "
                             "this one reads a single band: use per_band=False.")
        if freeze_backbone:
            backbone.trainable = False

        # Head layers follow the backbone's dtype policy (mixed precision);
        # functional backbones keep it in `layer_dtype`, not `dtype_policy`.
        dtype = getattr(backbone, "layer_dtype", None) or backbone.dtype_policy
        inputs = backbone.make_inputs(backbone.window_size)
        outputs = backbone(inputs)
        if head in ("a2", "linear"):
            sequence = LayerMix(dtype=dtype, name="layer_mix")(
                [outputs["input_embedding"], *outputs["block_outputs"]]
            )
        else:
            sequence = outputs["sequence_output"]
        if per_band:
            embedding = PerBandPooling(num_bands, "max" if head == "max_pool" else "mean", dtype=dtype,
                                       name="pooling")(sequence, inputs["padding_mask"], inputs["bands"])
        else:
            pooling = MaskedMaxPooling if head == "max_pool" else MaskedMeanPooling
            embedding = pooling(dtype=dtype, name="pooling")(sequence, inputs["padding_mask"])
        if standardize:
            # float32: the mean/variance statistics are not kept in bf16.
            embedding = keras.layers.Normalization(axis=-1, dtype="float32", name="standardize")(embedding)
        logits = classification_head(
            embedding, num_classes, hidden_units, dropout, layer_norm, dtype=dtype
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        self.backbone = backbone
        self.keep_head_settings(num_classes, head, hidden_units, dropout, layer_norm)
        self.standardize = bool(standardize)
        self.per_band = bool(per_band)
        self._embedding_cache = _ModelCache()

    def adapt(self, inputs, batch_size=256):
        """With `standardize=True`: sets the standardisation to the mean and
        variance of the pooled embeddings of `inputs` (the training windows)."""
        if self.standardize:
            embeddings = self.embed(inputs, batch_size=batch_size)
            self.get_layer("standardize").adapt(np.asarray(embeddings, np.float32))

    # The inputs and window of the backbone (used by `validate_inputs`).
    @property
    def input_names(self):
        return tuple(self.backbone.input_names)

    @property
    def window_size(self):
        return self.backbone.window_size

    @property
    def freeze_backbone(self):
        return not self.backbone.trainable

    @freeze_backbone.setter
    def freeze_backbone(self, value):
        self.backbone.trainable = not bool(value)

    def embedding_model(self):
        """A functional model, sharing this model's layers and weights, from the
        inputs to the pooled embedding `(batch, dim)` the head's MLP reads.
        """
        return keras.Model(
            self.input, self.get_layer("pooling").output, name=f"{self.name}_embedding"
        )

    def embed(self, inputs, batch_size=None, verbose=0):
        """Pooled embeddings `(batch, dim)` of windows (a dict of arrays or a
        dataset), as a NumPy array: the per-sample embedding of the A2 paper.
        """
        if hasattr(inputs, "keys"):
            inputs = self.validate_inputs(inputs)
        # One cached model, so repeated calls reuse its compiled predict step.
        if self._embedding_cache.model is None:
            self._embedding_cache.model = self.embedding_model()
        return self._embedding_cache.model.predict(inputs, batch_size=batch_size, verbose=verbose)

    def get_config(self):
        return self.backbone_task_config(
            num_classes=self.num_classes,
            head=self.head,
            hidden_units=list(self.hidden_units),
            dropout=self.dropout,
            layer_norm=self.layer_norm,
            freeze_backbone=self.freeze_backbone,
            standardize=self.standardize,
            per_band=self.per_band,
        )
