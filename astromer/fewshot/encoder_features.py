"""Pooled features of a frozen encoder, the input of the few-shot heads.

The encoder reads each object through the `Embedder`, with the compat mode
of `astromer-embed` (`compat="auto"` by default): the same windows,
centring and cleaning of errors, so an object's vector here is the one
`astromer-embed --no-standardize` writes for it (the last block's mean).
Objects are embedded when a cell first needs them, once each, and kept for
the run (and in `<out>/cache` for later runs when `cache_dir` is given:
`astromer.fewshot.object_cache`). The variants say how the bands of a
multi-band table become one feature vector.
"""

import dataclasses

import numpy as np

from astromer.fewshot.object_cache import ObjectCache, light_curve_hash, weights_hash
from astromer.progress import progress

VARIANTS = ("single", "band_mean", "band_concat", "joint", "joint_per_band")


class ObjectEmbeddings:
    """One encoder's per-object vectors of one band (None: as the model
    reads the light curves) and one pooling: "mean" gives `(layers, dim)`
    (input embedding and every block), "max" the last block's `(dim,)`.
    `get(ids)` embeds the ids not yet seen, in one pass."""

    def __init__(self, backbone, by_id, band=None, per_band=False, pooling="mean", compat="auto", batch_size=256,
                 verbose=False, cache_dir=None):
        from astromer.embedding import Embedder

        self.embedder = Embedder(backbone, layer="all" if pooling == "mean" else "last", pooling=pooling, band=band,
                                 batch_size=batch_size, per_band=per_band, compat=compat)
        self.by_id, self.verbose = by_id, verbose
        self.label = f"encoder{'' if band is None else ' ' + str(band)}{' per band' if per_band else ''} ({pooling})"
        self.vectors, self.lost = {}, set()
        key = None if cache_dir is None else {
            "weights": weights_hash(backbone), "band": band, "per_band": per_band, "pooling": pooling,
            "compat": self.embedder.compat, "window_mode": self.embedder.window_mode,
            "float32_first": self.embedder.float32_first, "cleaning": dataclasses.asdict(self.embedder.cleaning),
            "time_offset": getattr(self.embedder, "time_offset", 0.0), "window_size": backbone.window_size}
        self.cache = ObjectCache(cache_dir, f"embeddings-{pooling}", key)
        self.embedded, self.from_cache = 0, 0

    def get(self, ids):
        """`{id: vector}` of the `ids` the encoder can read (those its
        cleaning drops, or whose output is not finite, are left out)."""
        todo = [i for i in dict.fromkeys(ids) if i in self.by_id and i not in self.vectors and i not in self.lost]
        if todo:
            hashes = {i: light_curve_hash(self.by_id[i]) for i in todo} if self.cache.path else {}
            cached = {i: self.cache.get(i, hashes[i]) for i in todo} if hashes else {}
            missing = [i for i in todo if cached.get(i) is None]
            self.vectors.update({i: v for i, v in cached.items() if v is not None})
            self.from_cache += len(todo) - len(missing)
            line = self._embed(missing, hashes) if missing else f"{self.label}: nothing to embed"
            self.lost.update(i for i in missing if i not in self.vectors)
            if self.verbose:
                reused = len(todo) - len(missing)
                print(line + (f", {reused:,} read from {self.cache.path}" if reused else ""), flush=True)
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
        self.embedded += len(new)
        if hashes:
            self.cache.put({i: (hashes[i], v) for i, v in new.items()})
            self.cache.save()
        rows_in, rows_out = report.rows_in - before[0], report.rows_out - before[1]
        return (f"{self.label}: {len(new):,} of {len(ids):,} light curves embedded ({rows_in - rows_out:,} of "
                f"{rows_in:,} rows dropped by the encoder's cleaning)")


class EncoderFeatures:
    """Pooled features of objects for the frozen-encoder heads:
    `mean_layers` `(N, layers, dim)` (masked means of the input embedding
    and every block) and `max_last` `(N, dim)` (masked max of the last
    block, computed on first use), rows in the order of `ids`.

    `objects`: the ids to embed now (default: every light curve); `add(ids)`
    embeds more (a few-shot run adds each cell's objects).

    Variants (how bands become features):
    - "single": one band (`bands=[name]`) or a single-band table;
    - "band_mean" / "band_concat": a single-band encoder on each band of
      `bands` separately, features averaged / concatenated (what users of
      single-band models do today);
    - "joint": a multi-band encoder reads all bands at once;
    - "joint_per_band": the same, each band's steps pooled separately and
      the per-band vectors concatenated (`Embedder(per_band=True)`).

    `compat` is the `Embedder`'s ("auto": the original library's
    preprocessing for weights converted from an original checkpoint, as
    `astromer-embed`); `light_curves` are given to the `Embedder` as read:
    its cleaning is the compat mode's.
    """

    def __init__(self, backbone, light_curves, variant="single", bands=None, batch_size=256, cache=None,
                 compat="auto", objects=None, verbose=False, cache_dir=None):
        from astromer.embedding.arrays import as_light_curves

        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; use one of {VARIANTS}.")
        if variant in ("band_mean", "band_concat") and (not bands or len(bands) < 2):
            raise ValueError(f"variant {variant!r} needs two or more bands, got {bands!r}.")
        self.variant = variant
        by_id = {lc.id: lc for lc in as_light_curves(light_curves)}
        if variant in ("single", "joint", "joint_per_band"):
            keys = [(bands[0] if (variant == "single" and bands) else None, variant == "joint_per_band")]
        else:
            keys = [(band, False) for band in bands]
        # `cache` (a dict) shares the per-band embeddings between variants of
        # one encoder: band_mean and band_concat need the same passes.
        cache = {} if cache is None else cache

        def stores(pooling):
            for band, per_band in keys:
                if (band, per_band, pooling) not in cache:
                    cache[(band, per_band, pooling)] = ObjectEmbeddings(
                        backbone, by_id, band, per_band, pooling, compat, batch_size, verbose, cache_dir)
            return [cache[(band, per_band, pooling)] for band, per_band in keys]

        self._stores = stores
        self.ids, self.index, self._asked, self._mean, self._arrays = [], {}, set(), [], {}
        self.add(list(by_id) if objects is None else objects)

    @property
    def embedder(self):
        """The `Embedder` of the mean features (its compat, windows, cleaning)."""
        return self._stores("mean")[0].embedder

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
            self._arrays["mean"] = np.array(self._mean, np.float32).reshape(len(self.ids), *self._shape())
        return self._arrays["mean"]

    def _shape(self):
        return np.shape(self._mean[0]) if self._mean else (0, 0)

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
