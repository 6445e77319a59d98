"""The `astromer-finetune` workflow: load pretrained weights, score the
reconstruction on the target survey, continue training on it, score again.

Before and after training, the reconstruction RMSE and R2 on the target
test split are computed on the hidden steps (probes the model cannot see:
the number that cannot be won by copying) and on all observations without
masking (Astromer 2 paper, Sect. 5.2); both, named, and the time taken go to
`finetune.json` in the run folder.
"""

import os
import time

from astromer.saving import load_keras
from astromer.training.checkpoints import write_json_atomically
from astromer.training.data import prepare_data
from astromer.training.evaluation import evaluate_hidden, evaluate_reconstruction
from astromer.training.loading import load_for_finetuning
from astromer.training.loop import pretrain
from astromer.training.settings import check_new_run_dir, config_errors, default_run_dir


def scores(model, split, config, batch):
    """The reconstruction before or after finetuning, by the steps it is
    computed on (see `astromer.training.evaluation`)."""
    return {"hidden_steps": evaluate_hidden(model, split, config, batch),
            "all_observations": evaluate_reconstruction(model, split, config, batch)}


def describe(result):
    hidden, every = result["hidden_steps"], result["all_observations"]
    return (f"test RMSE {hidden['rmse']:.4f}, R2 {hidden['r2']:.4f} on hidden steps "
            f"({hidden['hidden_steps']:,} probes the model cannot see); "
            f"RMSE {every['rmse']:.4f}, R2 {every['r2']:.4f} on all observations (no masking)")


def run_finetuning(weights, data, preset=None, overrides=(), out=None, resume=False, strategy="auto",
                   deterministic=False, quiet=False):
    """Finetunes `weights` on `data` and prints the scores before and after.
    Returns the report written to `finetune.json`.

    Unreadable weights, settings or data raise `ConfigError` before any
    evaluation or training.

    Args:
        weights: run folder, `.keras` model, original checkpoint, or
            `.weights.h5` with `preset` (see `load_for_finetuning`).
        data: TFRecord folder (train/ val/ test/) or Parquet/CSV table.
        overrides: `section.key=value` settings; `model.*` ones where the
            weights still fit.
        out: run folder; default `runs/finetune-<time>`.
    """
    out = out or default_run_dir("finetune")
    with config_errors():
        if not resume:
            check_new_run_dir(out)
        model, config = load_for_finetuning(weights, preset, overrides)
        training_data = prepare_data(data, config, out)
    if training_data.test is None:
        print("astromer-finetune: note: the data has no test split; reporting on the validation split")
    target = training_data.test if training_data.test is not None else training_data.val
    batch = int(config["pretraining"]["batch_size"])
    before = scores(model, target, config, batch)
    print(f"before finetuning: {describe(before)}")
    start = time.time()
    summary = pretrain(config, training_data, out, resume=resume, strategy_kind=strategy,
                       verbose=0 if quiet else 1, initial_model=model, deterministic=deterministic)
    seconds = time.time() - start
    # The run's final model (best weights) from its folder: after a resume
    # the model trained is the checkpoint's, not `model`.
    model = load_keras(os.path.join(out, "model.keras"))
    after = scores(model, target, config, batch)
    report = {"weights": weights, "data": data, "before": before, "after": after,
              "finetuning_seconds": round(seconds, 1), "epochs_run": summary["epochs_run"]}
    write_json_atomically(os.path.join(out, "finetune.json"), report)
    print(f"after finetuning:  {describe(after)}; {seconds:.0f} s; outputs in {out}")
    return report
