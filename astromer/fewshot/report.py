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
    rows = []
    for method, part in summary.groupby("method", sort=False):
        cells = [part[part["spc"] == s] for s in spcs]
        rows.append([method, *(_mean_std(row.iloc[0]) if len(row) else "" for row in cells)])
    for name, values in (reference_rows or {}).items():
        rows.append([name, *(f"{v:.3f}" if v is not None else "" for v in values)])
    return _markdown(["method", *(f"{s} per class" for s in spcs)], rows)


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


def _mean_std(row):
    """"mean ± std" over folds; one fold has no spread to show: "mean (1 fold)"."""
    if int(row["folds"]) == 1:
        return f"{row['mean']:.3f} (1 fold)"
    return f"{row['mean']:.3f} ± {row['std']:.3f}"


def write_per_class(out_dir, frame, classes):
    """Writes per_class_f1.csv (mean and std, ddof=0, over folds of each
    class's F1: one row per method, spc and class) and per_class_f1.md (the
    means: one row per method and spc, one column per class)."""
    rows, lines = [], []
    for (method, spc), part in frame.groupby(["method", "spc"], sort=False):
        rows += [{"method": method, "spc": spc, "class": c, "mean": part[f"f1_{c}"].mean(),
                  "std": part[f"f1_{c}"].std(ddof=0), "folds": len(part)} for c in classes]
        lines.append([method, spc, *(f"{part[f'f1_{c}'].mean():.3f}" for c in classes)])
    per_class = pd.DataFrame(rows)
    per_class.to_csv(os.path.join(out_dir, "per_class_f1.csv"), index=False)
    with open(os.path.join(out_dir, "per_class_f1.md"), "w") as f:
        f.write(_markdown(["method", "per class", *classes], lines))
    return per_class


def slug(name):
    """A method name as a file-name part: "a2 joint (finetuned)" -> "a2_joint_finetuned"."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")


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
    by_cell = {}
    for (name, spc, fold), matrix in confusions.items():
        by_cell.setdefault((name, spc), {})[fold] = matrix
    for (name, spc), by_fold in by_cell.items():
        run = sorted(by_fold)
        title = (f"{name}, {spc} per class, fold {run[0]}" if len(run) == 1 else
                 f"{name}, {spc} per class (sum over folds {', '.join(str(f) for f in run)})")
        plots.confusion_matrix(sum(by_fold.values()), classes,
                               os.path.join(out_dir, f"confusion_{slug(name)}_spc{spc}.png"), title=title)
    if gammas:
        plots.gamma_weights(gammas, os.path.join(out_dir, "gamma_weights.png"))
    if tsne is not None:
        plots.tsne_per_layer(*tsne, os.path.join(out_dir, "tsne_per_block.png"), title=tsne_title,
                             verbose=verbose)
