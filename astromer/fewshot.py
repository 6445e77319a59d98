"""The few-shot classification benchmark of the Astromer papers.

Protocol (Astromer 2 paper Sect. 5.1; the fixed EROS-1 splits follow it):
for each fold `f` (`numpy.random.default_rng(f)`) and samples-per-class `s`,

- test: per class `min(1000, floor(0.3 n_class))` objects, drawn once per
  fold and shared by every `s` (classes in sorted order, ids sorted as
  strings);
- train: `s` objects per class from the class's non-test pool, without
  replacement when the pool has at least `s`, else the whole pool plus
  draws with replacement (the paper: "sampling is performed with
  replacement");
- val: `ceil(s / 4)` per class from the pool minus train, without
  replacement; if too few remain, all of them plus draws with replacement
  among them; if none remain, draws with replacement from the whole pool.

`make_splits` reproduces `shared/data/eros1_lmc/splits` exactly. Methods are
trained on the train rows (repeats kept), stopped early on the val rows, and
scored by macro-F1 on the test rows; results are mean and std (ddof=0) over
folds.

Methods:

- heads on a frozen encoder, trained on pooled features (`FeatureClassifier`):
  "a2" (layer mix + MLP 1024/512/256), "max_pool" (max over time of the last
  block + MLP), "linear" (AstroCo: layer mix + linear), "logreg"
  (scikit-learn logistic regression on the mean embedding of the last block);
- supervised baselines on raw windows (no pretraining): "raw_gru",
  "emb_gru", "emb_mlp" (`astromer.models.baselines`).

With `finetune=True` the encoder is first trained on the training light
curves of the fold with the pretraining objective, then frozen.
"""

import copy
import json
import math
import os
import re
import time

import numpy as np
import pandas as pd

FEATURE_HEADS = ("a2", "max_pool", "linear", "logreg")
BASELINES = ("raw_gru", "emb_gru", "emb_mlp")
METHODS = FEATURE_HEADS + BASELINES
# Frozen-encoder heads (see `head_optimizer`); the supervised baselines use
# epochs, batch_size and patience with Adam 1e-3.
FINETUNE_LEARNING_RATE = 1e-4
HEAD_SETTINGS = {"epochs": 300, "batch_size": 32, "patience": 20, "learning_rate": 3e-4, "weight_decay": 0.05,
                 "dropout": 0.5, "standardize": True, "seeds": 1}
# "seeds": heads trained per split (different initialisation and dropout);
# their class probabilities are averaged. With 20 objects per class and 5
# for validation, one head's macro-F1 moves by up to about 0.1 with its seed
# alone; averaging several separates encoders that a single head cannot.
# Head k uses seed `fold + SEED_STRIDE * k`, so seeds=1 is the single head.
SEED_STRIDE = 1000


# ------------------------------------------------------------------ splits


def _draw(rng, values, n, replace=False):
    return list(rng.choice(np.asarray(values), n, replace=replace))


def make_splits(labels, folds=3, spcs=(20, 100, 500), max_test=1000, test_fraction=0.3):
    """`{(fold, spc): DataFrame(id, split)}` by the protocol above, and a
    list of notes on classes too small for a requested size."""
    by_class = {}
    for oid, label in labels.items():
        by_class.setdefault(str(label), []).append(str(oid))
    classes = sorted(by_class)
    by_class = {c: sorted(by_class[c]) for c in classes}
    splits, notes = {}, []
    for fold in range(folds):
        rng = np.random.default_rng(fold)
        test = {
            c: _draw(rng, by_class[c], min(max_test, math.floor(test_fraction * len(by_class[c]))))
            for c in classes
        }
        for spc in spcs:
            rows = []
            for c in classes:
                pool = sorted(set(by_class[c]) - set(test[c]))
                if not pool:
                    raise ValueError(f"Class {c!r} has no objects outside its test set; it cannot be trained on.")
                if len(pool) >= spc:
                    train = _draw(rng, pool, spc)
                else:
                    train = list(pool) + _draw(rng, pool, spc - len(pool), replace=True)
                    if fold == 0:
                        notes.append(f"class {c!r}: {len(pool)} objects outside the test set < {spc} per class; "
                                     f"training draws {spc - len(pool)} repeats with replacement")
                rest = sorted(set(pool) - set(train))
                n_val = math.ceil(spc / 4)
                if len(rest) >= n_val:
                    val = _draw(rng, rest, n_val)
                elif rest:
                    val = list(rest) + _draw(rng, rest, n_val - len(rest), replace=True)
                else:
                    val = _draw(rng, pool, n_val, replace=True)
                rows += [(i, "train") for i in train] + [(i, "val") for i in val]
            rows += [(i, "test") for c in classes for i in sorted(test[c])]
            splits[(fold, spc)] = pd.DataFrame(rows, columns=["id", "split"])
    return splits, notes


def write_splits(splits, folder):
    os.makedirs(folder, exist_ok=True)
    for (fold, spc), frame in splits.items():
        frame.to_csv(os.path.join(folder, f"fold{fold}_spc{spc}.csv"), index=False)


def read_splits(folder, folds, spcs):
    splits = {}
    for fold in range(folds):
        for spc in spcs:
            path = os.path.join(folder, f"fold{fold}_spc{spc}.csv")
            if not os.path.exists(path):
                raise FileNotFoundError(f"Split file {path!r} is missing (expected fold{{f}}_spc{{s}}.csv, columns id,split).")
            frame = pd.read_csv(path, dtype={"id": str})
            if set(frame.columns) != {"id", "split"}:
                raise ValueError(f"{path!r} must have columns id,split; found {list(frame.columns)}.")
            splits[(fold, spc)] = frame
    return splits


def reconcile(table_ids, labels):
    """Keeps labelled ids present in the table; returns (labels, notes with counts)."""
    table_ids = set(map(str, table_ids))
    labels = {str(k): v for k, v in labels.items()}
    notes = []
    missing = sorted(set(labels) - table_ids)
    unlabeled = sorted(table_ids - set(labels))
    if missing:
        notes.append(f"{len(missing)} labelled ids are not in the table (e.g. {missing[:5]}); they are left out")
    if unlabeled:
        notes.append(f"{len(unlabeled)} light curves of the table have no label (e.g. {unlabeled[:5]}); they are left out")
    return {k: v for k, v in labels.items() if k in table_ids}, notes


# ------------------------------------------------------------------ features


VARIANTS = ("single", "band_mean", "band_concat", "joint", "joint_per_band")


class EncoderFeatures:
    """Pooled features of every object for the frozen-encoder heads:
    `mean_layers` `(N, layers, dim)` (masked means of the input embedding
    and every block) and `max_last` `(N, dim)` (masked max of the last block).

    Variants (how bands become features):
    - "single": one band (`bands=[name]`) or a single-band table;
    - "band_mean" / "band_concat": a single-band encoder on each band of
      `bands` separately, features averaged / concatenated (what users of
      single-band models do today);
    - "joint": a multi-band encoder reads all bands at once;
    - "joint_per_band": the same, each band's steps pooled separately and
      the per-band vectors concatenated (`Embedder(per_band=True)`).
    """

    def __init__(self, backbone, light_curves, variant="single", bands=None, batch_size=256, cache=None):
        from astromer.models.embedder import Embedder

        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; use one of {VARIANTS}.")
        # `cache` (a dict) shares the per-band embeddings between variants of
        # one encoder: band_mean and band_concat need the same passes.
        cache = {} if cache is None else cache

        def embed(band, per_band=False):
            if (band, per_band) not in cache:
                cache[(band, per_band)] = embed_band(band, per_band)
            return cache[(band, per_band)]

        def embed_band(band, per_band):
            ids, mean = Embedder(backbone, layer="all", band=band, batch_size=batch_size,
                                 per_band=per_band).embed_array(light_curves)
            ids_max, top = Embedder(backbone, layer="last", pooling="max", band=band, batch_size=batch_size,
                                    per_band=per_band).embed_array(light_curves)
            assert ids_max == ids
            return ids, mean, top

        if variant in ("single", "joint", "joint_per_band"):
            band = bands[0] if (variant == "single" and bands) else None
            self.ids, self.mean_layers, self.max_last = embed(band, variant == "joint_per_band")
        else:
            if not bands or len(bands) < 2:
                raise ValueError(f"variant {variant!r} needs two or more bands, got {bands!r}.")
            parts = [embed(band) for band in bands]
            common = sorted(set.intersection(*(set(p[0]) for p in parts)), key=parts[0][0].index)
            picked = [(p[1][[p[0].index(i) for i in common]], p[2][[p[0].index(i) for i in common]]) for p in parts]
            self.ids = common
            if variant == "band_mean":
                self.mean_layers = np.mean([m for m, _ in picked], axis=0)
                self.max_last = np.mean([t for _, t in picked], axis=0)
            else:
                self.mean_layers = np.concatenate([m for m, _ in picked], axis=-1)
                self.max_last = np.concatenate([t for _, t in picked], axis=-1)
        self.index = {oid: i for i, oid in enumerate(self.ids)}

    def rows(self, ids):
        missing = [i for i in ids if i not in self.index]
        if missing:
            raise ValueError(f"{len(missing)} ids of the split have no light curve after cleaning (e.g. {missing[:5]}).")
        return np.array([self.index[i] for i in ids])


def windows_of(light_curves, window_size, band=None):
    """Model-input windows of each object (for the raw-sequence baselines):
    `{id: dict of (n_windows, window_size) arrays}`."""
    from astromer.data.windows import sequential_windows

    out = {}
    for lc in light_curves:
        if band is not None and lc.band is not None:
            keep = lc.band.astype(str) == band
            array = lc.as_array()[keep]
        else:
            array = lc.as_array()
        w = sequential_windows(array, window_size)
        out[lc.id] = {
            "magnitudes": w["magnitudes"], "times": w["times"],
            "padding_mask": w["padding_mask"], "hidden_mask": np.zeros_like(w["padding_mask"]),
        }
    return out


# ------------------------------------------------------------------ training


def _fit(model, x_train, y_train, x_val, y_val, epochs, batch_size, patience, seed, optimizer="auto"):
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
              callbacks=[stop], verbose=0, shuffle=True)
    return model


def head_optimizer(settings):
    """AdamW with the head settings' learning rate and weight decay.

    The heads train on 80 to 2,000 objects; with Adam 1e-3 and no
    regularisation the 1024/512/256 MLP memorises 20 per class within a few
    epochs. On EROS_R with frozen A1 features (fixed splits, 3 folds),
    standardised inputs, dropout 0.5, AdamW 3e-4 and weight decay 0.05 move
    the A2 head from 0.264 / 0.476 / 0.465 to 0.344 / 0.486 / 0.541
    macro-F1 (docs/fewshot.md).
    """
    import keras

    return keras.optimizers.AdamW(settings["learning_rate"], weight_decay=settings["weight_decay"])


def check_options(folds, only_folds=None, head_seeds=1):
    """Raises ValueError naming a bad `only_folds` / `head_seeds` value (the
    command line checks these before it reads any data)."""
    if only_folds is not None and not set(only_folds) <= set(range(folds)):
        raise ValueError(f"only_folds={sorted(only_folds)}: folds are numbered 0 to {folds - 1} (--folds {folds}).")
    if int(head_seeds) < 1:
        raise ValueError(f"Head seeds must be at least 1, got {head_seeds} (--head-seeds).")


def train_head(method, features, y, rows, num_classes, settings, seed):
    """Fits a frozen-encoder head (`settings["seeds"]` of them, probabilities
    averaged); returns (predict function, gamma weights averaged over seeds).
    `predict(rows)` gives class indices, `predict.probabilities(rows)` the
    averaged class probabilities (not for logreg)."""
    import keras

    from astromer.models.classifier import FeatureClassifier

    if method == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = features.mean_layers[:, -1]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        model.fit(x[rows["train"]], y[rows["train"]])
        return (lambda r: model.predict(x[r])), None
    x = features.max_last if method == "max_pool" else features.mean_layers
    heads = []
    for k in range(int(settings.get("seeds", 1))):
        head_seed = seed + SEED_STRIDE * k
        # Seeded before construction: the initial weights are the seed's,
        # not whatever the models trained before left in the global state.
        keras.utils.set_random_seed(head_seed)
        head = FeatureClassifier(num_classes, head=method, feature_shape=x.shape[1:], dropout=settings["dropout"],
                                 standardize=settings["standardize"])
        head.adapt(x[rows["train"]])
        _fit(head, {"features": x[rows["train"]]}, y[rows["train"]], {"features": x[rows["val"]]},
             y[rows["val"]], settings["epochs"], settings["batch_size"], settings["patience"],
             head_seed, head_optimizer(settings))
        heads.append(head)

    def probabilities(r):
        return np.mean([head.predict({"features": x[r]}, verbose=0, batch_size=1024) for head in heads], axis=0)

    def predict(r):
        return np.argmax(probabilities(r), axis=1)

    predict.probabilities = probabilities
    gammas = [head.gamma_weights() for head in heads]
    return predict, (None if gammas[0] is None else np.mean(gammas, axis=0))


def train_baseline(method, windows, ids_by_split, y_by_id, num_classes, window_size, settings, seed):
    """Fits a supervised baseline on the windows of the training objects;
    an object's prediction averages its windows' probabilities."""
    import keras

    from astromer.models import baselines

    def stack(ids):
        parts = [windows[i] for i in ids]
        x = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        y = np.concatenate([[y_by_id[i]] * len(p["magnitudes"]) for i, p in zip(ids, parts)])
        return x, y

    cls = {"raw_gru": baselines.RawGRUClassifier, "emb_gru": baselines.EmbeddingGRUClassifier,
           "emb_mlp": baselines.EmbeddingMLPClassifier}[method]
    keras.utils.set_random_seed(seed)  # initial weights from the seed, as for the heads
    model = cls(num_classes, window_size=window_size)
    x_train, y_train = stack(ids_by_split["train"])
    x_val, y_val = stack(ids_by_split["val"])
    _fit(model, x_train, y_train, x_val, y_val, settings["epochs"], settings["batch_size"], settings["patience"], seed)

    def predict(ids):
        unique = list(dict.fromkeys(ids))
        x, _ = stack(unique)
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x, verbose=0, batch_size=512)))
        out, start = {}, 0
        for i in unique:
            n = len(windows[i]["magnitudes"])
            out[i] = int(np.argmax(probs[start:start + n].mean(0)))
            start += n
        return np.array([out[i] for i in ids])

    return predict


def finetune_encoder(model, config, light_curves_by_id, train_ids, val_ids, out_dir, epochs, bands=None,
                     learning_rate=FINETUNE_LEARNING_RATE, dropout=0.0):
    """Continues masked-reconstruction training on the training objects
    (validation objects for early stopping); returns the finetuned model,
    or `model` itself when no epoch beats its validation loss.

    A single-band encoder trains on each band of `bands` as a separate light
    curve; a joint multi-band encoder on the objects with all their bands.
    The learning rate is `learning_rate` (not the pretraining one): starting
    from published A1 weights, Adam at A1's 1e-3 raises the EROS validation
    loss from 0.110 to 0.165 in the first epoch and never recovers.
    `dropout` replaces the encoder's (None keeps it): A1 has no residuals,
    and its dropout 0.1 before each LayerNorm makes the training-mode output
    far from the inference one (probed RMSE 0.48 vs 0.12 on EROS_R), so
    training with it raises the inference-mode validation loss even at 1e-4.
    """
    import keras

    from astromer import training
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.lightcurves import LightCurve

    band_names = getattr(model.backbone, "band_names", None)

    def pack(ids):
        lcs = []
        for i in dict.fromkeys(ids):
            lc = light_curves_by_id[i]
            if band_names or lc.band is None:
                lcs.append(lc)
                continue
            for band in bands or sorted(set(lc.band.astype(str))):
                keep = lc.band.astype(str) == band
                if keep.sum() >= 5:
                    lcs.append(LightCurve(f"{lc.id}|{band}", lc.time[keep], lc.mag[keep], lc.err[keep], label=lc.label))
        return PackedLightCurves.from_light_curves(lcs, band_names=band_names)

    config = copy.deepcopy(config)
    settings = config["pretraining"]
    settings.update(epochs=int(epochs), learning_rate=float(learning_rate), warmup_steps=0,
                    batch_size=min(int(settings["batch_size"]), 64), patience=min(int(settings.get("patience", 20)), 5))
    clone = model.with_settings(**({} if dropout is None else {"dropout": float(dropout)}))
    train, val = pack(train_ids), pack(val_ids)
    clone.compile(training.make_optimizer(settings))
    before = training.evaluate_masked(clone, val, config, settings["batch_size"])["loss"]
    data = training.TrainingData("packed", train, val, description="few-shot training objects")
    # Deterministic as when the documented few-shot tables were made, so
    # that reruns reproduce them exactly.
    summary = training.pretrain(config, data, out_dir, initial_model=clone, verbose=0, input_path="numpy",
                                deterministic=True)
    with open(os.path.join(out_dir, "finetune.json"), "w") as f:
        json.dump({"val_loss_before": before, "best_val_loss": summary["best_val_loss"],
                   "best_epoch": summary["best_epoch"], "kept": summary["best_val_loss"] < before}, f, indent=2)
    if not summary["best_val_loss"] < before:
        return model
    return keras.saving.load_model(os.path.join(out_dir, "model.keras"))


# ------------------------------------------------------------------ benchmark


def run(light_curves, labels, model, config, out_dir, methods=("a2", "max_pool", "linear", "logreg"),
        spcs=(20, 100, 500), folds=3, splits_dir=None, band=None, finetune=False, finetune_epochs=10,
        head_settings=None, verbose=True, label_suffix="", variant="single", bands=None,
        finetune_learning_rate=FINETUNE_LEARNING_RATE, finetune_dropout=0.0, only_folds=None):
    """Runs the benchmark. Returns a DataFrame (method, spc, fold, macro_f1, seconds).

    `variant` (one name or a list) and `bands` choose how bands become
    features (`EncoderFeatures`); several variants share each fold's
    finetuned encoder, and their rows are named "<method> <variant>".
    `band` is shorthand for `variant="single", bands=[band]`.
    """
    if band is not None:
        variant, bands = "single", [band]
    head_settings = {**HEAD_SETTINGS, **(head_settings or {})}
    check_options(folds, only_folds, head_settings["seeds"])
    variants = [variant] if isinstance(variant, str) else list(variant)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variant(s) {unknown}; use {VARIANTS}.")
    from sklearn.metrics import confusion_matrix, f1_score

    os.makedirs(out_dir, exist_ok=True)
    light_curves = list(light_curves)
    by_id = {lc.id: lc for lc in light_curves}
    labels, notes = reconcile(by_id, labels)
    if splits_dir and os.path.exists(os.path.join(splits_dir, f"fold0_spc{spcs[0]}.csv")):
        splits = read_splits(splits_dir, folds, spcs)
        source = splits_dir
    else:
        splits, split_notes = make_splits(labels, folds, spcs)
        notes += split_notes
        source = os.path.join(out_dir, "splits")
        write_splits(splits, source)
    classes = sorted({str(v) for v in labels.values()})
    class_index = {c: i for i, c in enumerate(classes)}
    y_by_id = {i: class_index[str(v)] for i, v in labels.items()}
    for note in notes:
        print(f"note: {note}")

    frozen = {}
    results, confusions, gammas = [], {}, {}
    baseline_windows = None
    heads = [m for m in methods if m in FEATURE_HEADS]
    # only_folds: run these folds of the `folds` (long jobs split over machines).
    for fold in (range(folds) if only_folds is None else sorted(set(only_folds))):
        for spc in spcs:
            split = splits[(fold, spc)]
            split = split[split["id"].isin(by_id)]
            ids = {name: list(split[split["split"] == name]["id"]) for name in ("train", "val", "test")}
            tag = f"fold{fold}_spc{spc}"
            features = {}
            if heads:
                if finetune:
                    encoder = finetune_encoder(model, config, by_id, ids["train"], ids["val"],
                                               os.path.join(out_dir, "finetune", tag), finetune_epochs, bands,
                                               finetune_learning_rate, finetune_dropout)
                    cache = {}
                    features = {v: EncoderFeatures(encoder.backbone, light_curves, v, bands, cache=cache)
                                for v in variants}
                else:
                    cache = {}
                    for v in variants:
                        frozen[v] = frozen.get(v) or EncoderFeatures(model.backbone, light_curves, v, bands,
                                                                     cache=cache)
                    features = frozen
            jobs = [(m, v) for m in methods for v in (variants if m in FEATURE_HEADS else [None])]
            for method, v in jobs:
                start = time.time()
                if v is not None:
                    f = features[v]
                    y = np.array([y_by_id.get(i, -1) for i in f.ids])
                    rows = {k: f.rows(r) for k, r in ids.items()}
                    predict, gamma = train_head(method, f, y, rows, len(classes), head_settings, seed=fold)
                    predicted = predict(rows["test"])
                    truth = y[rows["test"]]
                else:
                    gamma = None
                    if baseline_windows is None:
                        baseline_windows = windows_of(light_curves, model.backbone.window_size,
                                                      bands[0] if bands and variants == ["single"] else None)
                    predict = train_baseline(method, baseline_windows, ids, y_by_id, len(classes),
                                             model.backbone.window_size, head_settings, seed=fold)
                    predicted = predict(ids["test"])
                    truth = np.array([y_by_id[i] for i in ids["test"]])
                name = method + ("" if v in (None, "single") else f" {v}") + label_suffix
                if gamma is not None:
                    gammas[(name, spc, fold)] = gamma
                f1 = f1_score(truth, predicted, average="macro")
                confusions[(name, spc, fold)] = confusion_matrix(truth, predicted, labels=range(len(classes)))
                results.append({"method": name, "spc": spc, "fold": fold, "macro_f1": f1,
                                "seconds": round(time.time() - start, 1)})
                if verbose:
                    print(f"{name:>16s} spc {spc:4d} fold {fold}: macro-F1 {f1:.3f}", flush=True)
    frame = pd.DataFrame(results)
    frame.to_csv(os.path.join(out_dir, "results.csv"), index=False)
    pd.DataFrame(
        [{"method": name, "spc": spc, "fold": fold, "true": classes[i], "predicted": classes[j], "count": int(m[i, j])}
         for (name, spc, fold), m in confusions.items() for i in range(len(classes)) for j in range(len(classes))]
    ).to_csv(os.path.join(out_dir, "confusion.csv"), index=False)
    summary = summarize(frame)
    summary.to_csv(os.path.join(out_dir, "summary.csv"))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown_table(summary))
    with open(os.path.join(out_dir, "run.json"), "w") as f:
        json.dump({"classes": classes, "splits": source, "notes": notes, "variant": variants, "bands": bands,
                   "finetune": finetune, "finetune_epochs": finetune_epochs if finetune else None,
                   "finetune_learning_rate": finetune_learning_rate if finetune else None,
                   "finetune_dropout": finetune_dropout if finetune else None,
                   "methods": list(methods), "spcs": list(spcs), "folds": folds,
                   "head_settings": head_settings}, f, indent=2)
    from astromer import plots

    plots.f1_vs_spc(summary, os.path.join(out_dir, "macro_f1_vs_spc.png"))
    for (name, spc), matrices in _group(confusions).items():
        plots.confusion_matrix(sum(matrices), classes, os.path.join(out_dir, f"confusion_{_slug(name)}_spc{spc}.png"),
                               title=f"{name}, {spc} per class (sum over folds)")
    if gammas:
        plots.gamma_weights(gammas, os.path.join(out_dir, "gamma_weights.png"))
    if frozen:
        first = frozen[variants[0]]
        test_ids = list(splits[(0, spcs[0])].query("split == 'test'")["id"])
        test_ids = [i for i in test_ids if i in first.index]
        plots.tsne_per_layer(first.mean_layers[first.rows(test_ids)],
                             [classes[y_by_id[i]] for i in test_ids], os.path.join(out_dir, "tsne_per_block.png"))
    return frame


def _slug(name):
    """A method name as a file-name part: "a2 joint (finetuned)" -> "a2_joint_finetuned"."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")


def _group(confusions):
    grouped = {}
    for (name, spc, _), matrix in confusions.items():
        grouped.setdefault((name, spc), []).append(matrix)
    return grouped


def summarize(frame):
    """Mean and std (ddof=0) of macro-F1 over folds, per method and spc."""
    grouped = frame.groupby(["method", "spc"])["macro_f1"]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=0), "folds": grouped.count()})
    return summary.reset_index()


def markdown_table(summary, reference_rows=None):
    """A Markdown table: one row per method, one column per spc, mean +- std."""
    spcs = sorted(summary["spc"].unique())
    lines = ["| method | " + " | ".join(f"{s} per class" for s in spcs) + " |",
             "|---|" + "---|" * len(spcs)]
    for method, part in summary.groupby("method", sort=False):
        cells = []
        for s in spcs:
            row = part[part["spc"] == s]
            cells.append(f"{row['mean'].iloc[0]:.3f} ± {row['std'].iloc[0]:.3f}" if len(row) else "")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for name, values in (reference_rows or {}).items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" if v is not None else "" for v in values) + " |")
    return "\n".join(lines) + "\n"
