"""The few-shot classification benchmark of the Astromer papers (docs/fewshot.md).

Protocol: `astromer.fewshot.splits`; loop: `protocol`; settings:
`settings`; the methods and their families: `methods`.

    from astromer import fewshot
    settings = fewshot.fewshot_settings(out="runs/fewshot", methods=("a2", "logreg"))
    frame = fewshot.run(settings, light_curves, labels, model, config)
"""

from astromer.fewshot.baselines import BASELINES, train_baseline, windows_of
from astromer.fewshot.command import run_from_files
from astromer.fewshot.continued_pretraining import continue_pretraining
from astromer.fewshot.encoder_features import EncoderFeatures, EncoderPasses
from astromer.core.features import FeatureReport, light_curve_features, write_feature_table
from astromer.fewshot.heads import FEATURE_HEADS, SEED_STRIDE, train_head
from astromer.fewshot.methods import FAMILIES, FEATURE_METHODS, METHODS, Cell, Family, Run, family_of
from astromer.fewshot.protocol import run
from astromer.fewshot.report import markdown_table, summarize
from astromer.fewshot.settings import (VARIANTS, FewshotSettings, HeadSettings, SupervisedSettings, fewshot_settings,
                                       method_settings)
from astromer.fewshot.splits import make_splits, read_splits, reconcile, write_splits
from astromer.fewshot.supervised import SUPERVISED, train_end_to_end

__all__ = [
    "BASELINES", "FAMILIES", "FEATURE_HEADS", "FEATURE_METHODS", "METHODS", "SEED_STRIDE", "SUPERVISED", "VARIANTS",
    "Cell", "EncoderFeatures", "EncoderPasses", "Family", "FeatureReport", "FewshotSettings", "HeadSettings", "Run",
    "SupervisedSettings", "continue_pretraining", "family_of", "fewshot_settings", "light_curve_features",
    "make_splits", "markdown_table", "method_settings", "read_splits", "reconcile", "run", "run_from_files",
    "summarize", "train_baseline", "train_end_to_end", "train_head", "windows_of", "write_feature_table",
    "write_splits",
]
