"""The `astromer-finetune` workflow: load pretrained weights, score the
reconstruction on the target survey, continue training on it, score again.

Before and after training, the reconstruction RMSE and R2 on the target
test split are computed on the hidden steps (probes the model cannot see:
the number that cannot be won by copying) and on all observations without
masking (Astromer 2 paper, Sect. 5.2); both, named, and the time taken go to
`finetune.json` in the run folder.

The batch, learning rate and warm-up not given with `--set` follow the
target's training split, from the weights' own batch and rate (the rule of
`astromer.training.scaling`), and are checked before the "before" scores.
"""

import json
import os
import time

from astromer.compat import resolve_compat
from astromer.core.factory import config_errors
from astromer.core.loading import load_for_finetuning
from astromer.preprocessing.pretraining_data import PretrainingData
from astromer.distribute import make_distribution
from astromer.saving import load_keras
from astromer.training.checkpoints import write_json_atomically
from astromer.training.evaluation import evaluate_hidden, evaluate_reconstruction
from astromer.training.loop import finished_run, pretrain
from astromer.training.scaling import fit_to_data, without_rule_keys
from astromer.training.settings import check_new_run_dir, default_run_dir, resumed_config


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


def run(settings):
    """Finetunes `settings.weights` on `settings.data` (a `FinetuneSettings`)
    and prints the scores before and after. Returns the report written to
    `finetune.json`.

    Unreadable weights, settings or data, and a batch the data does not
    fill, raise `ConfigError` before any evaluation or training, and before
    the run folder is created. `resume` continues the run in `out` with its
    saved settings (and `pretraining.epochs` from `overrides`); a finished
    one not given more epochs says so in one line and returns its
    finetune.json.
    """
    weights, data, overrides = settings.weights, settings.data, settings.overrides
    out = settings.out or default_run_dir("finetune")
    with config_errors():
        # The run's own settings when resuming a run that has them (a run
        # killed before its config.yaml was written starts afresh).
        saved = None
        if not settings.resume:
            check_new_run_dir(out)
        elif os.path.exists(os.path.join(out, "config.yaml")):
            saved = resumed_config(out, overrides)
            finished = finished_run(out, saved)
            report = os.path.join(out, "finetune.json")
            if finished and os.path.exists(report):  # else killed before its scores: resuming finishes it
                print(finished[0])
                with open(report) as f:
                    return json.load(f)
        model, config = load_for_finetuning(weights, settings.preset, without_rule_keys(overrides))
        # A resumed run reads its light curves as it was started (its config's compat).
        compat = (((saved.get("data") or {}).get("compat") or "default") if saved is not None
                  else resolve_compat(settings.compat, model.backbone))
        config.setdefault("data", {})["compat"] = compat
        print(f"compat {compat}: " + ("errors outside (0, 1) kept, float32-first centring (the original code's, "
              "as astromer-embed reads these weights)" if compat == "original"
              else "errors in (0, 1), float64 centring (the papers')"))
        training_data = PretrainingData.open(data, config)
        distribution = make_distribution(settings.strategy)
        if saved is not None:
            config = saved  # the settings it was fitted with
        else:
            # The weights' batch and rate are the reference the rule scales
            # from; a warm-up the rule gave their run (its first epoch) is
            # not theirs to keep: the rule sizes it again for this data.
            if (config.get("run") or {}).get("settings_from", {}).get("warmup_steps") == "rule":
                config["pretraining"]["warmup_steps"] = 0
            config["run"] = {"data": os.path.abspath(data), "weights": os.fspath(weights)}
            print(fit_to_data(config, overrides, training_data.train_size, distribution.replicas,
                              reference="the weights' settings"))
    if training_data.test is None:
        print("astromer-finetune: note: the data has no test split; reporting on the validation split")
    target = training_data.test if training_data.test is not None else training_data.val
    batch = int(config["pretraining"]["batch_size"])
    before = scores(model, target, config, batch)
    print(f"before finetuning: {describe(before)}")
    start = time.time()
    summary = pretrain(config, training_data, out, resume=settings.resume, verbose=0 if settings.quiet else 1,
                       initial_model=model, deterministic=settings.deterministic, distribution=distribution)
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
