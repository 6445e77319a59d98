"""The few-shot classification benchmark of the Astromer papers.

For each fold and samples per class, every method is trained on a few
labelled objects and scored by macro-F1 on the fold's test objects
(protocol: `astromer.fewshot.splits`; loop: `astromer.fewshot.protocol`;
settings: `astromer.fewshot.settings`).

Methods (registry: `astromer.fewshot.methods`): heads on a frozen encoder
(`heads`: "a2", "max_pool", "linear", "logreg"); baselines without
pretraining on raw windows (`baselines`: "raw_gru", "emb_gru", "emb_mlp");
hand-crafted light-curve features with a classifier, alone or with the
encoder's embeddings (`features`, `feature_methods`: "features_*"); and
"supervised", encoder and head trained end to end (`supervised`).
Continued pretraining (`--finetune self`) first trains the encoder further
on each fold's training light curves (`continued_pretraining`).

    from astromer import fewshot
    settings = fewshot.fewshot_settings(out="runs/fewshot", methods=("a2", "logreg"))
    frame = fewshot.run(settings, light_curves, labels, model, config)
"""

from astromer.fewshot.baselines import BASELINES, train_baseline, windows_of
from astromer.fewshot.command import run_from_files
from astromer.fewshot.continued_pretraining import continue_pretraining
from astromer.fewshot.encoder_features import EncoderFeatures, EncoderPasses
from astromer.fewshot.features import FeatureReport, light_curve_features, write_feature_table
from astromer.fewshot.heads import FEATURE_HEADS, SEED_STRIDE, train_head
from astromer.fewshot.methods import FAMILIES, FEATURE_METHODS, METHODS, SUPERVISED, Cell, Family, Run, family_of
from astromer.fewshot.protocol import run
from astromer.fewshot.report import markdown_table, summarize
from astromer.fewshot.settings import (VARIANTS, FewshotSettings, HeadSettings, SupervisedSettings, fewshot_settings,
                                       method_settings)
from astromer.fewshot.splits import make_splits, read_splits, reconcile, write_splits
from astromer.fewshot.supervised import train_end_to_end

__all__ = [
    "BASELINES", "FAMILIES", "FEATURE_HEADS", "FEATURE_METHODS", "METHODS", "SEED_STRIDE", "SUPERVISED", "VARIANTS",
    "Cell", "EncoderFeatures", "EncoderPasses", "Family", "FeatureReport", "FewshotSettings", "HeadSettings", "Run",
    "SupervisedSettings", "continue_pretraining", "family_of", "fewshot_settings", "light_curve_features",
    "make_splits", "markdown_table", "method_settings", "read_splits", "reconcile", "run", "run_from_files",
    "summarize", "train_baseline", "train_end_to_end", "train_head", "windows_of", "write_feature_table",
    "write_splits",
]
