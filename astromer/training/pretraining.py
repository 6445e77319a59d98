"""The `astromer-train` workflow: settings from a preset (or a run to
resume), the data, the training loop, and the one-line report."""

from astromer.training.data import prepare_data
from astromer.training.loop import pretrain
from astromer.training.settings import config_errors, default_run_dir, resolve_config, resumed_config


def run_pretraining(preset="a2", data=None, overrides=(), out=None, resume=False, strategy="auto",
                    input_path="auto", deterministic=False, quiet=False):
    """Pretrains (or resumes, `resume=True` with `out`) and prints where the
    outputs are. Returns `(run folder, summary dict)`.

    A bad preset, setting, data path or table raises `ConfigError` before
    any training starts; so does a setting that fails when training starts
    (optimizer, strategy).

    Args:
        preset: preset name or YAML file; its `demo` section applies when
            `data` is None (the simulated demo survey).
        data: TFRecord folder, Parquet/CSV table, or None.
        overrides: `section.key=value` settings, applied last.
        out: run folder; default `runs/<config name>-<time>`.
        strategy: see `make_strategy`.
        input_path: "auto", "tfdata" or "numpy" (see `prepare_data`).
        deterministic: see `pretrain`.
        quiet: no progress bar.
    """
    with config_errors():
        if resume:
            config = resumed_config(out, overrides)
        else:
            config = resolve_config(preset, overrides, demo=data is None)
        out = out or default_run_dir(config.get("name", "run"))
        training_data = prepare_data(data, config, out, input_path=input_path)
    summary = pretrain(config, training_data, out, resume=resume, strategy_kind=strategy,
                       verbose=0 if quiet else 1, input_path=input_path, deterministic=deterministic)
    print(f"done: {summary['epochs_run']} epochs, best val_loss {summary['best_val_loss']:.4f} "
          f"(epoch {summary['best_epoch']}); outputs in {out}")
    return out, summary
