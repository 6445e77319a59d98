"""Masked-reconstruction training runs: configuration, data, checkpoints,
resume, finetuning.

`astromer-train` and `astromer-finetune` are thin command lines over
`run_pretraining()` and `run_finetuning()`; both train with `pretrain()`.
One concept per module:

    settings     ConfigError, resolve_config, the saved config.yaml
    data         TrainingData, prepare_data, the batches `fit` reads
    strategy     backend, TensorFlow or not, distribution strategies
    model        the Pretrainer and optimizer a configuration describes
    checkpoints  atomic per-epoch checkpoints and finding the latest
    callbacks    throughput logging, resumable early stopping
    loop         pretrain (start or resume, fit) and finish_run
    evaluation   masked and all-observation reconstruction scores
    plots        the learning-curves figure
    loading      any pretrained weights -> (Pretrainer, config)
    pretraining  the astromer-train workflow
    finetuning   the astromer-finetune workflow

The names below are the package's public interface, importable as
`astromer.training.X`.
"""

from astromer.training.callbacks import ResumableEarlyStopping, Throughput
from astromer.training.checkpoints import TrainingCheckpoint, latest_checkpoint
from astromer.training.data import (TrainingData, make_inputs, pipeline_config, prepare_data,
                                    resolve_band_names, select_band)
from astromer.training.evaluation import evaluate_masked, evaluate_reconstruction
from astromer.training.finetuning import run_finetuning
from astromer.training.loading import load_for_finetuning, load_weights
from astromer.training.loop import finish_run, pretrain
from astromer.training.model import build_pretrainer, make_optimizer
from astromer.training.pretraining import run_pretraining
from astromer.training.settings import DEMO_DEFAULTS, ConfigError, read_config, resolve_config, write_config
from astromer.training.strategy import make_strategy, tensorflow_available

__all__ = [
    "DEMO_DEFAULTS", "ConfigError", "ResumableEarlyStopping", "Throughput", "TrainingCheckpoint", "TrainingData",
    "build_pretrainer", "evaluate_masked", "evaluate_reconstruction", "finish_run", "latest_checkpoint",
    "load_for_finetuning", "load_weights", "make_inputs", "make_optimizer", "make_strategy", "pipeline_config",
    "prepare_data", "pretrain", "read_config", "resolve_band_names", "resolve_config", "run_finetuning",
    "run_pretraining", "select_band", "tensorflow_available", "write_config",
]
