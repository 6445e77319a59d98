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

- "rf": the reference forest on the features;
- "rf+lrfeat_C*_w0.25": 0.75 x the forest + 0.25 x the regression;
- "rf_stackfeat_C*": the forest on the features plus the regression's
  out-of-fold class probabilities (as "features_emb_stack").

Writes one row per (scheme, fold, samples per class) with validation and
test macro-F1 and prints the table ordered by validation score.
"""

import numpy as np
import pandas as pd

from fusion import arguments, write_and_print


def main(argv=None):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves
    from astromer.fewshot.feature_methods import RF_SETTINGS, impute_median, out_of_fold_probabilities
    from astromer.fewshot.features import light_curve_features

    args = arguments(__doc__, argv, encoder=False)
    raw = [lc.only_bands(args.bands) for lc in iter_light_curves(args.data)]
    light_curves = list(clean_light_curves(raw, CleaningConfig(min_observations=1), CleaningReport()))
    table, report = light_curve_features(light_curves, bands=args.bands)
    print(report.summary())
    features = table.to_numpy(np.float64)
    row = {oid: i for i, oid in enumerate(table.index)}
    labels = pd.read_csv(args.labels, dtype={"id": str})
    label_of = dict(zip(labels["id"], labels["label"]))
    classes = sorted(set(label_of.values()))
    rows = []
    for fold in range(3):
        for spc in (20, 100, 500):
            split = pd.read_csv(f"{args.splits}/fold{fold}_spc{spc}.csv", dtype={"id": str})
            part = {k: [i for i in split.loc[split.split == k, "id"] if i in row] for k in ("train", "val", "test")}
            y = {k: np.array([classes.index(label_of[i]) for i in v]) for k, v in part.items()}
            train, val, test, _ = impute_median(*(features[[row[i] for i in part[k]]] for k in ("train", "val", "test")))
            forest = RandomForestClassifier(n_jobs=-1, **RF_SETTINGS).fit(train, y["train"])
            out = {"rf": (forest.predict_proba(val), forest.predict_proba(test))}
            scale = StandardScaler().fit(train)
            for c in (1.0, 0.01):
                logreg = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
                logreg.fit(scale.transform(train), y["train"])
                out[f"rf+lrfeat_C{c}_w0.25"] = tuple(0.75 * p + 0.25 * logreg.predict_proba(scale.transform(x))
                                                     for p, x in zip(out["rf"], (val, test)))
            for c in (0.1, 0.01):
                p_train, p_others = out_of_fold_probabilities(train, y["train"], part["train"], [val, test],
                                                              len(classes), c=c, seed=fold)
                stacked = RandomForestClassifier(n_jobs=-1, **RF_SETTINGS).fit(np.hstack([train, p_train]),
                                                                               y["train"])
                out[f"rf_stackfeat_C{c}"] = tuple(stacked.predict_proba(np.hstack([x, p]))
                                                  for x, p in zip((val, test), p_others))
            for name, (p_val, p_test) in out.items():
                rows.append({"scheme": name, "fold": fold, "spc": spc,
                             "val_macro_f1": f1_score(y["val"], p_val.argmax(1), average="macro"),
                             "test_macro_f1": f1_score(y["test"], p_test.argmax(1), average="macro")})
            print(f"fold {fold}, {spc} per class done", flush=True)
    write_and_print(rows, args.out)


if __name__ == "__main__":
    main()
