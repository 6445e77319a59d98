"""Supervised baselines of the benchmark: trained from scratch on raw windows.

Methods "raw_gru", "emb_gru" and "emb_mlp"; the Keras models are in
`astromer.models.baselines`. They read the light curves' windows, not an
encoder's features, so a fold's finetuned encoder does not change them.
"""

import numpy as np

from astromer.fewshot.fitting import fit_early_stopping, object_probabilities

BASELINES = ("raw_gru", "emb_gru", "emb_mlp")


def windows_of(light_curves, window_size, band=None):
    """Model-input windows of each object (for the raw-sequence baselines):
    `{id: dict of (n_windows, window_size) arrays}`; without `band`, every
    band's rows are read as one sequence."""
    from astromer.models.classifier import ClassificationTask
    from astromer.preprocessing.classification import ClassificationPreprocessor

    preprocessor = ClassificationPreprocessor(window_size, ClassificationTask.input_names, band=band,
                                              window_mode="nonoverlapping", all_bands=True)
    by_id = {lc.id: lc for lc in light_curves}
    return {oid: preprocessor.windows(item) for oid, item in preprocessor.arrays(by_id, list(by_id)).items()}


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
    fit_early_stopping(model, (x_train, y_train), (x_val, y_val), settings, seed)

    def predict(ids):
        return np.argmax(object_probabilities(model, windows, ids), axis=1)

    return predict


def score(method, cell, variant=None):
    """Trains `method` on the cell's training windows; returns (predicted and
    true class indices of the test objects, None: no gamma weights)."""
    run = cell.run
    window_size = run.model.backbone.window_size
    if "windows" not in run.shared:
        # Cut once per run: the windows do not depend on the fold. A single
        # named band is read alone, as the encoder's "single" variant does.
        bands = run.settings.bands
        band = bands[0] if bands and run.settings.variants == ("single",) else None
        run.shared["windows"] = windows_of(run.light_curves, window_size, band)
    predict = train_baseline(method, run.shared["windows"], cell.ids, run.y_by_id, run.num_classes, window_size,
                             run.settings.heads, seed=cell.fold)
    return predict(cell.ids["test"]), run.labels(cell.ids["test"]), None
