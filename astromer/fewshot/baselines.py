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
    `{id: dict of (n_windows, window_size) arrays}`."""
    from astromer.data.windows import sequential_windows

    out = {}
    for lc in light_curves:
        array = (lc if band is None else lc.only_bands([band])).as_array()
        w = sequential_windows(array, window_size)
        out[lc.id] = {
            "magnitudes": w["magnitudes"], "times": w["times"],
            "padding_mask": w["padding_mask"], "hidden_mask": np.zeros_like(w["padding_mask"]),
        }
    return out


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
    fit_early_stopping(model, x_train, y_train, x_val, y_val, settings["epochs"], settings["batch_size"],
                       settings["patience"], seed)

    def predict(ids):
        return np.argmax(object_probabilities(model, windows, ids), axis=1)

    return predict


def score(method, cell, variant=None):
    """Trains `method` on the cell's training windows; returns (predicted and
    true class indices of the test objects, None: no gamma weights)."""
    window_size = cell.model.backbone.window_size
    if "windows" not in cell.shared:
        # Cut once per run: the windows do not depend on the fold. A single
        # named band is read alone, as the encoder's "single" variant does.
        band = cell.bands[0] if cell.bands and cell.variants == ["single"] else None
        cell.shared["windows"] = windows_of(cell.light_curves, window_size, band)
    predict = train_baseline(method, cell.shared["windows"], cell.ids, cell.y_by_id, cell.num_classes, window_size,
                             cell.settings, seed=cell.fold)
    return predict(cell.ids["test"]), np.array([cell.y_by_id[i] for i in cell.ids["test"]]), None
