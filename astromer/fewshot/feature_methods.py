"""Few-shot methods on hand-crafted light-curve features, alone and with the encoder.

Two families (`astromer.fewshot.methods`; what each method is: docs/features.md):
features alone, the encoder unused (`FEATURE_ONLY`), and features + the
encoder's mean embedding of the last block, per encoder variant
(`WITH_EMBEDDINGS`). Their classifiers' settings are `FeatureSettings`.
Features are computed once per object (`astromer.fewshot.feature_store`);
every NaN imputed by the training median is counted and printed.
"""

import dataclasses
import warnings

import numpy as np

from astromer.fewshot.fitting import scaled_logreg
from astromer.fewshot.heads import average_probabilities, fit_heads

FEATURE_ONLY = ("features_rf", "features_hgb", "features_logreg")
WITH_EMBEDDINGS = ("features_emb_rf", "features_emb_hgb", "features_emb_mlp", "features_emb_stack",
                   "features_emb_blend")


def impute_median(train, *others):
    """Replaces NaN in every array by the column's median over `train`
    (0 where a column is NaN for every training object).

    Returns `(train, *others, count)`, the arrays as new float64 arrays and
    the number of values replaced in all of them.
    """
    train = np.array(train, dtype=np.float64)
    with warnings.catch_warnings():
        # An all-NaN column is expected (a feature no training object has):
        # its median is NaN, replaced by 0 below.
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(train, axis=0) if len(train) else np.full(train.shape[1:], np.nan)
    median = np.where(np.isnan(median), 0.0, median)
    out, count = [], 0
    for array in (train, *others):
        array = np.array(array, dtype=np.float64)
        missing = np.isnan(array)
        count += int(missing.sum())
        array[missing] = np.broadcast_to(median, array.shape)[missing]
        out.append(array)
    return (*out, count)


def run_features(cell):
    """The features of the cell's objects (`FeatureStore`, kept for every
    cell of the run: an object is computed once): `(values (N, F),
    {id: row}, column names)` of every object computed so far, the cell's
    included."""
    run = cell.run
    if "light_curve_features" not in run.shared:
        from astromer.fewshot.feature_store import FeatureStore

        run.shared["light_curve_features"] = FeatureStore(run.light_curves, bands=run.settings.bands,
                                                          verbose=run.settings.verbose,
                                                          cache_dir=run.settings.cache_dir)
    store = run.shared["light_curve_features"]
    store.ensure([i for ids in cell.ids.values() for i in ids])
    return store.table()


def _rows(index, ids):
    missing = [i for i in ids if i not in index]
    if missing:
        raise ValueError(f"{len(missing)} ids of the split have no features (e.g. {missing[:5]}).")
    return np.array([index[i] for i in ids], dtype=np.int64)


def _note_imputed(cell, method, count, total):
    if count:
        cell.run.shared.setdefault("imputed", {})[(method, cell.spc, cell.fold)] = count
        print(f"note: {method} spc {cell.spc} fold {cell.fold}: {count:,} of {total:,} feature values were NaN "
              "and were replaced by the training median")


def _forest(settings):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_jobs=-1, **settings.forest)


def _fit_sklearn(method, model, x, rows, cell, native_nan=False):
    """`model` fitted on the training rows of `x = (features, labels)`; the
    test rows' predicted classes."""
    x, y = x
    train, test = x[rows["train"]], x[rows["test"]]
    if not native_nan:
        train, test, count = impute_median(train, test)
        _note_imputed(cell, method, count, train.size + test.size)
    model.fit(train, y[rows["train"]])
    return model.predict(test)


def _fit_mlp(method, x, y, rows, cell):
    """The A2 head's MLP on standardised features, early-stopped on val,
    class probabilities averaged over the head seeds."""
    train, val, test, count = impute_median(x[rows["train"]], x[rows["val"]], x[rows["test"]])
    _note_imputed(cell, method, count, train.size + val.size + test.size)
    # Always standardised: features and embeddings differ in scale by orders
    # of magnitude.
    settings = dataclasses.replace(cell.run.settings.heads, standardize=True)
    heads = fit_heads("mean_last", (train, y[rows["train"]]), (val, y[rows["val"]]), cell.run.num_classes, settings,
                      cell.fold)
    return np.argmax(average_probabilities(heads, test), axis=1)


def _class_probabilities(model, x, num_classes):
    """`model.predict_proba(x)` in columns of all `num_classes` classes (a
    class absent from training gets 0)."""
    out = np.zeros((len(x), num_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def out_of_fold_probabilities(embedding, y, ids, others, num_classes, c, folds, seed=0):
    """Class probabilities of a balanced logistic regression (inverse
    regularisation `c`) on the standardised `embedding` (training rows,
    labels `y`, object `ids`): for each training row from a regression
    fitted without its object (the distinct objects split into at most
    `folds` stratified folds; repeated ids stay together), for each array of
    `others` from one fitted on all training rows. Returns `(train
    probabilities, [others' probabilities])`, `(rows, num_classes)` each (a
    class absent from training gets 0)."""
    from sklearn.model_selection import StratifiedKFold

    ids, y = np.asarray(ids), np.asarray(y)
    distinct, first = np.unique(ids, return_index=True)
    counts = np.bincount(y[first])
    smallest = int(counts[counts > 0].min())
    if smallest < 2:
        raise ValueError("features_emb_stack needs at least 2 distinct training objects of every class "
                         f"(out-of-fold probabilities), got {smallest}; use features_emb_rf.")

    def fit(rows):
        return scaled_logreg(C=c, class_weight="balanced").fit(embedding[rows], y[rows])

    train = np.zeros((len(y), num_classes))
    splitter = StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)
    for _, held in splitter.split(distinct, y[first]):
        held_rows = np.isin(ids, distinct[held])
        train[held_rows] = _class_probabilities(fit(~held_rows), embedding[held_rows], num_classes)
    everything = fit(np.ones(len(y), bool))
    return train, [_class_probabilities(everything, x, num_classes) for x in others]


def _stack(method, features, embedding, y, rows, cell):
    """Forest on features + out-of-fold class probabilities of the embedding."""
    settings = cell.run.settings.features
    p_train, (p_test,) = out_of_fold_probabilities(embedding[rows["train"]], y[rows["train"]], cell.ids["train"],
                                                   [embedding[rows["test"]]], cell.run.num_classes, settings.stack_c,
                                                   settings.stack_folds, seed=cell.fold)
    # One row per split row (repeats included): training rows, then test rows.
    x = np.concatenate([np.hstack([features[rows["train"]], p_train]), np.hstack([features[rows["test"]], p_test])])
    y = np.concatenate([y[rows["train"]], y[rows["test"]]])
    n = len(rows["train"])
    return _fit_sklearn(method, _forest(settings), (x, y), {"train": np.arange(n), "test": np.arange(n, len(x))},
                        cell)


def blend_probabilities(features, embedding, y, rows, num_classes, settings):
    """Late fusion: `(1 - settings.blend_weight)` x the reference forest's
    class probabilities on `features` (NaN imputed) + `blend_weight` x those
    of a balanced logistic regression (`blend_c`) on the standardised
    `embedding`, both trained on `rows["train"]`, for `rows["test"]`.
    Returns `(probabilities, imputed count)`."""
    train, test, count = impute_median(features[rows["train"]], features[rows["test"]])
    y_train = y[rows["train"]]
    forest = _class_probabilities(_forest(settings).fit(train, y_train), test, num_classes)
    logreg = scaled_logreg(C=settings.blend_c, class_weight="balanced").fit(embedding[rows["train"]], y_train)
    logreg = _class_probabilities(logreg, embedding[rows["test"]], num_classes)
    weight = settings.blend_weight
    return (1 - weight) * forest + weight * logreg, count


def _classify(method, x, y, rows, cell):
    """Trains the classifier a method's name ends with (rf, hgb, logreg,
    mlp) on `x[rows["train"]]`; returns the test rows' predicted classes."""
    kind = method.rsplit("_", 1)[-1]
    if kind == "mlp":
        return _fit_mlp(method, x, y, rows, cell)
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        boosting = HistGradientBoostingClassifier(class_weight="balanced", random_state=cell.fold)
        return _fit_sklearn(method, boosting, (x, y), rows, cell, native_nan=True)
    model = _forest(cell.run.settings.features) if kind == "rf" else scaled_logreg()
    return _fit_sklearn(method, model, (x, y), rows, cell)


def score_features(method, cell, variant=None):
    """A feature-only method on one cell: (predicted, true class indices of
    the test objects, None)."""
    if method not in FEATURE_ONLY:
        raise ValueError(f"Unknown feature method {method!r}; use one of {FEATURE_ONLY}.")
    values, index, _ = run_features(cell)
    y = cell.run.labels(index)
    rows = {name: _rows(index, split_ids) for name, split_ids in cell.ids.items()}
    return _classify(method, values, y, rows, cell), y[rows["test"]], None


def score_with_embeddings(method, cell, variant):
    """A features + embeddings method on one cell's encoder features of
    `variant`: (predicted, true class indices of the test objects, None)."""
    if method not in WITH_EMBEDDINGS:
        raise ValueError(f"Unknown features + embeddings method {method!r}; use one of {WITH_EMBEDDINGS}.")
    values, index, _ = run_features(cell)
    encoder = cell.features[variant]
    # Objects with both: the encoder's (cleaned) objects that have features.
    ids = [i for i in encoder.ids if i in index]
    features, embedding = values[_rows(index, ids)], encoder.mean_layers[encoder.rows(ids), -1]
    joint = {oid: i for i, oid in enumerate(ids)}
    y = cell.run.labels(ids)
    rows = {name: _rows(joint, split_ids) for name, split_ids in cell.ids.items()}
    if method == "features_emb_stack":
        return _stack(method, features, embedding, y, rows, cell), y[rows["test"]], None
    if method == "features_emb_blend":
        probabilities, count = blend_probabilities(features, embedding, y, rows, cell.run.num_classes,
                                                   cell.run.settings.features)
        _note_imputed(cell, method, count, features[rows["train"]].size + features[rows["test"]].size)
        return np.argmax(probabilities, axis=1), y[rows["test"]], None
    return _classify(method, np.concatenate([features, embedding], axis=1), y, rows, cell), y[rows["test"]], None
