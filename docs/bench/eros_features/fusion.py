"""Ways to join hand-crafted features and frozen-encoder embeddings, chosen on
validation objects (docs/features.md, "Fusion schemes").

    python docs/bench/eros_features/fusion.py --weights ../shared/weights/astromer1-macho \
        --bands EROS_R --out docs/bench/eros_features/fusion_a1_eros_r.csv
    python docs/bench/eros_features/fusion.py --weights runs/joint256 --variant joint_per_band \
        --bands EROS_B EROS_R --out docs/bench/eros_features/fusion_joint256_eros_br.csv
    python docs/bench/eros_features/fusion.py --weights runs/joint256 --variant joint \
        --bands EROS_R --out docs/bench/eros_features/fusion_joint256_eros_r.csv
    python docs/bench/eros_features/fusion.py --weights runs/per-band \
        --bands EROS_R --out docs/bench/eros_features/fusion_per_band_eros_r.csv

Every scheme is scored on the validation and on the test objects of every
(fold, samples per class) cell of the fixed EROS-1 splits; a scheme is
chosen by its mean validation macro-F1 over the nine cells (one setting for
every cell: 5 validation objects per class at 20 per class are too few to
choose per cell). Schemes (the embedding is the encoder's mean embedding of
the last block, standardised on the training objects):

- "rf", "hgb": the features alone (the reference forest; gradient boosting);
- "lr_emb_C*": the embedding alone, balanced logistic regression;
- "rf_pca*", "hgb_pca*": the features plus the first k principal components
  of the embedding (fitted on the distinct training objects);
- "rf+lr*_w*", "hgb+lr*_w*": late fusion, class probabilities
  (1 - w) * classifier on features + w * logistic regression on embedding
  (the library's "features_emb_blend" is "rf+lr0.01_w0.25");
- "rf+hgb", "rf+hgb+lr0.1", "rf+lrfeat+lr0.1": probability averages;
- "rf_stack_C*": stacking, the features plus the out-of-fold class
  probabilities of the logistic regression on the embedding, into the
  forest (the library's "features_emb_stack", C = 0.1).

With --forest-seeds N, also "rf_seed1".."rf_seed{N-1}" and each blended as
"rf+lr0.01_w0.25" (the forest's own noise, and the blend's gain paired seed
by seed). --readout picks how the steps become one vector (default: mean of
the last block, what the schemes were chosen with).

Writes one row per (scheme, fold, samples per class) with validation and
test macro-F1, then prints the table ordered by validation score.
"""

import argparse
import warnings

import numpy as np
import pandas as pd

SHARED = "../shared/data/eros1_lmc"


def load_features(data, bands):
    """The cleaned light curves of `bands` and their feature table."""
    from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves
    from astromer.core.features import light_curve_features

    # As astromer-fewshot reads them: only the run's bands, then cleaned.
    raw = [lc.only_bands(bands) for lc in iter_light_curves(data)]
    light_curves = list(clean_light_curves(raw, CleaningConfig(min_observations=1), CleaningReport()))
    table, report = light_curve_features(light_curves, bands=bands)
    print(report.summary())
    return light_curves, table


# How the encoder's steps become one vector per object. The schemes were
# chosen with "mean_last"; the others are read the same way on validation.
READOUTS = {
    "mean_last": lambda e: e.mean_layers[:, -1],
    "max_last": lambda e: e.max_last,
    "mean_max_last": lambda e: np.concatenate([e.mean_layers[:, -1], e.max_last], axis=-1),
    "mean_all": lambda e: e.mean_layers.reshape(len(e.ids), -1),
}


def load(data, weights, variant, bands, readout="mean_last"):
    from astromer.core.loading import load_backbone
    from astromer.fewshot.encoder_features import EncoderFeatures, EncoderPasses

    light_curves, table = load_features(data, bands)
    encoder = EncoderFeatures(EncoderPasses(load_backbone(weights), light_curves), variant, bands)
    return table, encoder.ids, READOUTS[readout](encoder)


def forest(seed=0):
    """The reference forest (FEATURES.md); `seed` 0 is the reference's own."""
    from sklearn.ensemble import RandomForestClassifier

    from astromer.fewshot.settings import method_settings

    return RandomForestClassifier(n_jobs=-1, **{**method_settings()["features"].forest, "random_state": seed})


def schemes(ftr, fva, fte, etr, eva, ete, ytr, train_ids, fold, forest_seeds=1):
    """{scheme: (validation probabilities, test probabilities)}. With
    `forest_seeds` > 1 also the forest and the library's blend with the
    forest's other seeds ("rf_seed*", "rf_seed*+lr0.01_w0.25"): the gain
    paired seed by seed."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from astromer.fewshot.feature_methods import impute_median, out_of_fold_probabilities

    def boosting():
        return HistGradientBoostingClassifier(class_weight="balanced", random_state=fold)

    def fit(model, train, *others):
        model.fit(train, ytr)
        return tuple(model.predict_proba(x) for x in others)

    itr, iva, ite, _ = impute_median(ftr, fva, fte)
    out = {"rf": fit(forest(), itr, iva, ite), "hgb": fit(boosting(), ftr, fva, fte)}
    scale = StandardScaler().fit(etr)
    s = [scale.transform(e) for e in (etr, eva, ete)]
    for c in (0.01, 0.1, 1.0):
        out[f"lr_emb_C{c}"] = fit(LogisticRegression(C=c, max_iter=5000, class_weight="balanced"), *s)
    fs = StandardScaler().fit(itr)
    out["lr_feat"] = fit(LogisticRegression(max_iter=5000, class_weight="balanced"),
                         *(fs.transform(x) for x in (itr, iva, ite)))
    distinct = np.unique(np.asarray(train_ids), return_index=True)[1]
    for k in (2, 4, 8, 16):
        pca = PCA(k, random_state=0).fit(s[0][distinct])
        p = [pca.transform(x) for x in s]
        out[f"rf_pca{k}"] = fit(forest(), *(np.hstack([f, q]) for f, q in zip((itr, iva, ite), p)))
        out[f"hgb_pca{k}"] = fit(boosting(), *(np.hstack([f, q]) for f, q in zip((ftr, fva, fte), p)))
    for base in ("rf", "hgb"):
        for c in (0.01, 0.1, 1.0):
            for w in (0.25, 0.5):
                a, b = out[base], out[f"lr_emb_C{c}"]
                out[f"{base}+lr{c}_w{w}"] = tuple((1 - w) * x + w * y for x, y in zip(a, b))
    for c in (0.01, 0.1):
        p_train, p_others = out_of_fold_probabilities(etr, ytr, train_ids, [eva, ete], int(ytr.max()) + 1, c=c, folds=5,
                                                         seed=fold)
        out[f"rf_stack_C{c}"] = fit(forest(), *(np.hstack([f, q]) for f, q in zip((itr, iva, ite),
                                                                                   [p_train, *p_others])))
    mean = lambda *names: tuple(np.mean([out[n][i] for n in names], axis=0) for i in (0, 1))  # noqa: E731
    out["rf+hgb"] = mean("rf", "hgb")
    out["rf+hgb+lr0.1"] = mean("rf", "hgb", "lr_emb_C0.1")
    out["rf+lrfeat+lr0.1"] = mean("rf", "lr_feat", "lr_emb_C0.1")
    for seed in range(1, forest_seeds):
        other = fit(forest(seed), itr, iva, ite)
        out[f"rf_seed{seed}"] = other
        out[f"rf_seed{seed}+lr0.01_w0.25"] = tuple(0.75 * x + 0.25 * y for x, y in zip(other, out["lr_emb_C0.01"]))
    return out


def arguments(description, argv=None, encoder=True):
    """The command line of this script, self_training.py and (`encoder=False`:
    no encoder options) feature_controls.py."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if encoder:
        parser.add_argument("--weights", required=True)
        parser.add_argument("--variant", default="single", help="EncoderFeatures variant (single, band_concat, ...)")
        parser.add_argument("--forest-seeds", type=int, default=1,
                            help="also score the forest and the blend with this many forest seeds in all")
        parser.add_argument("--readout", default="mean_last", choices=sorted(READOUTS),
                            help="embedding per object: mean / max of the last block, both, or the mean of every layer")
    parser.add_argument("--bands", nargs="+", required=True)
    parser.add_argument("--data", default=f"{SHARED}/lightcurves.parquet")
    parser.add_argument("--labels", default=f"{SHARED}/labels.csv")
    parser.add_argument("--splits", default=f"{SHARED}/splits")
    parser.add_argument("--out", required=True)
    warnings.filterwarnings("ignore", category=UserWarning)
    return parser.parse_args(argv)


def load_labels(path):
    """`{id: label}` and the sorted classes."""
    labels = pd.read_csv(path, dtype={"id": str})
    label_of = dict(zip(labels["id"], labels["label"]))
    return label_of, sorted(set(label_of.values()))


def load_labelled(args):
    """`load`'s feature table, ids and embedding, plus `{id: label}` and the sorted classes."""
    table, ids, embedding = load(args.data, args.weights, args.variant, args.bands, args.readout)
    return (table, ids, embedding, *load_labels(args.labels))


def score_cells(splits, label_of, classes, known, cell_schemes):
    """Rows of validation and test macro-F1 for every scheme of every
    (fold, samples per class) cell. `known(id)`: whether an object of the
    split can be scored; `cell_schemes(part, y, fold)` gets the cell's
    `{"train"|"val"|"test": ids}` and class indices and returns `{scheme:
    (validation probabilities, test probabilities)}`."""
    from sklearn.metrics import f1_score

    rows = []
    for fold in range(3):
        for spc in (20, 100, 500):
            split = pd.read_csv(f"{splits}/fold{fold}_spc{spc}.csv", dtype={"id": str})
            part = {k: [i for i in split.loc[split.split == k, "id"] if known(i)] for k in ("train", "val", "test")}
            y = {k: np.array([classes.index(label_of[i]) for i in v]) for k, v in part.items()}
            for name, (val, test) in cell_schemes(part, y, fold).items():
                rows.append({"scheme": name, "fold": fold, "spc": spc,
                             "val_macro_f1": f1_score(y["val"], val.argmax(1), average="macro"),
                             "test_macro_f1": f1_score(y["test"], test.argmax(1), average="macro")})
            print(f"fold {fold}, {spc} per class done", flush=True)
    return rows


def write_and_print(rows, out):
    """Writes the per-cell rows to `out`, prints mean validation and test
    macro-F1 per scheme, ordered by validation over all nine cells."""
    frame = pd.DataFrame(rows)
    frame.to_csv(out, index=False)
    table = frame.groupby(["scheme", "spc"])[["val_macro_f1", "test_macro_f1"]].mean().unstack("spc")
    table[("val_all", "")] = frame.groupby("scheme")["val_macro_f1"].mean()
    print(table.sort_values(("val_all", ""), ascending=False).round(3).to_string())


def score_schemes(args, table, ids, embedding):
    """Every scheme on every cell for this feature table and embedding
    (rows `ids`); writes and prints the result (`args.out`)."""
    label_of, classes = load_labels(args.labels)
    features = table.to_numpy(np.float64)
    f_row = {oid: i for i, oid in enumerate(table.index)}
    e_row = {oid: i for i, oid in enumerate(ids)}

    def cell_schemes(part, y, fold):
        f = [features[[f_row[i] for i in part[k]]] for k in ("train", "val", "test")]
        e = [embedding[[e_row[i] for i in part[k]]] for k in ("train", "val", "test")]
        return schemes(*f, *e, y["train"], part["train"], fold, args.forest_seeds)

    rows = score_cells(args.splits, label_of, classes, lambda i: i in f_row and i in e_row, cell_schemes)
    write_and_print(rows, args.out)


def main(argv=None):
    args = arguments(__doc__, argv)
    score_schemes(args, *load(args.data, args.weights, args.variant, args.bands, args.readout))


if __name__ == "__main__":
    main()
