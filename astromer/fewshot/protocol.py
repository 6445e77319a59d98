"""The benchmark loop: every method on every (fold, samples per class) cell.

Methods are trained on the train rows of a cell's split (repeats kept),
stopped early on the val rows, and scored by macro-F1 on the test rows;
results are mean and std (ddof=0) over folds. With `finetune=True` the
encoder is first trained on the fold's training light curves with the
pretraining objective, then frozen. Which methods exist and how each is
trained is in `astromer.fewshot.methods`.
"""

import json
import os
import time

import numpy as np
import pandas as pd

from astromer.fewshot import report
from astromer.fewshot.encoder_features import VARIANTS, EncoderFeatures
from astromer.fewshot.feature_methods import run_features
from astromer.fewshot.finetune import FINETUNE_LEARNING_RATE, finetune_encoder
from astromer.fewshot.heads import HEAD_SETTINGS
from astromer.fewshot.methods import FEATURE_METHODS, Cell, family_of
from astromer.fewshot.splits import reconcile, splits_for
from astromer.fewshot.supervised import SUPERVISED
from astromer.progress import progress


def check_options(folds, only_folds=None, head_seeds=1):
    """Raises ValueError naming a bad `only_folds` / `head_seeds` value (the
    command line checks these before it reads any data)."""
    if only_folds is not None and not set(only_folds) <= set(range(folds)):
        raise ValueError(f"only_folds={sorted(only_folds)}: folds are numbered 0 to {folds - 1} (--folds {folds}).")
    if int(head_seeds) < 1:
        raise ValueError(f"Head seeds must be at least 1, got {head_seeds} (--head-seeds).")


def run(light_curves, labels, model, config, out_dir, methods=("a2", "max_pool", "linear", "logreg"),
        spcs=(20, 100, 500), folds=3, splits_dir=None, band=None, finetune=False, finetune_epochs=10,
        head_settings=None, verbose=True, label_suffix="", variant="single", bands=None,
        finetune_learning_rate=FINETUNE_LEARNING_RATE, finetune_dropout=0.0, only_folds=None, tsne=True,
        finetune_batch_size=None, compat="auto", encoder_light_curves=None, cache_dir=None):
    """Runs the benchmark. Returns a DataFrame (method, spc, fold, macro_f1,
    seconds, and `f1_<class>` per class).

    `model` may be None when every method works without an encoder (the
    hand-crafted feature methods).

    `variant` (one name or a list) and `bands` choose how bands become
    features (`EncoderFeatures`); several variants share each fold's
    finetuned encoder, and their rows are named "<method> <variant>".
    `band` is shorthand for `variant="single", bands=[band]`.
    `tsne`: draw the t-SNE figure of the frozen encoder's layers (on at most
    `TSNE_OBJECTS` test objects of the first cell run); False skips it.

    Only the objects of the cells run (train, val and test ids of the
    folds and samples per class asked for) are featurised and embedded,
    each once. The encoder reads `encoder_light_curves` (default:
    `light_curves`) through the `Embedder` with `compat` (as
    `astromer-embed`: "auto" is the original library's preprocessing for
    weights converted from an original checkpoint); every other method
    reads `light_curves`. `cache_dir`: keep the features and the frozen
    encoder's embeddings there per object for later runs.
    """
    if band is not None:
        variant, bands = "single", [band]
    head_settings = {**HEAD_SETTINGS, **(head_settings or {})}
    check_options(folds, only_folds, head_settings["seeds"])
    variants = [variant] if isinstance(variant, str) else list(variant)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variant(s) {unknown}; use {VARIANTS}.")
    # Each method runs once per cell, a method reading the encoder once per variant.
    jobs = [(m, v) for m in methods for v in (variants if family_of(m).reads_encoder else [None])]
    reads_encoder = any(v is not None for _, v in jobs)
    needs_model = any(family_of(m).needs_model for m in methods)
    if needs_model and model is None:
        raise ValueError(f"Methods {[m for m in methods if family_of(m).needs_model]} need an encoder: "
                         "give the model (--weights or --preset).")
    from sklearn.metrics import confusion_matrix, f1_score

    os.makedirs(out_dir, exist_ok=True)
    light_curves = list(light_curves)
    by_id = {lc.id: lc for lc in light_curves}
    labels, notes = reconcile(by_id, labels)
    splits, split_notes, source = splits_for(labels, folds, spcs, splits_dir, out_dir)
    notes += split_notes
    classes = sorted({str(v) for v in labels.values()})
    class_index = {c: i for i, c in enumerate(classes)}
    y_by_id = {i: class_index[str(v)] for i, v in labels.items()}
    for note in notes:
        print(f"note: {note}")

    # only_folds: run these folds of the `folds` (long jobs split over machines).
    fold_list = range(folds) if only_folds is None else sorted(set(only_folds))
    cell_ids = {}
    for fold in fold_list:
        for spc in spcs:
            split = splits[(fold, spc)]
            split = split[split["id"].isin(by_id)]
            cell_ids[(fold, spc)] = {name: list(split[split["split"] == name]["id"])
                                     for name in ("train", "val", "test")}
    # Every object of the cells run, once: what the features and the frozen
    # encoder compute (nothing for the objects no cell reads).
    needed = list(dict.fromkeys(i for ids in cell_ids.values() for part in ids.values() for i in part))
    shared = {}
    # The features of all of them at once (one progress line), kept in
    # `shared` for the cells.
    prepared = Cell(fold=-1, spc=0, ids={"all": needed}, y_by_id=y_by_id, num_classes=len(classes),
                    settings=head_settings, model=model, light_curves=light_curves, bands=bands, variants=variants,
                    shared=shared, verbose=verbose, cache_dir=cache_dir)
    if any(m in FEATURE_METHODS for m in methods):
        run_features(prepared)
    encoder_curves = light_curves if encoder_light_curves is None else list(encoder_light_curves)
    max_pool = "max_pool" in methods

    def encoder_features(encoder, cache, ids, disk):
        features = {v: EncoderFeatures(encoder.backbone, encoder_curves, v, bands, cache=cache, compat=compat,
                                       objects=ids, verbose=verbose, cache_dir=disk) for v in variants}
        if max_pool:
            for v in variants:
                features[v].max_last  # noqa: B018 (computed here, under its own progress bar)
        return features

    frozen, encoder_input = {}, None
    if reads_encoder:
        embedder = EncoderFeatures(model.backbone, [], variants[0], bands, compat=compat).embedder
        encoder_input = _describe_encoder(embedder, compat)
        if verbose:
            print(encoder_input, flush=True)
        if not finetune:
            # Without finetuning the encoder is the same in every cell: each
            # object is embedded once, for all cells.
            frozen = encoder_features(model, {}, needed, cache_dir)
    results, confusions, gammas = [], {}, {}
    bar = progress(total=len(fold_list) * len(spcs) * len(jobs), unit="fits", enabled=verbose, desc="few-shot")
    for fold in fold_list:
        for spc in spcs:
            ids = cell_ids[(fold, spc)]
            cell = Cell(fold=fold, spc=spc, ids=ids, y_by_id=y_by_id, num_classes=len(classes),
                        settings=head_settings, model=model, light_curves=light_curves, bands=bands,
                        variants=variants, shared=shared, encoder=model, verbose=verbose, classes=classes,
                        out_dir=out_dir, cache_dir=cache_dir)
            # Finetuned once per cell for every method that starts from the
            # encoder's weights (the baselines do not).
            if finetune and (reads_encoder or any(m in SUPERVISED for m in methods)):
                try:
                    cell.encoder = finetune_encoder(model, config, by_id, ids["train"], ids["val"],
                                                    os.path.join(out_dir, "finetune", f"fold{fold}_spc{spc}"),
                                                    finetune_epochs, bands, finetune_learning_rate,
                                                    finetune_dropout, batch_size=finetune_batch_size)
                except ValueError as error:
                    # One split too small does not end the run: its rows use
                    # the encoder as given, and the run says so.
                    notes.append(f"fold {fold}, {spc} per class: not finetuned ({error})")
                    with bar.external_write_mode():
                        print(f"note: {notes[-1]}", flush=True)
            if reads_encoder:
                # A finetuned encoder is the cell's own: its objects only,
                # kept in memory.
                cell.features = frozen if not finetune else encoder_features(
                    cell.encoder, {}, [i for part in ids.values() for i in part], None)
            for method, v in jobs:
                start = time.time()
                predicted, truth, gamma = family_of(method).score(method, cell, v)
                # Rows of methods that never read the encoder carry no
                # "(finetuned)" suffix: finetuning does not change them.
                suffix = label_suffix if family_of(method).needs_model else ""
                name = method + ("" if v in (None, "single") else f" {v}") + suffix
                if gamma is not None:
                    gammas[(name, spc, fold)] = gamma
                f1 = f1_score(truth, predicted, average="macro")
                # Per class too: where a method loses, not only by how much.
                per_class = f1_score(truth, predicted, average=None, labels=range(len(classes)), zero_division=0)
                confusions[(name, spc, fold)] = confusion_matrix(truth, predicted, labels=range(len(classes)))
                results.append({"method": name, "spc": spc, "fold": fold, "macro_f1": f1,
                                "seconds": round(time.time() - start, 1),
                                **{f"f1_{c}": float(v) for c, v in zip(classes, per_class)}})
                if verbose:
                    # On stdout, one line per fit: the logs that
                    # docs/bench/eros_fewshot/collect.py reads.
                    with bar.external_write_mode():
                        print(f"{name:>16s} spc {spc:4d} fold {fold}: macro-F1 {f1:.3f}", flush=True)
                bar.update()
    bar.close()
    frame = pd.DataFrame(results)
    summary = report.write_tables(out_dir, frame, confusions, classes)
    report.write_per_class(out_dir, frame, classes)
    with open(os.path.join(out_dir, "run.json"), "w") as f:
        json.dump({"classes": classes, "splits": source, "notes": notes, "variant": variants, "bands": bands,
                   "finetune": finetune, "finetune_epochs": finetune_epochs if finetune else None,
                   "finetune_learning_rate": finetune_learning_rate if finetune else None,
                   "finetune_dropout": finetune_dropout if finetune else None,
                   "finetune_batch_size": finetune_batch_size if finetune else None,
                   "methods": list(methods), "spcs": list(spcs), "folds": folds, "folds_run": list(fold_list),
                   "head_settings": head_settings, "encoder_input": encoder_input,
                   "feature_report": (shared["light_curve_features"].report_dict()
                                      if "light_curve_features" in shared else None),
                   "objects_of_cells_run": len(needed),
                   "supervised_seeds_read_back": shared.get("supervised_read_back", []),
                   "features_imputed": {f"{m} spc {s} fold {k}": n
                                        for (m, s, k), n in shared.get("imputed", {}).items()}},
                  f, indent=2, default=str)
    first = (fold_list[0], spcs[0])
    tsne_input = _tsne_input(frozen, variants, cell_ids[first]["test"], classes, y_by_id) if tsne else None
    report.draw_figures(out_dir, summary, confusions, classes, gammas, tsne_input,
                        tsne_title=f"fold {first[0]} test objects", verbose=verbose)
    return frame


def _describe_encoder(embedder, compat):
    """The one line that says what the encoder is given (the same words as
    `astromer-embed`'s)."""
    from astromer.embedding.table import preprocessing_line

    why = (" (auto: weights converted from an original checkpoint)" if embedder.compat == "original"
           else " (auto)") if compat == "auto" else ""
    return (f"encoder input, compat {embedder.compat}{why}: {preprocessing_line(embedder)}; "
            "the hand-crafted features read the benchmark's cleaned light curves")


TSNE_OBJECTS = 500


def _tsne_input(frozen, variants, test_ids, classes, y_by_id):
    """The frozen encoder's features of the first cell's test objects and
    their class names, for the t-SNE figure; None after finetuning (no
    single encoder to show)."""
    if not frozen:
        return None
    first = frozen[variants[0]]
    test_ids = [i for i in dict.fromkeys(test_ids) if i in first.index]
    if len(test_ids) > TSNE_OBJECTS:
        # A fixed subsample: t-SNE on thousands of objects takes minutes on
        # two cores, and a few hundred show the class structure as well.
        rng = np.random.default_rng(0)
        test_ids = [test_ids[k] for k in sorted(rng.choice(len(test_ids), TSNE_OBJECTS, replace=False))]
    return first.mean_layers[first.rows(test_ids)], [classes[y_by_id[i]] for i in test_ids]
