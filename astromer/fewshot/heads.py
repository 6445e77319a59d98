"""Classification heads on a frozen encoder's pooled features.

"a2" (layer mix + MLP 1024/512/256), "max_pool" (max over time of the last
block + MLP) and "linear" (AstroCo: layer mix + linear) are
`FeatureClassifier`s trained with AdamW on standardised features
(`HeadSettings`, docs/fewshot.md); "logreg" is scikit-learn's logistic
regression on the mean embedding of the last block.
"""

import numpy as np

from astromer.fewshot.fitting import fit_early_stopping, scaled_logreg

FEATURE_HEADS = ("a2", "max_pool", "linear", "logreg")
# Head k of a split uses seed `fold + SEED_STRIDE * k` (`HeadSettings.seeds`).
SEED_STRIDE = 1000


def fit_heads(head, train, val, num_classes, settings, seed):
    """`settings.seeds` `FeatureClassifier`s of kind `head` on `train`
    `(x, y)`, each early-stopped on `val`; head k uses seed
    `seed + SEED_STRIDE * k`."""
    import keras

    from astromer.models.feature_classifier import FeatureClassifier

    heads = []
    for k in range(int(settings.seeds)):
        head_seed = seed + SEED_STRIDE * k
        # Seeded before construction: the initial weights are the seed's,
        # not whatever the models trained before left in the global state.
        keras.utils.set_random_seed(head_seed)
        model = FeatureClassifier(num_classes, head=head, feature_shape=train[0].shape[1:],
                                  dropout=settings.dropout, standardize=settings.standardize)
        model.adapt(train[0])
        optimizer = keras.optimizers.AdamW(settings.learning_rate, weight_decay=settings.weight_decay)
        fit_early_stopping(model, ({"features": train[0]}, train[1]), ({"features": val[0]}, val[1]), settings,
                           head_seed, optimizer)
        heads.append(model)
    return heads


def average_probabilities(heads, x):
    """The heads' class probabilities of features `x`, averaged."""
    return np.mean([head.predict({"features": x}, verbose=0, batch_size=1024) for head in heads], axis=0)


def train_head(method, features, y, rows, num_classes, settings, seed):
    """Fits a frozen-encoder head (`settings.seeds` of them, probabilities
    averaged); returns (predict function, gamma weights averaged over seeds).
    `predict(rows)` gives class indices, `predict.probabilities(rows)` the
    averaged class probabilities (not for logreg)."""
    if method == "logreg":
        x = features.mean_layers[:, -1]
        model = scaled_logreg(max_iter=2000)
        model.fit(x[rows["train"]], y[rows["train"]])
        return (lambda r: model.predict(x[r])), None
    x = features.max_last if method == "max_pool" else features.mean_layers
    heads = fit_heads(method, (x[rows["train"]], y[rows["train"]]), (x[rows["val"]], y[rows["val"]]), num_classes,
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
    y = cell.run.labels(features.ids)
    rows = {name: features.rows(ids) for name, ids in cell.ids.items()}
    predict, gamma = train_head(method, features, y, rows, cell.run.num_classes, cell.run.settings.heads,
                                seed=cell.fold)
    return predict(rows["test"]), y[rows["test"]], gamma
