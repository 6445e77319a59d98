"""Controls without an encoder for the fusion schemes (docs/features.md):
does blending or stacking gain over the reference forest because of the
embedding, or because two classifiers are combined?

    python docs/bench/eros_features/feature_controls.py --bands EROS_R \
        --out docs/bench/eros_features/feature_controls_eros_r.csv
    python docs/bench/eros_features/feature_controls.py --bands EROS_B EROS_R \
        --out docs/bench/eros_features/feature_controls_eros_br.csv

The same combinations as "features_emb_blend" and "features_emb_stack", with
the logistic regression reading the standardised features instead of the
embedding (balanced; C = 1 as fusion.py's "lr_feat", and the methods' own C):

- "rf": the reference forest on the features; "rf_seed1".."rf_seed4": the
  same forest with other random seeds (its own noise);
- "rf+lrfeat_C*_w0.25": 0.75 x the forest + 0.25 x the regression;
- "rf_stackfeat_C*": the forest on the features plus the regression's
  out-of-fold class probabilities (as "features_emb_stack").

Writes one row per (scheme, fold, samples per class) with validation and
test macro-F1 and prints the table ordered by validation score.
"""

import numpy as np

from fusion import arguments, forest, load_features, load_labels, score_cells, write_and_print

# Seeds of the forest scored ("rf" is seed 0, the reference's).
FOREST_SEEDS = 5


def controls(train, val, test, y_train, train_ids, num_classes, fold):
    """{scheme: (validation probabilities, test probabilities)} of the
    forest alone and combined with a regression on the same features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from astromer.fewshot.feature_methods import out_of_fold_probabilities

    reference = forest().fit(train, y_train)
    out = {"rf": (reference.predict_proba(val), reference.predict_proba(test))}
    # The reference forest with other seeds: how far its own randomness
    # moves macro-F1, the yardstick for gains of a few thousandths.
    for seed in range(1, FOREST_SEEDS):
        other = forest(seed).fit(train, y_train)
        out[f"rf_seed{seed}"] = (other.predict_proba(val), other.predict_proba(test))
    scale = StandardScaler().fit(train)
    for c in (1.0, 0.01):
        logreg = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        logreg.fit(scale.transform(train), y_train)
        out[f"rf+lrfeat_C{c}_w0.25"] = tuple(0.75 * p + 0.25 * logreg.predict_proba(scale.transform(x))
                                             for p, x in zip(out["rf"], (val, test)))
    for c in (0.1, 0.01):
        p_train, p_others = out_of_fold_probabilities(train, y_train, train_ids, [val, test], num_classes, c=c, folds=5,
                                                      seed=fold)
        stacked = forest().fit(np.hstack([train, p_train]), y_train)
        out[f"rf_stackfeat_C{c}"] = tuple(stacked.predict_proba(np.hstack([x, p]))
                                          for x, p in zip((val, test), p_others))
    return out


def main(argv=None):
    from astromer.fewshot.feature_methods import impute_median

    args = arguments(__doc__, argv, encoder=False)
    _, table = load_features(args.data, args.bands)
    label_of, classes = load_labels(args.labels)
    features = table.to_numpy(np.float64)
    row = {oid: i for i, oid in enumerate(table.index)}

    def cell_schemes(part, y, fold):
        train, val, test, _ = impute_median(*(features[[row[i] for i in part[k]]] for k in ("train", "val", "test")))
        return controls(train, val, test, y["train"], part["train"], len(classes), fold)

    write_and_print(score_cells(args.splits, label_of, classes, lambda i: i in row, cell_schemes), args.out)


if __name__ == "__main__":
    main()
