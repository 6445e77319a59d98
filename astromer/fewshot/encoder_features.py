"""Pooled features of a frozen encoder, the input of the few-shot heads.

The encoder reads each object through the `Embedder` with the compat mode of
`astromer-embed` (`compat="auto"` by default): an object's vector here is the
one `astromer-embed --no-standardize` writes for it (the last block's mean).
Objects are embedded when a cell first needs them, once each, and kept for
the run (and in `<out>/cache` for later runs: `astromer.fewshot.object_cache`).
The variants say how the bands of a multi-band table become one vector.
"""

import dataclasses

import numpy as np

from astromer.data.lightcurves import iter_light_curves
from astromer.fewshot.object_cache import ObjectCache, weights_hash
from astromer.fewshot.settings import VARIANTS
from astromer.progress import progress

BATCH_SIZE = 256


class EncoderPasses:
    """One encoder's passes over the objects, shared by the feature variants
    (band_mean and band_concat need the same per-band passes): one
    `ObjectEmbeddings` per (band, per_band, pooling), made on first use.
    `cache_dir`: where the vectors are also kept for later runs."""

    def __init__(self, backbone, light_curves, compat="auto", verbose=False, cache_dir=None):
        self.backbone, self.compat, self.verbose, self.cache_dir = backbone, compat, verbose, cache_dir
        self.by_id = {lc.id: lc for lc in iter_light_curves(light_curves)}
        self._passes = {}

    def __call__(self, band, per_band, pooling):
        key = (band, per_band, pooling)
        if key not in self._passes:
            self._passes[key] = ObjectEmbeddings(self, band, per_band, pooling)
        return self._passes[key]


class ObjectEmbeddings:
    """One encoder pass: per-object vectors of one band (None: as the model
    reads the light curves) and one pooling, "mean" giving `(layers, dim)`
    (input embedding and every block), "max" the last block's `(dim,)`.
    `get(ids)` embeds the ids not yet seen, in one pass."""

    def __init__(self, passes, band=None, per_band=False, pooling="mean"):
        from astromer.core.embedder import Embedder

        backbone = passes.backbone
        self.embedder = Embedder(backbone, layer="all" if pooling == "mean" else "last", pooling=pooling, band=band,
                                 batch_size=BATCH_SIZE, per_band=per_band, compat=passes.compat)
        self.by_id, self.verbose = passes.by_id, passes.verbose
        self.label = f"encoder{'' if band is None else ' ' + str(band)}{' per band' if per_band else ''} ({pooling})"
        self.vectors, self.lost = {}, set()
        key = None if passes.cache_dir is None else {
            "weights": weights_hash(backbone), "band": band, "per_band": per_band, "pooling": pooling,
            "compat": self.embedder.compat, "window_mode": self.embedder.window_mode,
            "float32_first": self.embedder.float32_first, "cleaning": dataclasses.asdict(self.embedder.cleaning),
            "time_offset": getattr(self.embedder, "time_offset", 0.0), "window_size": backbone.window_size}
        self.cache = ObjectCache(passes.cache_dir, f"embeddings-{pooling}", key)

    def get(self, ids):
        """`{id: vector}` of the `ids` the encoder can read (those its
        cleaning drops, or whose output is not finite, are left out)."""
        todo = [i for i in dict.fromkeys(ids) if i in self.by_id and i not in self.vectors and i not in self.lost]
        if todo:
            found, missing, hashes = self.cache.lookup({i: self.by_id[i] for i in todo})
            self.vectors.update(found)
            line = self._embed(missing, hashes) if missing else f"{self.label}: nothing to embed"
            self.lost.update(i for i in missing if i not in self.vectors)
            if self.verbose:
                print(line + (f", {len(found):,} read from {self.cache.path}" if found else ""), flush=True)
        return {i: self.vectors[i] for i in ids if i in self.vectors}

    def _embed(self, ids, hashes):
        """Embeds `ids`; returns the line that says how many, and how many
        rows the encoder's cleaning dropped."""
        report = self.embedder.report
        before = (report.rows_in, report.rows_out)
        with progress(total=len(ids), unit="light curves", enabled=self.verbose, desc=self.label) as bar:
            new = {}
            for oid, vector, _, _ in self.embedder.iter_embeddings([self.by_id[i] for i in ids]):
                new[oid] = np.asarray(vector, np.float32)
                bar.update()
        self.vectors.update(new)
        self.cache.store(new, hashes)
        rows_in, rows_out = report.rows_in - before[0], report.rows_out - before[1]
        return (f"{self.label}: {len(new):,} of {len(ids):,} light curves embedded ({rows_in - rows_out:,} of "
                f"{rows_in:,} rows dropped by the encoder's cleaning)")


class EncoderFeatures:
    """Pooled features of objects for the frozen-encoder heads:
    `mean_layers` `(N, layers, dim)` (masked means of the input embedding
    and every block) and `max_last` `(N, dim)` (masked max of the last
    block, computed on first use), rows in the order of `ids`.

    `passes`: an `EncoderPasses` (the encoder, the light curves as read,
    its compat). `objects`: the ids to embed now (default: every light
    curve); `add(ids)` embeds more.

    Variants (how bands become features):
    - "single": one band (`bands=[name]`) or a single-band table;
    - "band_mean" / "band_concat": a single-band encoder on each band of
      `bands` separately, features averaged / concatenated;
    - "joint": a multi-band encoder reads all bands at once;
    - "joint_per_band": the same, each band's steps pooled separately and
      the per-band vectors concatenated (`Embedder(per_band=True)`).
    """

    def __init__(self, passes, variant="single", bands=None, objects=None):
        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; use one of {VARIANTS}.")
        if variant in ("band_mean", "band_concat") and (not bands or len(bands) < 2):
            raise ValueError(f"variant {variant!r} needs two or more bands, got {bands!r}.")
        self.variant, self._passes = variant, passes
        if variant in ("single", "joint", "joint_per_band"):
            self._keys = [(bands[0] if (variant == "single" and bands) else None, variant == "joint_per_band")]
        else:
            self._keys = [(band, False) for band in bands]
        self.ids, self.index, self._asked, self._mean, self._arrays = [], {}, set(), [], {}
        self.add(list(passes.by_id) if objects is None else objects)

    def _stores(self, pooling):
        return [self._passes(band, per_band, pooling) for band, per_band in self._keys]

    def add(self, ids):
        """Embeds the objects of `ids` not yet here (those every band's
        encoder pass could read)."""
        new = [i for i in dict.fromkeys(ids) if i not in self._asked]
        if not new:
            return
        self._asked.update(new)
        parts = [store.get(new) for store in self._stores("mean")]
        common = [i for i in new if all(i in p for p in parts)]
        for oid in common:
            self.index[oid] = len(self.ids)
            self.ids.append(oid)
            self._mean.append(self._combine([p[oid] for p in parts]))
        self._arrays = {}

    def _combine(self, vectors):
        if self.variant == "band_mean":
            return np.mean(vectors, axis=0)
        return vectors[0] if len(vectors) == 1 else np.concatenate(vectors, axis=-1)

    @property
    def mean_layers(self):
        if "mean" not in self._arrays:
            shape = np.shape(self._mean[0]) if self._mean else (0, 0)
            self._arrays["mean"] = np.array(self._mean, np.float32).reshape(len(self.ids), *shape)
        return self._arrays["mean"]

    @property
    def max_last(self):
        """Masked max of the last block, `(N, dim)`: a second encoder pass,
        made only for the heads that read it (max_pool)."""
        if "max" not in self._arrays:
            parts = [store.get(self.ids) for store in self._stores("max")]
            lost = [i for i in self.ids if not all(i in p for p in parts)]
            if lost:
                raise ValueError(f"{len(lost)} objects have a mean but no max embedding (e.g. {lost[:5]}).")
            self._arrays["max"] = np.array([self._combine([p[i] for p in parts]) for i in self.ids],
                                           np.float32).reshape(len(self.ids), -1)
        return self._arrays["max"]

    def rows(self, ids):
        missing = [i for i in ids if i not in self.index]
        if missing:
            raise ValueError(f"{len(missing)} ids of the split have no light curve after cleaning (e.g. {missing[:5]}).")
        return np.array([self.index[i] for i in ids])
