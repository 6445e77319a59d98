"""Few-shot methods on hand-crafted light-curve features, alone and with the encoder.

Two families (`astromer.fewshot.methods`):

- features alone (the encoder is not used): "features_rf", the reference
  baseline (scikit-learn random forest, 500 trees, balanced class weights,
  `random_state=0` as in `../shared/baselines/FEATURES.md`), "features_hgb"
  (histogram gradient boosting, the same classifier as "features_emb_hgb"
  so that the two rows differ only by the embedding) and "features_logreg"
  (standardised logistic regression, a diagnostic);
- features + embeddings (per encoder variant, after finetuning when the run
  finetunes): the object's mean embedding of the last block appended to its
  features, for the random forest ("features_emb_rf") and for gradient
  boosting ("features_emb_hgb"), and the standardised concatenation into the
  A2 head's MLP ("features_emb_mlp": 1024/512/256, dropout, AdamW, early
  stopping on the validation objects, averaged over the head seeds).

Features are computed once per run for the run's bands (`--band` / `--bands`,
every band of the table otherwise), side by side. NaN features (too few
observations for a feature, a missing band) are replaced by the training
objects' median for the classifiers that cannot take NaN (the random
forest's reference setting, logistic regression, the MLP); gradient boosting
reads NaN as missing. Every imputed value is counted and printed.
"""

import warnings

import numpy as np

from astromer.fewshot.heads import average_probabilities, fit_heads

FEATURE_ONLY = ("features_rf", "features_hgb", "features_logreg")
WITH_EMBEDDINGS = ("features_emb_rf", "features_emb_hgb", "features_emb_mlp")
# The reference baseline's forest (FEATURES.md): the same seed in every fold.
RF_SETTINGS = {"n_estimators": 500, "class_weight": "balanced", "random_state": 0}


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
    """The run's feature table (computed on first use, then shared by every
    cell): `(values (N, F), {id: row}, column names)`."""
    if "light_curve_features" not in cell.shared:
        from astromer.fewshot.features import light_curve_features

        table, report = light_curve_features(cell.light_curves, bands=cell.bands)
        print(report.summary())
        cell.shared["light_curve_features"] = (table.to_numpy(np.float64),
                                               {oid: i for i, oid in enumerate(table.index)}, list(table.columns))
        cell.shared["feature_report"] = report.to_dict()
    return cell.shared["light_curve_features"]


def _rows(index, ids):
    missing = [i for i in ids if i not in index]
    if missing:
        raise ValueError(f"{len(missing)} ids of the split have no features (e.g. {missing[:5]}).")
    return np.array([index[i] for i in ids], dtype=np.int64)


def _note_imputed(cell, method, count, total):
    if count:
        cell.shared.setdefault("imputed", {})[(method, cell.spc, cell.fold)] = count
        print(f"note: {method} spc {cell.spc} fold {cell.fold}: {count:,} of {total:,} feature values were NaN "
              "and were replaced by the training median")


def _forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_jobs=-1, **RF_SETTINGS)


def _boosting(seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)


def _logreg():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def _fit_sklearn(method, model, x, y, rows, cell, native_nan=False):
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
    settings = {**cell.settings, "standardize": True}
    heads = fit_heads("mean_last", train, y[rows["train"]], val, y[rows["val"]], cell.num_classes, settings,
                      cell.fold)
    return np.argmax(average_probabilities(heads, test), axis=1)


def _labels(cell, ids):
    return np.array([cell.y_by_id.get(i, -1) for i in ids])


def _classify(method, x, y, rows, cell):
    """Trains the classifier a method's name ends with (rf, hgb, logreg,
    mlp) on `x[rows["train"]]`; returns the test rows' predicted classes."""
    kind = method.rsplit("_", 1)[-1]
    if kind == "rf":
        return _fit_sklearn(method, _forest(), x, y, rows, cell)
    if kind == "hgb":
        return _fit_sklearn(method, _boosting(cell.fold), x, y, rows, cell, native_nan=True)
    if kind == "logreg":
        return _fit_sklearn(method, _logreg(), x, y, rows, cell)
    return _fit_mlp(method, x, y, rows, cell)


def score_features(method, cell, variant=None):
    """A feature-only method on one cell: (predicted, true class indices of
    the test objects, None)."""
    if method not in FEATURE_ONLY:
        raise ValueError(f"Unknown feature method {method!r}; use one of {FEATURE_ONLY}.")
    values, index, _ = run_features(cell)
    y = _labels(cell, list(index))
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
    x = np.concatenate([values[_rows(index, ids)], encoder.mean_layers[encoder.rows(ids), -1]], axis=1)
    joint = {oid: i for i, oid in enumerate(ids)}
    y = _labels(cell, ids)
    rows = {name: _rows(joint, split_ids) for name, split_ids in cell.ids.items()}
    return _classify(method, x, y, rows, cell), y[rows["test"]], None
