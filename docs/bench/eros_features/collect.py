"""Tables of docs/features.md from the per-fold results of astromer-fewshot runs.

    python docs/bench/eros_features/collect.py docs/bench/eros_features/*_results.csv

Prints, per results file: macro-F1 mean ± std over folds (ddof=0, the
number of folds when fewer than 3), mean seconds per fit on the machine that
ran it, and the mean F1 of each class.
"""

import sys

import pandas as pd


def main(paths):
    for path in paths:
        frame = pd.read_csv(path)
        classes = [c[3:] for c in frame.columns if c.startswith("f1_")]
        print(f"## {path}\n")
        print("| method | " + " | ".join(f"{s} per class" for s in sorted(frame.spc.unique())) + " |")
        print("|---|" + "---|" * frame.spc.nunique())
        for method, part in frame.groupby("method", sort=False):
            cells = []
            for spc in sorted(frame.spc.unique()):
                values = part.loc[part.spc == spc, "macro_f1"]
                if not len(values):
                    cells.append("")
                    continue
                folds = "" if len(values) == 3 else f" ({len(values)} fold{'s' if len(values) > 1 else ''})"
                cells.append(f"{values.mean():.3f} ± {values.std(ddof=0):.3f}{folds}")
            print(f"| {method} | " + " | ".join(cells) + " |")
        print("\nseconds per fit:", frame.groupby(["method", "spc"]).seconds.mean().round(1).to_dict())
        print("\n| method | per class | " + " | ".join(classes) + " |")
        print("|---|---|" + "---|" * len(classes))
        for (method, spc), part in frame.groupby(["method", "spc"], sort=False):
            print(f"| {method} | {spc} | " + " | ".join(f"{part[f'f1_{c}'].mean():.3f}" for c in classes) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
