"""The `astromer-fewshot` workflow from files: read, clean, run, plot.

`run_from_files` is what the command does after parsing its arguments; the
command line only maps `UsageError` to exit code 2.
"""

import os

from astromer.fewshot.methods import METHODS
from astromer.fewshot.protocol import check_options, run


class UsageError(ValueError):
    """A bad option or unreadable input, found before any training: the
    command prints it and exits with 2 (errors of the run itself are not
    this)."""


def run_from_files(data, labels, out="runs/fewshot", weights=None, preset=None, band=None, bands=None,
                   variant=("single",), spcs=(20, 100, 500), folds=3, only_folds=None, splits_dir=None,
                   methods=("a2", "max_pool", "linear", "logreg"), finetune=False, finetune_epochs=10,
                   finetune_learning_rate=1e-4, finetune_dropout=0.0, epochs=300, head_seeds=1,
                   attention_maps=0, periods=None):
    """Runs the benchmark on a light-curve table (`data`) and a label CSV
    (`labels`, id,label) with the encoder of `weights` (or a random one of
    `preset`, "a2" by default); writes everything to `out` and prints the
    summary. `attention_maps` > 0 also draws that many test objects' attention
    maps per class, folded by the periods of the CSV `periods` (id,period).
    Returns the per-fold results (`run`'s DataFrame).

    Raises UsageError for bad options or input files (before any training).
    """
    from astromer import training
    from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves, read_labels

    try:
        check_options(folds, only_folds, head_seeds)
    except ValueError as error:
        raise UsageError(str(error)) from error
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise UsageError(f"unknown method(s) {unknown}; use {list(METHODS)}")
    try:
        label_of = read_labels(labels)
        if weights:
            model, config = training.load_for_finetuning(weights, preset)
        else:
            config = training.resolve_config(preset or "a2")
            model = training.build_pretrainer(config)
        cleaning = CleaningReport()
        light_curves = list(clean_light_curves(iter_light_curves(data), CleaningConfig(min_observations=1), cleaning))
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from error
    print(cleaning.summary())
    frame = run(
        light_curves, label_of, model, config, out, methods=methods, spcs=spcs, folds=folds,
        splits_dir=splits_dir, band=band, finetune=finetune, finetune_epochs=finetune_epochs,
        head_settings={"epochs": epochs, "seeds": head_seeds}, label_suffix=" (finetuned)" if finetune else "",
        variant=variant, bands=bands, finetune_learning_rate=finetune_learning_rate,
        finetune_dropout=finetune_dropout, only_folds=only_folds,
    )
    with open(os.path.join(out, "summary.md")) as f:
        print(f.read())
    if attention_maps:
        draw_attention_maps(model.backbone, light_curves, label_of, out, attention_maps, band, periods)
    print(f"outputs in {out}")
    return frame


def draw_attention_maps(backbone, light_curves, labels, out, per_class, band=None, periods=None):
    """Attention maps of the first `per_class` light curves of each class
    (only `band`'s observations when given), folded by the periods of the
    CSV `periods` (id and one period column) where it has them."""
    import pandas as pd

    from astromer.fewshot import plots

    period_of = {}
    if periods:
        p = pd.read_csv(periods, dtype={"id": str})
        period_of = dict(zip(p["id"], p[[c for c in p.columns if c != "id"][0]]))
    by_class = {}
    for lc in light_curves:
        label = labels.get(lc.id)
        if label is not None and len(by_class.setdefault(str(label), [])) < per_class:
            if band is not None and lc.band is not None:
                keep = lc.band.astype(str) == band
                lc = type(lc)(lc.id, lc.time[keep], lc.mag[keep], lc.err[keep])
            by_class[str(label)].append(lc)
    for label, lcs in by_class.items():
        for lc in lcs:
            plots.attention_maps(backbone, lc, os.path.join(out, f"attention_{label}_{lc.id}.png"),
                                 period=period_of.get(lc.id), title=f"{label} {lc.id}")
