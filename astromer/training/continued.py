"""Training a model further on light curves already in memory, kept only
if it beats its starting validation loss: what the few-shot benchmark's
`--finetune self` runs on each split (`astromer-fewshot` gives it to
`astromer.fewshot.run`, since a workflow does not import another)."""

import json
import os


def continue_training(model, config, train, val, out_dir):
    """Trains `model` with masked reconstruction on `train`
    (`PackedLightCurves`), early-stopped on `val`, with `config`'s
    `pretraining` settings, into the run folder `out_dir` (with
    `finetune.json`: the validation loss before, the best after, and which
    model is kept). Returns the trained model, or None when no epoch beats
    the validation loss `model` starts from."""
    from astromer.core.factory import make_optimizer
    from astromer.saving import load_keras
    from astromer.preprocessing.pretraining_data import PretrainingData
    from astromer.training.evaluation import evaluate_masked
    from astromer.training.loop import pretrain

    settings = config["pretraining"]
    model.compile(make_optimizer(settings))
    before = evaluate_masked(model, val, config, settings["batch_size"])["loss"]
    data = PretrainingData("packed", train, val, description="few-shot training objects")
    # Deterministic as when the documented few-shot tables were made, so
    # that reruns reproduce them exactly.
    summary = pretrain(config, data, out_dir, initial_model=model, verbose=0, deterministic=True)
    kept = summary["best_val_loss"] < before
    with open(os.path.join(out_dir, "finetune.json"), "w") as f:
        json.dump({"val_loss_before": before, "best_val_loss": summary["best_val_loss"],
                   "best_epoch": summary["best_epoch"], "kept": kept}, f, indent=2)
    return load_keras(os.path.join(out_dir, "model.keras")) if kept else None
