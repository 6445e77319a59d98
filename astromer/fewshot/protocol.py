"""The benchmark loop: every method on every (fold, samples per class) cell.

Methods are trained on the train rows of a cell's split (repeats kept),
stopped early on the val rows, and scored by macro-F1 on the test rows;
results are mean and std (ddof=0) over folds. With continued pretraining
(`--finetune self`) each cell's encoder is first trained further on its
training light curves, then frozen. Which methods exist and how each is
trained: `astromer.fewshot.methods`.
"""

import dataclasses
import json
import os
import time

import numpy as np
import pandas as pd

from astromer.fewshot import report
from astromer.fewshot.continued_pretraining import continue_pretraining
from astromer.fewshot.encoder_features import EncoderFeatures, EncoderPasses
from astromer.fewshot.feature_methods import run_features
from astromer.fewshot.methods import FEATURE_METHODS, Cell, Run, family_of
from astromer.fewshot.splits import reconcile, splits_for
from astromer.fewshot.supervised import SUPERVISED
from astromer.progress import progress

TSNE_OBJECTS = 500


def run(settings, light_curves, labels, model=None, config=None, encoder_light_curves=None, trainer=None):
    """Runs the benchmark `settings` describe on `light_curves` (the
    benchmark's cleaned ones) with `labels` ({id: label}) and writes its
    files to `settings.out`. Returns a DataFrame (method, spc, fold,
    macro_f1, seconds, and `f1_<class>` per class).

    `model` (a `Pretrainer`, `config` its training configuration) may be
    None when every method works without an encoder. The encoder reads
    `encoder_light_curves` (default: `light_curves`) through the `Embedder`
    with `settings.compat`; every other method reads `light_curves`. Only
    the objects of the cells run are featurised and embedded, each once.
    `trainer`: what trains the encoder further under continued pretraining
    (`astromer.training.continued.continue_training`).
    """
    # Each method runs once per cell, a method reading the encoder once per variant.
    jobs = [(m, v) for m in settings.methods for v in (settings.variants if family_of(m).reads_encoder else [None])]
    reads_encoder = any(v is not None for _, v in jobs)
    needs_model = [m for m in settings.methods if family_of(m).needs_model]
    if needs_model and model is None:
        raise ValueError(f"Methods {needs_model} need an encoder: give the model (--weights or --preset).")
    # Trained further once per cell for every method that starts from the
    # encoder's weights (the baselines do not).
    continues = settings.continues_pretraining and (reads_encoder or any(m in SUPERVISED for m in settings.methods))
    if continues and trainer is None:
        raise ValueError("Continued pretraining (--finetune self) needs the trainer: "
                         "astromer.training.continued.continue_training.")
    light_curves = list(light_curves)
    run_, cell_ids, notes, source = _prepare(settings, light_curves, labels, model)
    needed = list(dict.fromkeys(i for ids in cell_ids.values() for part in ids.values() for i in part))
    if any(m in FEATURE_METHODS for m in settings.methods):
        # The features of every object of the cells at once (one progress line).
        run_features(Cell(run_, fold=-1, spc=0, ids={"all": needed}))
    encoder_curves = light_curves if encoder_light_curves is None else list(encoder_light_curves)
    frozen, encoder_input = {}, None
    if reads_encoder:
        encoder_input = _describe_encoder(model.backbone, settings.compat)
        if settings.verbose:
            print(encoder_input, flush=True)
        if not settings.continues_pretraining:
            # The encoder is the same in every cell: each object is embedded once, for all cells.
            frozen = _encoder_features(settings, model, encoder_curves, needed, settings.cache_dir)
    rows, confusions, gammas = [], {}, {}
    bar = progress(total=len(cell_ids) * len(jobs), unit="fits", enabled=settings.verbose, desc="few-shot")
    for (fold, spc), ids in cell_ids.items():
        cell = Cell(run_, fold=fold, spc=spc, ids=ids, encoder=model)
        if continues:
            cell.encoder = _continued(cell, config, trainer, notes, bar)
        if reads_encoder:
            # A trained-further encoder is the cell's own: its objects only, kept in memory.
            cell.features = frozen or _encoder_features(settings, cell.encoder, encoder_curves,
                                                        [i for part in ids.values() for i in part], None)
        for method, variant in jobs:
            row, confusion, gamma = _score(cell, method, variant)
            rows.append(row)
            confusions[(row["method"], spc, fold)] = confusion
            if gamma is not None:
                gammas[(row["method"], spc, fold)] = gamma
            if settings.verbose:
                # On stdout, one line per fit: the logs that
                # docs/bench/eros_fewshot/collect.py reads.
                with bar.external_write_mode():
                    print(f"{row['method']:>16s} spc {spc:4d} fold {fold}: macro-F1 {row['macro_f1']:.3f}", flush=True)
            bar.update()
    bar.close()
    frame = pd.DataFrame(rows)
    summary = report.write_tables(settings.out, frame, confusions, run_.classes)
    report.write_per_class(settings.out, frame, run_.classes)
    shared = run_.shared
    record = {"classes": run_.classes, "splits": source, "notes": notes, "settings": dataclasses.asdict(settings),
              "folds_run": sorted({fold for fold, _ in cell_ids}), "encoder_input": encoder_input,
              "feature_report": (shared["light_curve_features"].report_dict()
                                 if "light_curve_features" in shared else None),
              "objects_of_cells_run": len(needed), "supervised_seeds_read_back": shared.get("supervised_read_back", []),
              "features_imputed": {f"{m} spc {s} fold {k}": n for (m, s, k), n in shared.get("imputed", {}).items()}}
    with open(os.path.join(settings.out, "run.json"), "w") as f:
        json.dump(record, f, indent=2, default=str)
    first = next(iter(cell_ids))
    tsne = _tsne_input(frozen, settings.variants, cell_ids[first]["test"], run_) if settings.tsne else None
    report.draw_figures(settings.out, summary, confusions, run_.classes, gammas, tsne,
                        tsne_title=f"fold {first[0]} test objects", verbose=settings.verbose)
    return frame


def _prepare(settings, light_curves, labels, model):
    """`(Run, {(fold, spc): {"train"/"val"/"test": ids}}, notes, splits
    folder)`: the labels of the table's objects, the splits read or drawn,
    the cells of the folds and samples per class run."""
    os.makedirs(settings.out, exist_ok=True)
    by_id = {lc.id: lc for lc in light_curves}
    labels, notes = reconcile(by_id, labels)
    splits, split_notes, source = splits_for(labels, settings.folds, settings.spcs, settings.splits, settings.out)
    notes += split_notes
    for note in notes:
        print(f"note: {note}")
    classes = sorted({str(v) for v in labels.values()})
    y_by_id = {i: classes.index(str(v)) for i, v in labels.items()}
    # only_folds: run these folds of the `folds` (long jobs split over machines).
    folds = range(settings.folds) if settings.only_folds is None else sorted(set(settings.only_folds))
    cell_ids = {}
    for fold in folds:
        for spc in settings.spcs:
            split = splits[(fold, spc)]
            split = split[split["id"].isin(by_id)]
            cell_ids[(fold, spc)] = {name: list(split[split["split"] == name]["id"]) for name in ("train", "val", "test")}
    run_ = Run(settings, light_curves, y_by_id, classes, model=model, shared={"by_id": by_id})
    return run_, cell_ids, notes, source


def _encoder_features(settings, encoder, light_curves, ids, cache_dir):
    """`{variant: EncoderFeatures}` of `ids`, the variants sharing the
    encoder's passes; the max-pooled pass made here when max_pool runs."""
    passes = EncoderPasses(encoder.backbone, light_curves, settings.compat, settings.verbose, cache_dir)
    features = {v: EncoderFeatures(passes, v, settings.bands, objects=ids) for v in settings.variants}
    if "max_pool" in settings.methods:
        for v in settings.variants:
            features[v].max_last  # noqa: B018 (computed here, under its own progress bar)
    return features


def _continued(cell, config, trainer, notes, bar):
    """The cell's encoder after continued pretraining; the run's encoder
    when the split is too small to train on (the run notes it)."""
    run_ = cell.run
    out_dir = os.path.join(run_.settings.out, "finetune", f"fold{cell.fold}_spc{cell.spc}")
    try:
        return continue_pretraining(run_.model, config, run_.shared["by_id"], cell.ids, out_dir,
                                    run_.settings.continued_pretraining, trainer, run_.settings.bands)
    except ValueError as error:
        # One split too small does not end the run: its rows use the
        # encoder as given, and the run says so.
        notes.append(f"fold {cell.fold}, {cell.spc} per class: not finetuned ({error})")
        with bar.external_write_mode():
            print(f"note: {notes[-1]}", flush=True)
        return run_.model


def _score(cell, method, variant):
    """One method on one cell: `(row of results, confusion matrix, gamma
    weights or None)`."""
    from sklearn.metrics import confusion_matrix, f1_score

    start = time.time()
    family = family_of(method)
    predicted, truth, gamma = family.score(method, cell, variant)
    # Rows of methods that never read the encoder carry no suffix: continued
    # pretraining does not change them.
    name = method + ("" if variant in (None, "single") else f" {variant}") + (
        cell.run.settings.suffix if family.needs_model else "")
    classes = range(cell.run.num_classes)
    # Per class too: where a method loses, not only by how much.
    per_class = f1_score(truth, predicted, average=None, labels=classes, zero_division=0)
    row = {"method": name, "spc": cell.spc, "fold": cell.fold, "macro_f1": f1_score(truth, predicted, average="macro"),
           "seconds": round(time.time() - start, 1),
           **{f"f1_{c}": float(v) for c, v in zip(cell.run.classes, per_class)}}
    return row, confusion_matrix(truth, predicted, labels=classes), gamma


def _describe_encoder(backbone, compat):
    """The one line that says what the encoder is given (the same words as
    `astromer-embed`'s)."""
    from astromer.core.embedder import Embedder

    embedder = Embedder(backbone, compat=compat)
    why = (" (auto: weights converted from an original checkpoint)" if embedder.compat == "original"
           else " (auto)") if compat == "auto" else ""
    return (f"encoder input, compat {embedder.compat}{why}: {embedder.describe()}; "
            "the hand-crafted features read the benchmark's cleaned light curves")


def _tsne_input(frozen, variants, test_ids, run_):
    """The frozen encoder's features of the first cell's test objects and
    their class names, for the t-SNE figure; None after continued
    pretraining (no single encoder to show)."""
    if not frozen:
        return None
    first = frozen[variants[0]]
    test_ids = [i for i in dict.fromkeys(test_ids) if i in first.index]
    if len(test_ids) > TSNE_OBJECTS:
        # A fixed subsample: t-SNE on thousands of objects takes minutes on
        # two cores, and a few hundred show the class structure as well.
        rng = np.random.default_rng(0)
        test_ids = [test_ids[k] for k in sorted(rng.choice(len(test_ids), TSNE_OBJECTS, replace=False))]
    return first.mean_layers[first.rows(test_ids)], [run_.classes[run_.y_by_id[i]] for i in test_ids]
