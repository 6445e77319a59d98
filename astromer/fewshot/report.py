"""What a benchmark run leaves in its folder: tables of macro-F1 and the figures.

`summarize` and `markdown_table` turn the per-fold results into mean and
std over folds; `write_tables` and `draw_figures` write the run's files.
"""

import os
import re

import pandas as pd

from astromer.fewshot import plots


def summarize(frame):
    """Mean and std (ddof=0) of macro-F1 over folds, per method and spc."""
    grouped = frame.groupby(["method", "spc"])["macro_f1"]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=0), "folds": grouped.count()})
    return summary.reset_index()


def markdown_table(summary, reference_rows=None):
    """A Markdown table: one row per method, one column per spc, mean +- std
    over folds (a single fold's cell says so instead of a fake +- 0)."""
    spcs = sorted(summary["spc"].unique())
    lines = ["| method | " + " | ".join(f"{s} per class" for s in spcs) + " |",
             "|---|" + "---|" * len(spcs)]
    for method, part in summary.groupby("method", sort=False):
        cells = []
        for s in spcs:
            row = part[part["spc"] == s]
            cells.append(_mean_std(row.iloc[0]) if len(row) else "")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for name, values in (reference_rows or {}).items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" if v is not None else "" for v in values) + " |")
    return "\n".join(lines) + "\n"


def _mean_std(row):
    """"mean ± std" over folds; one fold has no spread to show: "mean (1 fold)"."""
    if int(row["folds"]) == 1:
        return f"{row['mean']:.3f} (1 fold)"
    return f"{row['mean']:.3f} ± {row['std']:.3f}"


def per_class_summary(frame, classes):
    """Mean and std (ddof=0) over folds of each class's F1, per method and spc:
    one row per (method, spc, class)."""
    rows = []
    for (method, spc), part in frame.groupby(["method", "spc"], sort=False):
        for c in classes:
            values = part[f"f1_{c}"]
            rows.append({"method": method, "spc": spc, "class": c, "mean": values.mean(),
                         "std": values.std(ddof=0), "folds": len(values)})
    return pd.DataFrame(rows)


def per_class_markdown(per_class):
    """A Markdown table of per-class F1: one row per (method, spc), one column per class."""
    classes = list(dict.fromkeys(per_class["class"]))
    lines = ["| method | per class | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
    for (method, spc), part in per_class.groupby(["method", "spc"], sort=False):
        cells = [f"{part.loc[part['class'] == c, 'mean'].iloc[0]:.3f}" for c in classes]
        lines.append(f"| {method} | {spc} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_per_class(out_dir, frame, classes):
    """Writes per_class_f1.csv and per_class_f1.md (mean F1 of each class over folds)."""
    per_class = per_class_summary(frame, classes)
    per_class.to_csv(os.path.join(out_dir, "per_class_f1.csv"), index=False)
    with open(os.path.join(out_dir, "per_class_f1.md"), "w") as f:
        f.write(per_class_markdown(per_class))
    return per_class


def slug(name):
    """A method name as a file-name part: "a2 joint (finetuned)" -> "a2_joint_finetuned"."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")


def group_confusions(confusions):
    """`{(method, spc, fold): matrix}` -> `{(method, spc): {fold: matrix}}`."""
    grouped = {}
    for (name, spc, fold), matrix in confusions.items():
        grouped.setdefault((name, spc), {})[fold] = matrix
    return grouped


def confusion_title(name, spc, folds):
    """What a confusion matrix holds: one fold named, or the sum over the folds."""
    folds = sorted(folds)
    if len(folds) == 1:
        return f"{name}, {spc} per class, fold {folds[0]}"
    return f"{name}, {spc} per class (sum over folds {', '.join(str(f) for f in folds)})"


def write_tables(out_dir, frame, confusions, classes):
    """Writes results.csv, confusion.csv (long form), summary.csv and
    summary.md; returns the summary."""
    frame.to_csv(os.path.join(out_dir, "results.csv"), index=False)
    pd.DataFrame(
        [{"method": name, "spc": spc, "fold": fold, "true": classes[i], "predicted": classes[j], "count": int(m[i, j])}
         for (name, spc, fold), m in confusions.items() for i in range(len(classes)) for j in range(len(classes))]
    ).to_csv(os.path.join(out_dir, "confusion.csv"), index=False)
    summary = summarize(frame)
    summary.to_csv(os.path.join(out_dir, "summary.csv"))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown_table(summary))
    return summary


def draw_figures(out_dir, summary, confusions, classes, gammas, tsne=None, tsne_title=None, verbose=True):
    """Macro-F1 against samples per class (with one samples-per-class value,
    a bar per method instead: `macro_f1.png`), one confusion matrix per
    (method, spc) summed over the folds run (the title names them), gamma
    weights when a head has them, and with `tsne` (`(features (N, layers,
    dim), class names)`) a t-SNE per block."""
    folds = sorted({fold for _, _, fold in confusions})
    if summary["spc"].nunique() > 1:
        plots.f1_vs_spc(summary, os.path.join(out_dir, "macro_f1_vs_spc.png"), folds=folds)
    else:
        plots.f1_bars(summary, os.path.join(out_dir, "macro_f1.png"), folds=folds)
    for (name, spc), by_fold in group_confusions(confusions).items():
        plots.confusion_matrix(sum(by_fold.values()), classes,
                               os.path.join(out_dir, f"confusion_{slug(name)}_spc{spc}.png"),
                               title=confusion_title(name, spc, by_fold))
    if gammas:
        plots.gamma_weights(gammas, os.path.join(out_dir, "gamma_weights.png"))
    if tsne is not None:
        plots.tsne_per_layer(*tsne, os.path.join(out_dir, "tsne_per_block.png"), title=tsne_title,
                             verbose=verbose)
