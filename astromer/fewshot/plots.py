"""Figures of a few-shot run (matplotlib, Agg backend): macro-F1, confusion
matrices, gamma weights, t-SNE per block and attention maps."""

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi=120):
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _finish_lines(ax, xlabel, ylabel):
    """Labels, grid and legend of the line plots (macro-F1, gamma weights)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def f1_vs_spc(summary, path, reference=None, folds=None):
    """Macro-F1 (mean +- std over folds) against samples per class, one line
    per method; `reference` adds dashed lines `{name: [f1 per spc]}`;
    `folds` (the folds run) goes in the title."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method, part in summary.groupby("method", sort=False):
        part = part.sort_values("spc")
        ax.errorbar(part["spc"], part["mean"], yerr=part["std"], marker="o", capsize=3, label=method)
    spcs = sorted(summary["spc"].unique())
    for name, values in (reference or {}).items():
        ax.plot(spcs, values, "--", color="gray", alpha=0.7, label=name)
    ax.set_xscale("log")
    ax.set_xticks(spcs, [str(s) for s in spcs])
    ax.set_xticks([], minor=True)  # no log-scale minor labels between the spc values
    ax.set_ylim(*f1_limits(summary["mean"] - summary["std"].fillna(0), summary["mean"] + summary["std"].fillna(0)))
    _finish_lines(ax, "samples per class", "macro-F1 (test)")
    if folds is not None:
        ax.set_title(folds_note(folds), fontsize=9)
    return _save(fig, path)


def f1_limits(low, high, margin=0.05, step=0.1):
    """y-limits of a macro-F1 axis: the values with a margin, widened to
    whole tenths inside [0, 1], so that a difference of 0.01 looks like
    one (matplotlib alone stretches two close points over the whole axis)."""
    low, high = float(np.nanmin(low)), float(np.nanmax(high))
    return (max(0.0, np.floor((low - margin) / step) * step), min(1.0, np.ceil((high + margin) / step) * step))


def folds_note(folds):
    """Which folds a figure shows: "fold 2" (no spread), or the mean and
    std over the folds named."""
    folds = sorted(folds)
    if len(folds) == 1:
        return f"fold {folds[0]} (one fold: no spread)"
    return "mean ± std over folds " + ", ".join(str(f) for f in folds)


def f1_bars(summary, path, folds=None):
    """Macro-F1 of each method at one samples-per-class value, one bar per
    method (with the std over folds when there are several): a line against
    samples per class would be single points."""
    plt = _pyplot()
    methods = list(dict.fromkeys(summary["method"]))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(methods) + 2), 4.2))
    yerr = summary["std"].fillna(0).to_numpy() if (summary["folds"] > 1).any() else None
    ax.bar(np.arange(len(methods)), summary["mean"], yerr=yerr, capsize=3, color="tab:blue", alpha=0.8)
    for k, value in enumerate(summary["mean"]):
        ax.text(k, value, f"{value:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("macro-F1 (test)")
    ax.set_title(f"{int(summary['spc'].iloc[0])} per class" + (f", {folds_note(folds)}" if folds is not None else ""),
                 fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def confusion_matrix(matrix, classes, path, title=None):
    """Row-normalised confusion matrix with counts."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.1 * len(classes) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({matrix[i, j]})", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def gamma_weights(gammas, path):
    """Learned layer-mix weights (index 0: input embedding), mean over folds,
    per head and samples per class (Astromer 2 paper, Fig. 13)."""
    plt = _pyplot()
    grouped = {}
    for (method, spc, _), gamma in gammas.items():
        grouped.setdefault((method, spc), []).append(np.asarray(gamma))
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for (method, spc), values in sorted(grouped.items()):
        mean = np.mean(values, axis=0)
        ax.plot(range(len(mean)), mean, "-o", label=f"{method}, {spc} per class")
    _finish_lines(ax, "layer (0 = input embedding, i = block i)", r"softmax($\gamma$)")
    return _save(fig, path)


def tsne_per_layer(features, labels, path, seed=0, title=None, verbose=True):
    """t-SNE of per-object embeddings `(N, layers, dim)`, one panel per layer
    (Astromer 2 paper, Figs. 14-15); `title` says which objects."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from astromer.progress import progress

    plt = _pyplot()
    features = np.asarray(features)
    layers = features.shape[1]
    classes = sorted(set(labels))
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, layers, figsize=(3.2 * layers, 3.3), squeeze=False)
    for k, ax in enumerate(progress(axes[0], total=layers, unit="layers", enabled=verbose, desc="t-SNE")):
        # One OpenMP thread: on cores shared with other jobs, scikit-learn's
        # threads wait on each other (500 objects: 66 s a layer against 10 s
        # on one thread, docs/fewshot.md); alone, one thread costs little.
        with threadpool_limits(1):
            points = TSNE(n_components=2, init="pca", random_state=seed,
                          perplexity=min(30, max(5, len(labels) // 4))).fit_transform(features[:, k])
        for c, name in enumerate(classes):
            mask = np.array([label == name for label in labels])
            ax.scatter(points[mask, 0], points[mask, 1], s=4, color=colors(c), label=name)
        ax.set_title("input embedding" if k == 0 else f"block {k}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=7, markerscale=3)
    if title:
        fig.suptitle(f"{title} ({len(labels)})", fontsize=10)
    return _save(fig, path, dpi=110)


def attention_maps(backbone, light_curve, path, period=None, block=0, title=None):
    """Attention of one block per head on a light curve's first window,
    folded by `period` when given (Astromer 2 paper, Figs. 8-9): each panel
    colours the observations by the attention they receive (mean over
    queries), the last panel by the mean over heads."""
    from astromer.data.lightcurves import iter_light_curves
    from astromer.preprocessing import InferencePreprocessor

    plt = _pyplot()
    preprocessor = InferencePreprocessor.from_backbone(backbone, compat="default")
    light_curve = next(iter_light_curves([light_curve]))
    window = preprocessor.windows(light_curve)
    inputs = {k: v[:1] for k, v in preprocessor.inputs(window).items()}
    scores = np.asarray(backbone.attention_scores(backbone.validate_inputs(inputs), block=block))[0]
    n = int(window["lengths"][0])
    received = scores[:, :n, :n].mean(axis=1)  # (heads, keys)
    time = light_curve.time[:n]
    mag = light_curve.mag[:n]
    x = ((time - time[0]) / period) % 1.0 if period else time - time[0]
    heads = received.shape[0]
    fig, axes = plt.subplots(1, heads + 1, figsize=(3.0 * (heads + 1), 3.0), squeeze=False, sharey=True)
    for h, ax in enumerate(axes[0]):
        weights = received.mean(0) if h == heads else received[h]
        points = ax.scatter(x, mag, c=weights, s=10, cmap="viridis")
        ax.set_title("mean of heads" if h == heads else f"head {h}", fontsize=9)
        ax.set_xlabel("phase" if period else "days")
        fig.colorbar(points, ax=ax, orientation="horizontal", pad=0.25, fraction=0.05)
    axes[0][0].invert_yaxis()
    axes[0][0].set_ylabel("magnitude")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=110)
