"""The registry of few-shot methods: which exist, and which module trains each.

A family is a group of methods trained the same way, in a module that
defines the method names and `score(method, cell, variant)`, which trains one
method on one `Cell` and returns `(predicted, truth, gamma)`: the predicted
and true class indices of the cell's test objects, and the learned
layer-mix weights or None. A new family (e.g. hand-crafted light-curve
features) is one such module and one line in `FAMILIES`.
"""

from dataclasses import dataclass, field
from typing import Callable

from astromer.fewshot import baselines, feature_methods, heads, supervised


@dataclass(frozen=True)
class Family:
    methods: tuple
    score: Callable
    # True: the methods read the encoder's pooled features (`Cell.features`),
    # so they are scored once per feature variant and use the fold's
    # finetuned encoder; False: scored once per cell, encoder untouched.
    reads_encoder: bool
    # False: the methods never touch the model (a run of only such methods
    # needs no weights).
    needs_model: bool = True


FAMILIES = (
    Family(heads.FEATURE_HEADS, heads.score, reads_encoder=True),
    Family(baselines.BASELINES, baselines.score, reads_encoder=False),
    Family(feature_methods.FEATURE_ONLY, feature_methods.score_features, reads_encoder=False, needs_model=False),
    Family(feature_methods.WITH_EMBEDDINGS, feature_methods.score_with_embeddings, reads_encoder=True),
    Family(supervised.SUPERVISED, supervised.score, reads_encoder=False),
)
FEATURE_HEADS = heads.FEATURE_HEADS
BASELINES = baselines.BASELINES
FEATURE_METHODS = feature_methods.FEATURE_ONLY + feature_methods.WITH_EMBEDDINGS
SUPERVISED = supervised.SUPERVISED
METHODS = tuple(method for family in FAMILIES for method in family.methods)


def family_of(method):
    for family in FAMILIES:
        if method in family.methods:
            return family
    raise ValueError(f"Unknown method {method!r}; use one of {list(METHODS)}.")


@dataclass
class Cell:
    """What one (fold, samples per class) cell of the benchmark gives a method."""

    fold: int  # also the seed of every model trained in the cell
    spc: int
    ids: dict  # "train" / "val" / "test" -> object ids (train may repeat ids)
    y_by_id: dict  # object id -> class index
    num_classes: int
    settings: dict  # HEAD_SETTINGS with the run's overrides
    model: object  # the encoder as given (not finetuned); None when no method needs one
    light_curves: list
    bands: list | None
    variants: list
    features: dict = field(default_factory=dict)  # variant -> EncoderFeatures, when a family reads the encoder
    shared: dict = field(default_factory=dict)  # kept for the whole run: what a family computes once
    # The fold's self-supervised finetuned encoder (a Pretrainer) when the
    # run finetunes, else `model`: what supervised finetuning starts from
    # (the protocol always sets it).
    encoder: object = None
    verbose: bool = False  # progress of long fits (supervised finetuning's epochs)
    classes: list | None = None  # class names, by class index
    # Where long fits keep what they finish (supervised seeds'
    # probabilities, read back by a rerun); None keeps nothing.
    out_dir: str | None = None
    # Where per-object features (and the frozen encoder's embeddings) are
    # kept for later runs (`astromer.fewshot.object_cache`); None: memory only.
    cache_dir: str | None = None

    def light_curve(self, oid):
        """The run's light curve of object `oid`."""
        if "by_id" not in self.shared:
            self.shared["by_id"] = {lc.id: lc for lc in self.light_curves}
        return self.shared["by_id"][oid]
