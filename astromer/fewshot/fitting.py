"""What every trained few-shot method shares: the early-stopped Keras fit,
object-level class probabilities from window-level ones, and the
standardised logistic regression."""

import numpy as np


def fit_early_stopping(model, train, val, settings, seed, optimizer="auto"):
    """Compiles and fits `model` on `train` `(x, y)` for `settings.epochs`
    (batch `settings.batch_size`), stopping on the loss of `val` `(x, y)`
    after `settings.patience` epochs and keeping the best epoch's weights."""
    import keras

    # Seeded here as well as before construction: the shuffling and dropout
    # of the fit are then the seed's too.
    keras.utils.set_random_seed(seed)
    model.compile(optimizer)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=settings.patience, restore_best_weights=True)
    model.fit(*train, validation_data=val, epochs=settings.epochs, batch_size=settings.batch_size,
              callbacks=[stop], verbose=0, shuffle=True)
    return model


def object_probabilities(model, windows, ids, input_names=None, batch_size=512):
    """Class probabilities of objects: the mean softmax of their windows.

    `windows` maps an id to a dict of `(n_windows, ...)` model-input arrays
    (only `input_names` are fed, when given); rows follow `ids`, repeats
    included. Each distinct object is predicted once.
    """
    import keras

    unique = list(dict.fromkeys(ids))
    keys = input_names or list(windows[unique[0]])
    x = {k: np.concatenate([windows[i][k] for i in unique]) for k in keys}
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x, verbose=0, batch_size=batch_size)))
    out, start = {}, 0
    for i in unique:
        n = len(windows[i]["magnitudes"])
        out[i] = probs[start:start + n].mean(axis=0)
        start += n
    return np.stack([out[i] for i in ids])


def scaled_logreg(max_iter=5000, **options):
    """scikit-learn's logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, **options))
