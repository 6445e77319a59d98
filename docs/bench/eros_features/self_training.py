"""Can the survey's unlabelled light curves help, through the embedding?
Self-training and label spreading on the fixed EROS-1 splits
(docs/features.md, "Unlabelled objects").

    python docs/bench/eros_features/self_training.py --weights ../shared/weights/astromer1-macho \
        --bands EROS_R --out docs/bench/eros_features/self_training_a1_eros_r.csv

The unlabelled objects of a (fold, samples per class) cell are those in no
row of its split file: never a test object (those are shared by every cell
of a fold) and never read with their label. At 20 per class that is about
2,450 objects, at 500 per class a few hundred, mostly RR Lyrae. Every
scheme ends with the reference forest on the features, trained on the
training objects plus pseudo-labelled ones; they differ in who labels:

- "st_<labeller>_t<threshold>": 5 rounds of self-training; each round the
  labeller is fitted on the labelled and pseudo-labelled objects so far and
  the max(10, spc / 2) most confident unlabelled objects per predicted class
  (class probability at least the threshold) join with that class.
  Labellers: "rf" the forest on the features (features alone, the control);
  "lremb" balanced logistic regression (C = 0.1) on the standardised
  embedding; "avg<w>" (1 - w) x forest + w x that regression; "agree" the
  geometric mean of the two where their classes agree, else nothing.
- "ls_<space>": label spreading (k = 10 nearest neighbours, alpha 0.2) from
  the training objects over the unlabelled ones in the standardised
  embedding ("emb"), the standardised features ("feat"), 8 principal
  components of the embedding ("pca8") or features + those ("both"); the
  2 x spc most confident per class join.

A scheme is chosen by its mean validation macro-F1 over the nine cells, as
in fusion.py.
"""

import numpy as np
import pandas as pd

from fusion import arguments, load_labelled, write_and_print
from fusion import forest as reference_forest

ROUNDS = 5


def forest(x, y):
    return reference_forest().fit(x, y)


def most_confident(probabilities, per_class, threshold):
    """Indices and predicted classes of the `per_class` most confident rows
    of each predicted class whose probability is at least `threshold`."""
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    chosen = []
    for k in range(probabilities.shape[1]):
        rows = np.flatnonzero((predicted == k) & (confidence >= threshold) & (confidence > 0))
        chosen.append(rows[np.argsort(-confidence[rows], kind="stable")][:per_class])
    chosen = np.concatenate(chosen)
    return chosen, predicted[chosen]


def labellers():
    from sklearn.linear_model import LogisticRegression

    def regression(f, e, y):
        return LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced").fit(e, y)

    def average(w):
        def label(f, e, y, fu, eu):
            return (1 - w) * forest(f, y).predict_proba(fu) + w * regression(f, e, y).predict_proba(eu)
        return label

    def agree(f, e, y, fu, eu):
        a, b = forest(f, y).predict_proba(fu), regression(f, e, y).predict_proba(eu)
        p = np.sqrt(a * b)
        p[a.argmax(1) != b.argmax(1)] = 0.0
        return p

    return {"rf": lambda f, e, y, fu, eu: forest(f, y).predict_proba(fu),
            "lremb": lambda f, e, y, fu, eu: regression(f, e, y).predict_proba(eu),
            "avg0.25": average(0.25), "avg0.5": average(0.5), "agree": agree}


def self_train(label, f, e, y, fu, eu, per_class, threshold):
    """The labelled arrays grown by ROUNDS rounds of pseudo-labels."""
    taken = np.zeros(len(fu), bool)
    for _ in range(ROUNDS):
        p = label(f, e, y, fu, eu)
        p[taken] = 0.0
        rows, classes = most_confident(p, per_class, threshold)
        if not len(rows):
            break
        taken[rows] = True
        f, e, y = np.vstack([f, fu[rows]]), np.vstack([e, eu[rows]]), np.concatenate([y, classes])
    return f, y, int(taken.sum())


def schemes(f, e, y, spc):
    """{scheme: (forest, number of pseudo-labelled objects)}; f, e: (train,
    val, test, unlabelled) features (imputed) and standardised embeddings."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from sklearn.semi_supervised import LabelSpreading

    out = {"rf": (forest(f[0], y), 0)}
    for name, label in labellers().items():
        for threshold in (0.0, 0.6):
            grown, grown_y, n = self_train(label, f[0], e[0], y, f[3], e[3], max(10, spc // 2), threshold)
            out[f"st_{name}_t{threshold}"] = (forest(grown, grown_y), n)
    scaled = StandardScaler().fit(f[0])
    sf = [scaled.transform(x) for x in f]
    pca = PCA(8, random_state=0).fit(e[0])
    pe = [pca.transform(x) for x in e]
    spaces = {"emb": e, "feat": sf, "pca8": pe, "both": [np.hstack(p) for p in zip(sf, pe)]}
    for name, space in spaces.items():
        x = np.vstack([space[0], space[3]])
        targets = np.concatenate([y, -np.ones(len(space[3]), int)])
        spread = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=100).fit(x, targets)
        p = np.nan_to_num(spread.label_distributions_[len(space[0]):])
        rows, classes = most_confident(p, 2 * spc, 0.0)
        out[f"ls_{name}"] = (forest(np.vstack([f[0], f[3][rows]]), np.concatenate([y, classes])), len(rows))
    return out


def main(argv=None):
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    from astromer.fewshot.feature_methods import impute_median

    args = arguments(__doc__, argv)
    table, ids, embedding, label_of, classes = load_labelled(args)
    e_row = {oid: i for i, oid in enumerate(ids)}
    objects = [oid for oid in table.index if oid in e_row]
    features = table.loc[objects].to_numpy(np.float64)
    embedding = embedding[[e_row[oid] for oid in objects]]
    row = {oid: i for i, oid in enumerate(objects)}
    rows = []
    for fold in range(3):
        for spc in (20, 100, 500):
            split = pd.read_csv(f"{args.splits}/fold{fold}_spc{spc}.csv", dtype={"id": str})
            part = [[row[i] for i in split.loc[split.split == k, "id"] if i in row] for k in ("train", "val", "test")]
            listed = set(split["id"])
            part.append([row[i] for i in objects if i not in listed])
            y = [np.array([classes.index(label_of[objects[i]]) for i in p]) for p in part[:3]]
            *f, _ = impute_median(*(features[p] for p in part))
            scaled = StandardScaler().fit(embedding[part[0]])
            e = [scaled.transform(embedding[p]) for p in part]
            for name, (model, n) in schemes(f, e, y[0], spc).items():
                rows.append({"scheme": name, "fold": fold, "spc": spc, "unlabelled": len(part[3]),
                             "pseudo_labelled": n,
                             "val_macro_f1": f1_score(y[1], model.predict(f[1]), average="macro"),
                             "test_macro_f1": f1_score(y[2], model.predict(f[2]), average="macro")})
            print(f"fold {fold}, {spc} per class done", flush=True)
    write_and_print(rows, args.out)


if __name__ == "__main__":
    main()
