"""Method "supervised": a `Classifier` (encoder and the A2 head) trained end to end.

Both papers freeze the encoder; with a few labelled objects the encoder
itself can also move toward the classes. How it trains and how its
settings (`SupervisedSettings`) were chosen: docs/features.md. Each seed's
test probabilities are kept as it finishes and read back by a rerun
(`astromer.fewshot.seed_records`).
"""

import dataclasses
import sys

import numpy as np

from astromer.fewshot.fitting import object_probabilities
from astromer.fewshot.heads import SEED_STRIDE
from astromer.preprocessing.classification import ClassificationPreprocessor

SUPERVISED = ("supervised",)


def class_weights(labels, num_classes):
    """Per-class loss weights `n / (k * n_c)`: every class weighs the same in
    the mean loss; a class absent from `labels` gets weight 0."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes)
    present = counts > 0
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def pooled_head_models(model):
    """`(pooled, head)`: two models sharing `model`'s (a `Classifier`'s)
    weights, one for the frozen encoder and its pooling, one for the head.

    `pooled` maps windows to the encoder's outputs pooled over real steps:
    for a layer mix ("a2", "linear") the mean of every layer
    (`(batch, layers + 1, dim)`, the `Embedder(layer="all")` vectors), for
    "mean_last" / "max_pool" the mean / max of the last block
    (`(batch, dim)`); `head` maps those to logits. Mixing layers and
    averaging over steps are both linear, so they commute, and
    `head(pooled(x)) == model(x)` for every head: with the encoder frozen,
    the head can be trained on outputs computed once instead of running the
    encoder every epoch.
    """
    import keras

    from astromer.core.embedder import Embedder

    mixed = model.head in ("a2", "linear")
    pooled_model = Embedder(model.backbone, layer="all" if mixed else "last",
                            pooling="max" if model.head == "max_pool" else "mean",
                            per_band=model.per_band).pooled_model()
    shape = tuple(pooled_model.output.shape[1:])
    if model.per_band:
        # (..., bands, dim) -> the classifier's vector, band after band.
        shape = shape[:-2] + (shape[-2] * shape[-1],)
        pooled_model = keras.Model(pooled_model.input, keras.ops.reshape(pooled_model.output, (-1, *shape)))

    # The classifier's own layers from the pooled embedding to the logits.
    pooling = model.get_layer("pooling")
    after_pooling = keras.Model(pooling.output, model.output, name="head_after_pooling")
    x = keras.Input(shape, name="features")
    embedding = model.get_layer("layer_mix")([x[:, k] for k in range(shape[0])]) if mixed else x
    return pooled_model, keras.Model({"features": x}, after_pooling(embedding), name="head")


class SupervisedClassifier:
    """A trained `Classifier` with object-level prediction (mean of the
    windows' class probabilities); `history` holds both phases' losses."""

    def __init__(self, model, arrays_of, history, preprocessor):
        self.model, self._arrays_of, self.history, self.preprocessor = model, arrays_of, history, preprocessor

    def probabilities(self, ids):
        arrays = self._arrays_of(ids)
        per_object = {i: self.preprocessor.windows(arrays[i]) for i in dict.fromkeys(ids)}
        return object_probabilities(self.model, per_object, ids, self.model.input_names, batch_size=256)

    def predict(self, ids):
        return np.argmax(self.probabilities(ids), axis=1)


def train_end_to_end(pretrainer, light_curves_by_id, ids, y_by_id, settings, band=None, seed=0, label=None):
    """Trains encoder + head on `ids["train"]` (early stopping on `ids["val"]`;
    repeated ids weigh more) with the `SupervisedSettings` `settings`.

    `pretrainer`: the `Pretrainer` whose backbone starts the classifier (left
    unchanged: a copy is trained). `light_curves_by_id`: `{id: LightCurve}`;
    `y_by_id`: `{id: class index}`, the classes numbered 0 to its largest
    index. `band`: the band a single-band encoder reads (None: the light
    curves have one band); a joint multi-band encoder reads every band.
    `seed`: initial head weights, window draws, shuffling and dropout.
    `label` (e.g. the cell and the seed): show an epoch bar per phase
    (stderr) and print one line per phase (stdout) that starts with it:
    epochs run, best validation loss and its epoch.

    Returns a `SupervisedClassifier`.
    """
    import keras

    from astromer.models.classifier import Classifier

    train_ids, val_ids = ids["train"], ids["val"]
    num_classes = int(max(y_by_id.values())) + 1
    keras.utils.set_random_seed(seed)
    # A copy with dropout 0: Astromer 1 has no residual connections, and its
    # dropout before every LayerNorm makes the training-mode output far from
    # the inference one (the head keeps its own dropout). The window stays
    # the encoder's even where every light curve is shorter: the original A1
    # attention only lowers padded steps' scores (mask_alpha 1), so the
    # padding's length changes its outputs.
    backbone = pretrainer.with_settings(dropout=0.0).backbone
    # A joint encoder's steps are pooled per band, as in its best frozen rows.
    model = Classifier(backbone, num_classes, head=settings.head, dropout=settings.head_dropout,
                       freeze_backbone=True, standardize=True,
                       per_band=bool(getattr(backbone, "band_names", None)))
    cache = {}
    preprocessor = ClassificationPreprocessor.from_backbone(backbone, input_names=model.input_names, band=band,
                                                            seed=seed)

    def arrays_of(ids):
        cache.update(preprocessor.arrays(light_curves_by_id, [i for i in dict.fromkeys(ids) if i not in cache]))
        return cache

    arrays = arrays_of(list(train_ids) + list(val_ids))
    y_train = np.array([y_by_id[i] for i in train_ids])
    weights = class_weights(y_train, num_classes)
    train = preprocessor.dataset(arrays, train_ids, y_train, weights, int(settings.batch_size))
    validation = preprocessor.labelled(arrays, val_ids, y_by_id, weights)
    x_val = validation[0]
    # The head reads standardised embeddings (statistics of the training
    # windows, as the frozen heads' `adapt`).
    model.adapt(train.x)
    # The warm-up's encoder is frozen; with fixed windows its outputs are
    # computed once and only the head runs every epoch (the same model).
    shortcut = pooled_head_models(model) if train.fixed() else None
    if shortcut is not None:
        pooled_model, head_model = shortcut
        distinct = list(dict.fromkeys(train_ids))
        pooled = pooled_model.predict(preprocessor.stack([preprocessor.windows(arrays[i]) for i in distinct]),
                                      batch_size=256, verbose=0)
        shortcut = (head_model, train.with_pooled(dict(zip(distinct, pooled))),
                    ({"features": pooled_model.predict(x_val, batch_size=256, verbose=0)},) + validation[1:])

    history, best, best_weights = {}, np.inf, None
    phases = (("warmup", True, settings.head_learning_rate, settings.warmup_epochs),
              ("end_to_end", False, settings.encoder_learning_rate, settings.epochs))
    for name, frozen, learning_rate, epochs in phases:
        if int(epochs) <= 0:
            continue
        model.freeze_backbone = frozen
        fitted, data, val = shortcut if (frozen and shortcut is not None) else (model, train, validation)
        # Recompiled per phase: trainable variables and learning rate change.
        fitted.compile(keras.optimizers.AdamW(learning_rate, weight_decay=settings.weight_decay),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                       jit_compile=bool(settings.xla) and keras.backend.backend() != "torch")
        # EarlyStopping restores the phase's best epoch at the end of fit
        # (the head model's weights are the classifier's).
        stop = keras.callbacks.EarlyStopping("val_loss", patience=int(settings.patience),
                                             restore_best_weights=True)
        bar, show = _epoch_bar(f"{label} {name}", int(epochs), label is not None)
        fit = fitted.fit(data, validation_data=val, epochs=int(epochs), callbacks=[stop, show], verbose=0)
        bar.close()
        history[name] = {k: [float(v) for v in values] for k, values in fit.history.items()}
        losses = history[name]["val_loss"]
        improved = min(losses) < best
        if label is not None:
            kept = "" if improved else f", undone: the warm-up's {best:.4f} was lower"
            bar.write(f"{label} {name}: {len(losses)} epochs, best validation loss {min(losses):.4f} "
                      f"(epoch {int(np.argmin(losses)) + 1}){kept}", file=sys.stdout)
        if improved:
            best, best_weights = min(losses), model.get_weights()
    # End to end that never beats the warm-up's validation loss is undone:
    # the result is then the frozen-encoder head.
    if best_weights is not None:
        model.set_weights(best_weights)
    history["best_val_loss"] = float(best)
    model.freeze_backbone = True
    return SupervisedClassifier(model, arrays_of, history, preprocessor)


def _epoch_bar(desc, epochs, enabled):
    """`(bar, callback)`: a progress bar of `epochs` that the Keras callback
    advances each epoch, the validation loss beside it."""
    import keras

    from astromer.progress import progress

    bar = progress(total=epochs, unit="epochs", enabled=enabled, desc=desc)

    def advance(epoch, logs):
        bar.set_postfix_str(f"val_loss {logs.get('val_loss', float('nan')):.4f}", refresh=False)
        bar.update()

    return bar, keras.callbacks.LambdaCallback(on_epoch_end=advance)


def encoder_for_bands(encoder, bands):
    """The encoder the method trains: with several bands and a single-band
    encoder, its joint multi-band version (`with_bands`: all bands in one
    sequence, a band embedding that starts at zero, so it starts as the
    single-band encoder on each band) so that both bands are read and
    trained together; otherwise the encoder itself."""
    if bands and len(bands) > 1 and not getattr(encoder.backbone, "band_names", None):
        return encoder.with_bands([str(b) for b in bands])
    return encoder


def score(method, cell, variant=None):
    """Method "supervised": `train_end_to_end` from the cell's encoder (after
    continued pretraining when the run does it), one classifier per head
    seed, class probabilities averaged; returns (predicted, true class
    indices of the test objects, None). Each seed's probabilities are kept
    in the run's folder and read back by a rerun (`seed_records`)."""
    import time

    from sklearn.metrics import f1_score

    from astromer.fewshot import seed_records

    if method not in SUPERVISED:
        raise ValueError(f"Unknown supervised method {method!r}; use one of {SUPERVISED}.")
    run, out = cell.run, cell.run.settings.out
    bands = run.settings.bands
    encoder = encoder_for_bands(cell.encoder, bands)
    joint = bool(getattr(encoder.backbone, "band_names", None))
    band = bands[0] if (bands and len(bands) == 1 and not joint) else None
    by_id = {oid: run.light_curve(oid) for ids in cell.ids.values() for oid in ids}
    test = cell.ids["test"]
    truth = run.labels(test)
    settings = run.settings.supervised
    probabilities = []
    for k in range(int(run.settings.heads.seeds)):
        seed, label = cell.fold + SEED_STRIDE * k, f"supervised spc {cell.spc} fold {cell.fold} seed {k}"
        record = seed_records.fingerprint(encoder, dataclasses.asdict(settings), bands, cell.ids, run.classes, seed)
        # found: the stored record when it matches, else why not (None: no files).
        kept, found = seed_records.read(out, cell.fold, cell.spc, k, record, test)
        if kept is not None:
            run.shared.setdefault("supervised_read_back", []).append(label)
            _say(run, f"{label}: read back (macro-F1 {found.get('macro_f1', float('nan')):.3f}, trained in "
                      f"{found.get('seconds', float('nan')):.0f} s by an earlier run)")
            probabilities.append(kept)
            continue
        if found:
            _say(run, f"{label}: training again, {found}")
        start = time.time()
        classifier = train_end_to_end(encoder, by_id, cell.ids, run.y_by_id, settings, band=band, seed=seed,
                                      label=label if run.settings.verbose else None)
        probabilities.append(classifier.probabilities(test))
        f1 = f1_score(truth, np.argmax(probabilities[-1], axis=1), average="macro")
        seed_records.write(out, cell.fold, cell.spc, k,
                           {**record, "macro_f1": float(f1), "seconds": round(time.time() - start, 1),
                            "best_val_loss": classifier.history["best_val_loss"]},
                           test, probabilities[-1], truth)
    return np.argmax(np.mean(probabilities, axis=0), axis=1), truth, None


def _say(run, line):
    """One line on stdout when the run is verbose, above any progress bar."""
    if run.settings.verbose:
        from tqdm.auto import tqdm

        tqdm.write(line, file=sys.stdout)
