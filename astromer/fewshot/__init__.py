"""The few-shot classification benchmark of the Astromer papers.

For each fold and samples per class, every method is trained on a few
labelled objects and scored by macro-F1 on the fold's test objects
(protocol: `astromer.fewshot.splits`; loop: `astromer.fewshot.protocol`).

Methods (registry: `astromer.fewshot.methods`):

- heads on a frozen encoder, trained on pooled features
  (`astromer.fewshot.heads`): "a2", "max_pool", "linear", "logreg";
- supervised baselines on raw windows, no pretraining
  (`astromer.fewshot.baselines`): "raw_gru", "emb_gru", "emb_mlp";
- hand-crafted light-curve features (`astromer.fewshot.features`, the
  `light-curve` package) with a classifier, alone ("features_rf",
  "features_hgb", "features_logreg") or with the encoder's embeddings
  ("features_emb_rf", "features_emb_hgb", "features_emb_mlp",
  "features_emb_stack", "features_emb_blend";
  `astromer.fewshot.feature_methods`);
- "supervised": encoder and head finetuned end to end with cross-entropy
  (`astromer.fewshot.supervised`).

With `finetune=True` the encoder is first trained on the training light
curves of the fold with the pretraining objective, then frozen
(`astromer.fewshot.finetune`).

    from astromer import fewshot
    frame = fewshot.run(light_curves, labels, model, config, "runs/fewshot")
"""

from astromer.fewshot.baselines import BASELINES, train_baseline, windows_of
from astromer.fewshot.command import UsageError, run_from_files
from astromer.fewshot.encoder_features import VARIANTS, EncoderFeatures
from astromer.fewshot.features import FeatureReport, light_curve_features, write_feature_table
from astromer.fewshot.finetune import FINETUNE_LEARNING_RATE, finetune_encoder
from astromer.fewshot.heads import FEATURE_HEADS, HEAD_SETTINGS, SEED_STRIDE, head_optimizer, train_head
from astromer.fewshot.methods import FAMILIES, FEATURE_METHODS, METHODS, SUPERVISED, Cell, Family, family_of
from astromer.fewshot.protocol import check_options, run
from astromer.fewshot.report import markdown_table, summarize
from astromer.fewshot.splits import make_splits, read_splits, reconcile, write_splits
from astromer.fewshot.supervised import SUPERVISED_SETTINGS, finetune_supervised

__all__ = [
    "BASELINES", "FAMILIES", "FEATURE_HEADS", "FEATURE_METHODS", "FeatureReport", "SUPERVISED",
    "SUPERVISED_SETTINGS", "finetune_supervised", "light_curve_features", "write_feature_table", "FINETUNE_LEARNING_RATE", "HEAD_SETTINGS", "METHODS", "SEED_STRIDE",
    "VARIANTS", "Cell", "EncoderFeatures", "Family", "UsageError", "check_options", "family_of",
    "finetune_encoder", "head_optimizer", "make_splits", "markdown_table", "read_splits", "reconcile", "run",
    "run_from_files", "summarize", "train_baseline", "train_head", "windows_of", "write_splits",
]
