"""Masked-reconstruction training runs: settings, data, checkpoints,
resume, finetuning.

`astromer-train` and `astromer-finetune` build their settings
(`TrainSettings`, `FinetuneSettings`) and call `pretraining.run(settings)`
or `finetuning.run(settings)`; both train with `pretrain()`. The
configuration, the model and its optimizer come from
`astromer.core.factory`; several devices or workers from
`astromer.distribute`; the light curves and the batches `fit` reads from
`astromer.preprocessing.pretraining_data.PretrainingData`. One concept per module:

    settings     TrainSettings, FinetuneSettings, the run folder's config.yaml
    scaling      the batch, learning rate and warm-up that fit the data
    checkpoints  atomic per-epoch checkpoints and finding the latest
    callbacks    throughput logging, resumable early stopping
    loop         pretrain (start or resume, fit) and finish_run
    evaluation   masked and all-observation reconstruction scores
    plots        the learning-curves figure
    pretraining  the astromer-train workflow
    finetuning   the astromer-finetune workflow

The names below are the package's public interface, importable as
`astromer.training.X`. They load on first use, so that the keras-free
modules (settings) can check a command's preset before Keras starts.
"""

_EXPORTS = {
    "callbacks": ("ResumableEarlyStopping", "Throughput"),
    "checkpoints": ("TrainingCheckpoint", "latest_checkpoint"),
    "evaluation": ("evaluate_hidden", "evaluate_masked", "evaluate_reconstruction"),
    "loop": ("finish_run", "pretrain"),
    "scaling": ("fit_to_data",),
    "settings": ("ConfigError", "FinetuneSettings", "TrainSettings"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'astromer.training' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"astromer.training.{_MODULE_OF[name]}"), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
