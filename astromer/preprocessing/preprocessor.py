"""What every preprocessor shares: its constructor arguments are its config.

A preprocessor turns light curves into what one task's model reads (the
KerasHub split: the model never sees a light curve, the preprocessor never
sees a weight). Its settings are data: `get_config` returns every
constructor argument, `from_config` rebuilds it, and `from_preset` reads
them from the sections a preset already has (`model.window_size`,
`model.band_names`, `data.*`, `pretraining.seed`), so a run folder's
`config.yaml` is where a trained model's preprocessing is saved.
"""

import inspect

from astromer.presets import plain


class Preprocessor:
    """Base class: `get_config` / `from_config` over the constructor's arguments."""

    def get_config(self):
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {name: plain(getattr(self, name)) for name in names}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


def model_settings(config, backbone=None):
    """(window_size, input_names, band_names) of `backbone`, or of a preset's
    `model` section before the model is built (input names None: every
    input; `band_names` may still be "auto", which the training data
    resolves)."""
    if backbone is not None:
        return int(backbone.window_size), tuple(backbone.input_names), getattr(backbone, "band_names", None) or None
    return int(config["model"]["window_size"]), None, config["model"].get("band_names") or None
