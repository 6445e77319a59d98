"""The figure of a training run: its learning curves (matplotlib, Agg backend)."""

import math
import os

# The R2 panel shows [-1, 1]: R2 = 0 is the window mean, 1 a perfect
# reconstruction. A diverging first epoch (R2 -106) would otherwise squash
# every later epoch into a flat line at the top; its points are drawn at -1
# as open triangles pointing down, with their values noted.
R2_RANGE = (-1.0, 1.0)
# Loss and RMSE panels switch to a log scale when their values span more
# than this factor, for the same reason.
LOG_SCALE_SPAN = 20.0


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def epoch_numbers(history):
    """The x axis: epochs numbered from 1, as history.csv numbers them (a
    history without an `epoch` column counts its rows from 1)."""
    if history.get("epoch"):
        return [int(e) for e in history["epoch"]]
    return list(range(1, len(next(iter(history.values()))) + 1))


def clip_r2(values):
    """(values clipped to `R2_RANGE`, indices of the clipped ones)."""
    low, high = R2_RANGE
    clipped = [min(max(v, low), high) if math.isfinite(v) else v for v in values]
    return clipped, [i for i, v in enumerate(values) if math.isfinite(v) and not low <= v <= high]


def learning_curves(history, path, title=None, resumed_after=()):
    """Writes the figure of `learning_curves_figure` to `path`; returns `path`."""
    plt = _pyplot()
    fig = learning_curves_figure(history, title, resumed_after)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def learning_curves_figure(history, title=None, resumed_after=()):
    """Train/validation loss, RMSE and R2 per epoch from a history dict
    (`{"loss": [...], "val_loss": [...], ...}` or a CSVLogger table).

    R2 is shown within [-1, 1] (points outside on the edge, marked); loss and
    RMSE on a log scale when they span more than a factor 20. A dashed
    vertical line after each epoch in `resumed_after` marks where the run
    was resumed from a checkpoint.
    """
    plt = _pyplot()
    history = {k: [float(v) for v in values] if k != "epoch" else list(values) for k, values in dict(history).items()}
    epochs = epoch_numbers(history)
    panels = [m for m in ("loss", "rmse", "r2") if m in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        series = [("train", history[metric])]
        if f"val_{metric}" in history:
            series.append(("validation", history[f"val_{metric}"]))
        for label, values in series:
            if metric == "r2":
                _plot_clipped(ax, epochs, values, label)
            else:
                ax.plot(epochs, values, "-o", ms=3, label=label)
        if metric != "r2":  # R2: autoscaled on the clipped values
            finite = [v for _, values in series for v in values if math.isfinite(v) and v > 0]
            if finite and max(finite) > LOG_SCALE_SPAN * min(finite):
                ax.set_yscale("log")
        for epoch in resumed_after:
            ax.axvline(epoch + 0.5, color="0.4", ls="--", lw=1, label=f"resumed after epoch {epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_ylabel({"loss": "loss", "rmse": "RMSE (probed)", "r2": "R$^2$ (probed)"}[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plot_clipped(ax, epochs, values, label):
    clipped, outside = clip_r2(values)
    (line,) = ax.plot(epochs, clipped, "-o", ms=3, label=label)
    if not outside:
        return
    # Open triangles on the edge, named by their true values.
    # (R2 cannot exceed 1: only values below the range are clipped.)
    ax.plot([epochs[i] for i in outside], [clipped[i] for i in outside], "v", ms=8, mfc="none",
            color=line.get_color(), label=f"{label}: below -1")
    for i in outside:
        ax.annotate(f"{values[i]:.3g}", (epochs[i], clipped[i]), textcoords="offset points", xytext=(4, 6),
                    fontsize=7, color=line.get_color())
