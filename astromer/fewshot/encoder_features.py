"""Pooled features of a frozen encoder, the input of the few-shot heads.

One pass of the encoder over every object gives what all heads read; the
variants say how the bands of a multi-band table become one feature vector.
"""

import numpy as np

VARIANTS = ("single", "band_mean", "band_concat", "joint", "joint_per_band")


class EncoderFeatures:
    """Pooled features of every object for the frozen-encoder heads:
    `mean_layers` `(N, layers, dim)` (masked means of the input embedding
    and every block) and `max_last` `(N, dim)` (masked max of the last block).

    Variants (how bands become features):
    - "single": one band (`bands=[name]`) or a single-band table;
    - "band_mean" / "band_concat": a single-band encoder on each band of
      `bands` separately, features averaged / concatenated (what users of
      single-band models do today);
    - "joint": a multi-band encoder reads all bands at once;
    - "joint_per_band": the same, each band's steps pooled separately and
      the per-band vectors concatenated (`Embedder(per_band=True)`).
    """

    def __init__(self, backbone, light_curves, variant="single", bands=None, batch_size=256, cache=None):
        from astromer.embedding import Embedder

        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; use one of {VARIANTS}.")
        # `cache` (a dict) shares the per-band embeddings between variants of
        # one encoder: band_mean and band_concat need the same passes.
        cache = {} if cache is None else cache

        def embed(band, per_band=False):
            if (band, per_band) not in cache:
                cache[(band, per_band)] = embed_band(band, per_band)
            return cache[(band, per_band)]

        def embed_band(band, per_band):
            ids, mean = Embedder(backbone, layer="all", band=band, batch_size=batch_size,
                                 per_band=per_band).embed_array(light_curves)
            ids_max, top = Embedder(backbone, layer="last", pooling="max", band=band, batch_size=batch_size,
                                    per_band=per_band).embed_array(light_curves)
            assert ids_max == ids
            return ids, mean, top

        if variant in ("single", "joint", "joint_per_band"):
            band = bands[0] if (variant == "single" and bands) else None
            self.ids, self.mean_layers, self.max_last = embed(band, variant == "joint_per_band")
        else:
            if not bands or len(bands) < 2:
                raise ValueError(f"variant {variant!r} needs two or more bands, got {bands!r}.")
            parts = [embed(band) for band in bands]
            common = sorted(set.intersection(*(set(p[0]) for p in parts)), key=parts[0][0].index)
            picked = [(p[1][[p[0].index(i) for i in common]], p[2][[p[0].index(i) for i in common]]) for p in parts]
            self.ids = common
            if variant == "band_mean":
                self.mean_layers = np.mean([m for m, _ in picked], axis=0)
                self.max_last = np.mean([t for _, t in picked], axis=0)
            else:
                self.mean_layers = np.concatenate([m for m, _ in picked], axis=-1)
                self.max_last = np.concatenate([t for _, t in picked], axis=-1)
        self.index = {oid: i for i, oid in enumerate(self.ids)}

    def rows(self, ids):
        missing = [i for i in ids if i not in self.index]
        if missing:
            raise ValueError(f"{len(missing)} ids of the split have no light curve after cleaning (e.g. {missing[:5]}).")
        return np.array([self.index[i] for i in ids])
