"""Classification: labelled light curves -> (inputs, labels, sample_weight)."""

import numpy as np

from astromer.data.windows import sequential_windows
from astromer.preprocessing.preprocessor import Preprocessor, model_settings
from astromer.preprocessing.reading import band_indices, select_band

INPUTS = ("magnitudes", "times", "errors", "padding_mask", "hidden_mask", "bands")


class ClassificationPreprocessor(Preprocessor):
    """The windows a classifier reads, with their labels and class weights.

    Training reads one window per object per epoch: a fresh random one for
    a light curve longer than the window (seeded by the epoch: augmentation),
    the whole light curve otherwise (`dataset`). Evaluation reads all of an
    object's sequential windows (`windows`); an object's prediction is the
    mean of its windows'. `window_mode="full"` cuts them all full where the
    light curve is longer than a window (the last one right-aligned, as the
    original library cuts), so that no short tail window is read out of
    the training distribution; "nonoverlapping" keeps the short last one.

    Args:
        window_size: observations per window.
        input_names: the inputs to return (the model's; None: all).
        band_names: a joint multi-band encoder's bands (every band is read).
        band: the band a single-band encoder reads (None: the light curves
            must have one band, unless `all_bands`).
        window_mode: "full" or "nonoverlapping" (see above).
        all_bands: with no `band`, read every band's rows as one sequence
            (the raw-sequence baselines) instead of failing.
        seed: the random windows' and the epochs' order.
    """

    def __init__(self, window_size=200, input_names=None, band_names=None, band=None, window_mode="full",
                 all_bands=False, seed=0):
        if window_mode not in ("full", "nonoverlapping"):
            raise ValueError(f"Unknown window_mode {window_mode!r}; use 'full' or 'nonoverlapping'.")
        self.window_size = int(window_size)
        self.input_names = INPUTS if input_names is None else tuple(input_names)
        self.band_names = list(band_names) if band_names else None
        self.band = band
        self.window_mode = window_mode
        self.all_bands = bool(all_bands)
        self.seed = int(seed)

    @classmethod
    def from_backbone(cls, backbone, **kwargs):
        """For an encoder's window, inputs and bands (a `Classifier`'s
        backbone); `kwargs` set the others, or override those."""
        window_size, input_names, band_names = model_settings(None, backbone)
        return cls(**{"window_size": window_size, "input_names": input_names, "band_names": band_names, **kwargs})

    def arrays(self, light_curves_by_id, ids):
        """`{id: ((L, 3) array, band indices or None)}` of the observations
        the encoder reads, once per distinct id."""
        out = {}
        for oid in dict.fromkeys(ids):
            lc = select_band(light_curves_by_id[oid], self.band_names, self.band,
                             how_to_choose=None if self.all_bands else "pass --band (a single-band encoder).")
            if len(lc) == 0:
                raise ValueError(f"Light curve {oid!r} has no observation in band {self.band!r}.")
            out[oid] = (lc.as_array(), band_indices(lc.band, self.band_names) if self.band_names else None)
        return out

    def windows(self, item, start=None):
        """The inputs of all of one object's windows (`item`: an `arrays`
        value), or of the one starting at row `start`."""
        array, bands = item
        if start is not None:
            array = array[start:start + self.window_size]
            bands = None if bands is None else bands[start:start + self.window_size]
        # (Lengths that are multiples of the window are already cut into
        # full windows; the original cut would repeat the last one.)
        full = self.window_mode == "full" and start is None and len(array) > self.window_size and \
            len(array) % self.window_size
        w = sequential_windows(array, self.window_size, bands=bands, mode="original" if full else "nonoverlapping")
        w["hidden_mask"] = np.zeros_like(w["padding_mask"])
        return {name: w[name] for name in self.input_names if name in w}

    def stack(self, parts):
        """Several objects' window dicts as one batch."""
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def labelled(self, arrays, ids, y_by_id, class_weights):
        """`(inputs, labels, sample_weight)` of every window of `ids`."""
        parts = [self.windows(arrays[i]) for i in ids]
        labels = np.concatenate([[y_by_id[i]] * len(p["magnitudes"]) for i, p in zip(ids, parts)]).astype(np.int64)
        return self.stack(parts), labels, np.asarray(class_weights)[labels].astype(np.float32)

    def dataset(self, arrays, ids, labels, class_weights, batch_size):
        """A `keras.utils.PyDataset` of `(inputs, labels, sample_weight)`
        batches: one window per object of `ids` per epoch, in a new order
        each epoch (`class_weights[label]` weighs each)."""
        return _random_windows_class()(self, arrays, ids, labels, class_weights, batch_size)


def _random_windows_class():
    """The `RandomWindows` dataset class (defined on call: Keras is imported
    only when a classifier trains)."""
    import keras

    class RandomWindows(keras.utils.PyDataset):
        def __init__(self, preprocessor, arrays, ids, labels, weights, batch_size, pooled=None):
            super().__init__()
            self.preprocessor, self.arrays, self.ids = preprocessor, arrays, list(ids)
            self.labels, self.weights, self.batch_size = np.asarray(labels), np.asarray(weights), int(batch_size)
            self.epoch, self.pooled = 0, pooled
            self._epoch_data()

        def fixed(self):
            """Whether every epoch shows the same windows (no light curve is
            longer than the window), only in another order."""
            return all(len(self.arrays[i][0]) <= self.preprocessor.window_size for i in self.ids)

        def with_pooled(self, pooled):
            """The same epochs (order and seed) of `{id: pooled encoder
            output}` instead of windows, for a head trained on a frozen,
            fixed-window encoder's outputs."""
            return type(self)(self.preprocessor, self.arrays, self.ids, self.labels, self.weights, self.batch_size,
                              pooled)

        def _epoch_data(self):
            rng = np.random.default_rng([self.preprocessor.seed, self.epoch])
            order = rng.permutation(len(self.ids))
            if self.pooled is not None:
                # Fixed windows: no window is drawn, only the order.
                self.x = {"features": np.stack([self.pooled[self.ids[i]] for i in order])}
            else:
                parts = []
                for i in order:
                    longest = len(self.arrays[self.ids[i]][0]) - self.preprocessor.window_size
                    start = int(rng.integers(0, longest + 1)) if longest > 0 else None
                    parts.append(self.preprocessor.windows(self.arrays[self.ids[i]], start))
                self.x = self.preprocessor.stack(parts)
            self.y = self.labels[order]
            self.w = self.weights[self.y].astype(np.float32)

        def __len__(self):
            return int(np.ceil(len(self.ids) / self.batch_size))

        def __getitem__(self, index):
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return {k: v[part] for k, v in self.x.items()}, self.y[part], self.w[part]

        def on_epoch_end(self):
            self.epoch += 1
            self._epoch_data()

    return RandomWindows
