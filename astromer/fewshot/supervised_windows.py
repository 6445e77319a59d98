"""The windows supervised finetuning reads: one random window per training
object per epoch, every window of a validation or test object.

A light curve longer than the encoder's window gives a fresh random window
each epoch (augmentation); a shorter one is used whole. Evaluation reads all
sequential windows of an object, each full (the last right-aligned), so that
no short tail window is read out of the training distribution.
"""

import numpy as np


def object_arrays(light_curves_by_id, ids, backbone, band):
    """`{id: ((L, 3) array, band indices or None)}` of the observations the
    encoder reads: `band`'s for a single-band encoder, all for a joint one."""
    joint = bool(getattr(backbone, "band_names", None))
    out = {}
    for oid in dict.fromkeys(ids):
        lc = light_curves_by_id[oid]
        bands = backbone.band_indices(lc.band) if joint else None
        if not joint:
            lc = lc.single_band(band, "pass --band (supervised finetuning of a single-band encoder).")
        array = lc.as_array()
        if len(array) == 0:
            raise ValueError(f"Light curve {oid!r} has no observation in band {band!r}.")
        out[oid] = (array, bands)
    return out


def windows(array, bands, window_size, start=None):
    """Model inputs of one object's windows: all sequential windows, or the
    one starting at row `start`."""
    from astromer.data.windows import sequential_windows

    if start is not None:
        array = array[start:start + window_size]
        bands = None if bands is None else bands[start:start + window_size]
    # All windows full where the light curve is longer than a window (the
    # last one right-aligned, as the original library cuts): training sees
    # only full random windows, and a short tail window (e.g. the last 40 of
    # 240 two-band observations) would be read out of that distribution.
    # (Lengths that are multiples of the window are already cut into full
    # windows; the original cut would repeat the last one.)
    full = start is None and len(array) > window_size and len(array) % window_size
    w = sequential_windows(array, window_size, bands=bands, mode="original" if full else "nonoverlapping")
    x = {"magnitudes": w["magnitudes"], "times": w["times"], "errors": w["errors"],
         "padding_mask": w["padding_mask"], "hidden_mask": np.zeros_like(w["padding_mask"])}
    if "bands" in w:
        x["bands"] = w["bands"]
    return x


def stack(parts, input_names):
    """Several objects' window dicts as one batch of `input_names`."""
    return {k: np.concatenate([p[k] for p in parts]) for k in input_names}


def random_windows_class():
    """The `RandomWindows` dataset class (defined on call: Keras is imported
    only when finetuning runs)."""
    import keras

    class RandomWindows(keras.utils.PyDataset):
        """One window per training object per epoch, a fresh random one for
        light curves longer than the window (seeded by epoch)."""

        def __init__(self, arrays, ids, labels, weights, window_size, batch_size, input_names, seed,
                     pooled=None):
            super().__init__()
            self.arrays, self.ids, self.labels = arrays, list(ids), np.asarray(labels)
            self.weights, self.window_size, self.batch_size = weights, window_size, batch_size
            self.input_names, self.seed, self.epoch, self.pooled = input_names, seed, 0, pooled
            self._epoch_data()

        def fixed(self):
            """Whether every epoch shows the same windows (no light curve is
            longer than the window), only in another order."""
            return all(len(self.arrays[i][0]) <= self.window_size for i in self.ids)

        def with_pooled(self, pooled):
            """The same epochs (order and seed) of `{id: pooled encoder
            output}` instead of windows, for a head trained on a frozen,
            fixed-window encoder's outputs."""
            return type(self)(self.arrays, self.ids, self.labels, self.weights, self.window_size,
                              self.batch_size, self.input_names, self.seed, pooled)

        def _epoch_data(self):
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(len(self.ids))
            if self.pooled is not None:
                # Fixed windows: no window is drawn, only the order.
                self.x = {"features": np.stack([self.pooled[self.ids[i]] for i in order])}
            else:
                parts = []
                for i in order:
                    array, bands = self.arrays[self.ids[i]]
                    longest = len(array) - self.window_size
                    start = int(rng.integers(0, longest + 1)) if longest > 0 else None
                    parts.append(windows(array, bands, self.window_size, start))
                self.x = stack(parts, self.input_names)
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
