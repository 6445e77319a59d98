"""Masked-reconstruction training runs: configuration, data, checkpoints,
resume, finetuning.

`astromer-train` and `astromer-finetune` are thin command lines over
`run_pretraining()` and `run_finetuning()`; both train with `pretrain()`.
One concept per module:

    settings     ConfigError, resolve_config, the saved config.yaml
    scaling      the batch, learning rate and warm-up that fit the data
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
`astromer.training.X`. They load on first use, so that the keras-free
modules (settings) can check a command's preset before Keras starts.
"""

_EXPORTS = {
    "callbacks": ("ResumableEarlyStopping", "Throughput"),
    "checkpoints": ("TrainingCheckpoint", "latest_checkpoint"),
    "data": ("TrainingData", "make_inputs", "pipeline_config", "prepare_data", "resolve_band_names", "select_band"),
    "evaluation": ("evaluate_hidden", "evaluate_masked", "evaluate_reconstruction"),
    "finetuning": ("run_finetuning",),
    "loading": ("load_for_finetuning", "load_weights"),
    "loop": ("finish_run", "pretrain"),
    "model": ("build_pretrainer", "make_optimizer"),
    "pretraining": ("run_pretraining",),
    "scaling": ("fit_to_data",),
    "settings": ("DEMO_DEFAULTS", "ConfigError", "read_config", "resolve_config", "write_config"),
    "strategy": ("make_strategy", "tensorflow_available"),
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
