"""The figure of a training run: its learning curves (matplotlib, Agg backend)."""

import os


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


def learning_curves(history, path, title=None):
    """Train/validation loss, RMSE and R2 per epoch from a history dict
    (`{"loss": [...], "val_loss": [...], ...}` or a CSVLogger table)."""
    plt = _pyplot()
    history = {k: list(v) for k, v in dict(history).items()}
    epochs = epoch_numbers(history)
    panels = [m for m in ("loss", "rmse", "r2") if m in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        ax.plot(epochs, history[metric], "-o", ms=3, label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "-o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_ylabel({"loss": "loss", "rmse": "RMSE (probed)", "r2": "R$^2$ (probed)"}[metric])
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
