"""Masked-reconstruction pretraining: windows -> (inputs, targets).

A new pretraining objective is a task (`astromer.models`) plus its
preprocessor: a subclass that changes `targets` (or `__call__`), in its own
file.
"""

from astromer.data.masking import MaskingConfig, NumpyOps, error_weights, probe_masks, window_pivots
from astromer.data.windows import center_windows
from astromer.errors import ConfigError
from astromer.preprocessing.preprocessor import Preprocessor, model_settings

MODES = ("pretrain", "eval", "inference")
MASKING_KEYS = ("masking", "probed_fraction", "hidden_fraction", "random_fraction", "same_fraction")
INPUTS = ("magnitudes", "times", "errors", "padding_mask", "hidden_mask", "bands")


class PretrainingPreprocessor(Preprocessor):
    """Windows of light curves -> `(inputs, targets)` for the `Pretrainer`.

    Modes (of the input paths that call it: `astromer.data.datasets.
    NumpyWindowDataset`, `astromer.data.tf_dataset.tf_dataset`):

    - "pretrain": one random window per light curve per epoch (Astromer 2
      paper Sect. 2.1) with fresh probe masks every epoch (Sect. 2.3);
    - "eval": the same with the epoch fixed (repeatable validation numbers);
    - "inference": every sequential window, no masking, the probe on every
      observation (how the A2 paper reports finetuning RMSE, Sect. 5.2).

    Windows and masks come from a hash of (seed, epoch, light-curve key)
    (`astromer.data.masking`): the same in NumPy and TensorFlow, in any
    order, on any number of workers.

    `inputs` holds the model's `input_names` among `magnitudes` (probe-
    masked), `times`, `errors`, `padding_mask`, `hidden_mask` and `bands`;
    `targets` the centred `magnitudes`, `probe_mask` and `loss_weight`
    (Eq. 5): the Pretrainer's loss reads all three, so no separate sample
    weight. Every tensor is `(batch, window_size)` float32.

    Args:
        window_size: observations per window.
        input_names: the inputs to yield (a backbone's `input_names`; None:
            all).
        masking: the masking keys of a preset's `data` section (a dict, or
            a `MaskingConfig`).
        seed: seed of every random draw.
        window_mode: inference windows, "nonoverlapping" or "original".
        float32_first: the original float32 centring (compat original).
        band_names: the bands of a joint multi-band model (None: single
            band; "auto": the training data's, see `resolve_band_names`).
            Magnitudes are then centred per band within each window.
    """

    def __init__(self, window_size=200, input_names=None, masking=None, seed=0, window_mode="nonoverlapping",
                 float32_first=False, band_names=None):
        self.window_size = int(window_size)
        self.input_names = INPUTS if input_names is None else tuple(input_names)
        if isinstance(masking, MaskingConfig):
            masking = {"masking": masking.mode, "probed_fraction": masking.probed,
                       "random_fraction": masking.random, "same_fraction": masking.same}
        self.masking = {k: v for k, v in (masking or {}).items() if k in MASKING_KEYS}
        self._masking = MaskingConfig(**self.masking)
        self.seed = int(seed)
        self.window_mode = window_mode
        self.float32_first = bool(float32_first)
        self.band_names = band_names if band_names == "auto" else (list(band_names) if band_names else None)
        if self.band_names and self.float32_first:
            raise ValueError("float32_first reproduces single-band original windows; it has no multi-band form.")
        self.count_table = self._masking.count_table(self.window_size)

    @classmethod
    def from_preset(cls, config, backbone=None):
        """The pretraining preprocessing of a resolved preset (or a run
        folder's `config.yaml`) for `backbone` (its window, inputs and bands;
        without one, the preset's `model` section)."""
        window_size, input_names, band_names = model_settings(config, backbone)
        data = config.get("data") or {}
        return cls(window_size, input_names, masking=data, seed=(config.get("pretraining") or {}).get("seed", 0),
                   float32_first=data.get("compat") == "original", band_names=band_names)

    @property
    def num_bands(self):
        return len(self.band_names) if isinstance(self.band_names, list) else 0

    def resolve_band_names(self, found, where="the data"):
        """Band names "auto" -> `found` (the sorted bands of the training
        data); returns the model's band names (None: single band)."""
        if self.band_names == "auto":
            if not found:
                raise ConfigError(f"band_names: auto needs a band column in {where}.")
            self.band_names = list(found)
        return self.band_names

    def random_starts(self, lengths, keys, epoch, ops=NumpyOps):
        """First row of each light curve's random window of `epoch`."""
        return window_pivots(ops, lengths, self.window_size, self.seed, epoch, keys)

    def __call__(self, windows, keys=None, epoch=0, mode="pretrain", ops=NumpyOps):
        """`(inputs, targets)` of a batch of padded windows: `windows` has
        float64 `time`, `mag`, `err` (0 on padding), `padding` (1 on padded
        steps) and, for a multi-band model, `band` indices, all `(B, W)`;
        `keys` `(B,)` seed each light curve's masks."""
        bands = windows["band"] if self.num_bands else None
        padding = ops.to_float32(windows["padding"])
        centred = center_windows(ops, windows["time"], windows["mag"], windows["err"], padding, bands,
                                 self.num_bands, self.float32_first)
        m = centred["magnitudes"]
        # As the original: under float32-first centring padded steps take part in the min/max.
        weights = error_weights(ops, centred["weight_errors"], 0.0 * padding if self.float32_first else padding)
        if mode == "inference":
            shown, hidden, probe = m, 0.0 * m, 1.0 - padding
        else:
            masks = probe_masks(ops, m, padding, self.count_table, self._masking.mode, self.seed, epoch, keys)
            shown, hidden, probe = masks["input_magnitudes"], masks["hidden_mask"], masks["probe_mask"]
        available = {"magnitudes": shown, "times": centred["times"], "errors": centred["errors"],
                     "padding_mask": padding, "hidden_mask": hidden}
        if bands is not None:
            available["bands"] = ops.to_float32(bands) * (1.0 - padding)
        inputs = {name: available[name] for name in self.input_names if name in available}
        return inputs, self.targets(m, probe, weights)

    def targets(self, magnitudes, probe_mask, loss_weight):
        """What the loss compares the reconstruction with (masked reconstruction)."""
        return {"magnitudes": magnitudes, "probe_mask": probe_mask, "loss_weight": loss_weight}
