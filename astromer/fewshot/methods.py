"""The registry of few-shot methods, and what a (fold, samples per class) cell gives them.

A family is a group of methods trained the same way, in a module that
defines the method names and `score(method, cell, variant)`: it trains one
method on one `Cell` and returns `(predicted, truth, gamma)`, the predicted
and true class indices of the cell's test objects and the learned
layer-mix weights or None. A new family is one such module and one line in
`FAMILIES`.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

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
FEATURE_METHODS = feature_methods.FEATURE_ONLY + feature_methods.WITH_EMBEDDINGS
METHODS = tuple(method for family in FAMILIES for method in family.methods)


def family_of(method):
    for family in FAMILIES:
        if method in family.methods:
            return family
    raise ValueError(f"Unknown method {method!r}; use one of {list(METHODS)}.")


@dataclass
class Run:
    """What every cell of a run shares."""

    settings: object  # FewshotSettings
    light_curves: list  # the benchmark's cleaned light curves
    y_by_id: dict  # object id -> class index
    classes: list  # class names, by class index
    model: object = None  # the encoder as given (a Pretrainer); None when no method needs one
    # What a family computes once for the whole run (features, windows, notes).
    shared: dict = field(default_factory=dict)

    @property
    def num_classes(self):
        return len(self.classes)

    def labels(self, ids):
        """Class indices of `ids`; -1 for an object of the table without a
        label (no split row points at one)."""
        return np.array([self.y_by_id.get(i, -1) for i in ids])

    def light_curve(self, oid):
        """The run's light curve of object `oid`."""
        if "by_id" not in self.shared:
            self.shared["by_id"] = {lc.id: lc for lc in self.light_curves}
        return self.shared["by_id"][oid]


@dataclass
class Cell:
    """One (fold, samples per class) cell of a run."""

    run: Run
    fold: int  # also the seed of every model trained in the cell
    spc: int
    ids: dict  # "train" / "val" / "test" -> object ids (train may repeat ids)
    # The fold's encoder after continued pretraining when the run does it,
    # else the run's model: what supervised training starts from.
    encoder: object = None
    features: dict = field(default_factory=dict)  # variant -> EncoderFeatures, when a family reads the encoder
