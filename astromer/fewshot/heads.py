"""Classification heads on a frozen encoder's pooled features.

Methods: "a2" (layer mix + MLP 1024/512/256), "max_pool" (max over time of
the last block + MLP), "linear" (AstroCo: layer mix + linear), all
`FeatureClassifier`s, and "logreg" (scikit-learn logistic regression on the
mean embedding of the last block).
"""

import numpy as np

from astromer.fewshot.fitting import fit_early_stopping

FEATURE_HEADS = ("a2", "max_pool", "linear", "logreg")
# Settings of the frozen-encoder heads (see `head_optimizer`); the supervised
# baselines use epochs, batch_size and patience with Adam 1e-3.
HEAD_SETTINGS = {"epochs": 300, "batch_size": 32, "patience": 20, "learning_rate": 3e-4, "weight_decay": 0.05,
                 "dropout": 0.5, "standardize": True, "seeds": 1}
# "seeds": heads trained per split (different initialisation and dropout);
# their class probabilities are averaged. With 20 objects per class and 5
# for validation, one head's macro-F1 moves by up to about 0.1 with its seed
# alone; averaging several separates encoders that a single head cannot.
# Head k uses seed `fold + SEED_STRIDE * k`, so seeds=1 is the single head.
SEED_STRIDE = 1000


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


def fit_heads(head, x_train, y_train, x_val, y_val, num_classes, settings, seed):
    """`settings["seeds"]` `FeatureClassifier`s of kind `head` on `x_train`,
    each early-stopped on `x_val`; head k uses seed `seed + SEED_STRIDE * k`."""
    import keras

    from astromer.models.feature_classifier import FeatureClassifier

    heads = []
    for k in range(int(settings.get("seeds", 1))):
        head_seed = seed + SEED_STRIDE * k
        # Seeded before construction: the initial weights are the seed's,
        # not whatever the models trained before left in the global state.
        keras.utils.set_random_seed(head_seed)
        model = FeatureClassifier(num_classes, head=head, feature_shape=x_train.shape[1:],
                                  dropout=settings["dropout"], standardize=settings["standardize"])
        model.adapt(x_train)
        fit_early_stopping(model, {"features": x_train}, y_train, {"features": x_val}, y_val, settings["epochs"],
                           settings["batch_size"], settings["patience"], head_seed, head_optimizer(settings))
        heads.append(model)
    return heads


def average_probabilities(heads, x):
    """The heads' class probabilities of features `x`, averaged."""
    return np.mean([head.predict({"features": x}, verbose=0, batch_size=1024) for head in heads], axis=0)


def train_head(method, features, y, rows, num_classes, settings, seed):
    """Fits a frozen-encoder head (`settings["seeds"]` of them, probabilities
    averaged); returns (predict function, gamma weights averaged over seeds).
    `predict(rows)` gives class indices, `predict.probabilities(rows)` the
    averaged class probabilities (not for logreg)."""
    if method == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = features.mean_layers[:, -1]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        model.fit(x[rows["train"]], y[rows["train"]])
        return (lambda r: model.predict(x[r])), None
    x = features.max_last if method == "max_pool" else features.mean_layers
    heads = fit_heads(method, x[rows["train"]], y[rows["train"]], x[rows["val"]], y[rows["val"]], num_classes,
                      settings, seed)

    def probabilities(r):
        return average_probabilities(heads, x[r])

    def predict(r):
        return np.argmax(probabilities(r), axis=1)

    predict.probabilities = probabilities
    gammas = [head.gamma_weights() for head in heads]
    return predict, (None if gammas[0] is None else np.mean(gammas, axis=0))


def score(method, cell, variant):
    """Trains `method` on the cell's features of `variant`; returns (predicted
    and true class indices of the test objects, gamma weights or None)."""
    features = cell.features[variant]
    # Objects without a label (in the table, not in the labels) get -1; no
    # split row points at them.
    y = np.array([cell.y_by_id.get(i, -1) for i in features.ids])
    rows = {name: features.rows(ids) for name, ids in cell.ids.items()}
    predict, gamma = train_head(method, features, y, rows, cell.num_classes, cell.settings, seed=cell.fold)
    return predict(rows["test"]), y[rows["test"]], gamma
