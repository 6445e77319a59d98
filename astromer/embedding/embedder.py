"""Embeddings of whole light curves (any length) from a backbone: the
`Embedder` cuts light curves into windows, runs a pooled model over batches
of windows and combines the window vectors per object, streaming.

Writing them to Parquet is `astromer.embedding.writer`; the command-line
workflow is `astromer.embedding.table.embed_table`.
"""

import os

import numpy as np

from astromer.data.time_scale import shifted, to_mjd
from astromer.data.windows import sequential_windows
from astromer.embedding.arrays import as_array, as_light_curves, is_series
from astromer.embedding.batching import padded_batch, remainder_piece
from astromer.compat import original_settings, resolve_compat
from astromer.embedding.selection import readable_light_curves
from astromer.embedding.writer import write_parquet

LAYERS_HELP = '"last" (last block), "input" (input embedding), "mix" (layer mix), "all", or a block index'


class Embedder:
    """Per-object embeddings: windows -> backbone -> pooled -> averaged per object.

    Each light curve is cut into sequential windows
    (`astromer.data.windows.sequential_windows`); windows of many light
    curves share a batch; the chosen layer is pooled over the real
    (non-padded) steps of each window inside the model; window vectors are
    combined per object:

    - `pooling="mean"`: masked mean over time, then the mean over windows
      weighted by their number of observations (= the mean over all of the
      object's observations);
    - `pooling="max"`: masked max over time, then the max over windows.

    Layers: `"last"` (the final block, Astromer 1 usage), `"input"` (the
    input embedding), an integer block index, `"mix"` (softmax-weighted
    average of the input embedding and all blocks, the Astromer 2 / AstroCo
    layer mix; `layer_weights` from a trained classifier's gammas, uniform
    otherwise) or `"all"` (one vector per layer, `(num_layers + 1, dim)`).

    Results do not depend on the batch size or on which light curves share a
    batch, and times are centred in float64 (an MJD offset does not change
    an embedding). With float32-first centring (compat original) Julian
    Dates are converted to MJD first (`astromer.data.time_scale`).

    Example:
    >>> embedder = Embedder.from_weights("path/to/astromer1-macho")
    >>> table = embedder("lightcurves.parquet")          # DataFrame: id, n_obs, ..., embedding
    >>> embedder.write_parquet("big_catalogue/", "embeddings.parquet")  # streams

    Args:
        backbone: an `AstromerBackbone` or `AstroCoBackbone`.
        layer: which output to pool (see above).
        pooling: "mean" or "max".
        layer_weights: `(num_layers + 1,)` weights for `layer="mix"`.
        window_mode: "nonoverlapping" or "original" (A1 library windows).
        float32_first: original float32 centring (exact A1 inputs).
        batch_size: windows per model call.
        cleaning: `astromer.data.cleaning.CleaningConfig` or dict applied to
            every light curve (default: drop NaN/inf rows, errors outside
            (0, 1), keep light curves with at least 1 observation); dropped
            rows and light curves are counted in `self.report`.
        band: embed only the observations of this band (single-band
            models on multi-band tables); a light curve with several bands
            and no `band` fails with the band names.
        read_rows: table rows read at a time when streaming from files (the
            memory it needs does not grow with the catalogue).
        compat: "default", "original" (windows, centring and cleaning of
            the original library: `astromer.compat`; an explicit
            `cleaning` still applies) or "auto" ("original" for weights
            converted from an original checkpoint).
        per_band: joint multi-band backbones only: pool each band's steps
            separately (after attention over all bands) and concatenate the
            per-band vectors in `band_names` order, `(num_bands * dim)`; a
            band an object lacks gives zeros.
        time_offset: days subtracted from every time as it is read (e.g.
            a survey's own epoch, to bring times to MJD).
        on_error: "skip" (default): a light curve whose windows or
            embedding are not finite is left out, logged by id (and file)
            and counted in `self.report`; the rest of the catalogue is
            embedded. "raise": it stops the run with a `DataError` naming it.
    """

    def __init__(self, backbone, layer="last", pooling="mean", layer_weights=None,
                 window_mode="nonoverlapping", float32_first=False, batch_size=256, cleaning=None,
                 band=None, read_rows=500_000, per_band=False, compat="default", on_error="skip",
                 time_offset=0.0):
        if on_error not in ("skip", "raise"):
            raise ValueError(f"Unknown on_error {on_error!r}; use 'skip' or 'raise'.")
        self.on_error = on_error
        self.time_offset = float(time_offset)
        if pooling not in ("mean", "max"):
            raise ValueError(f"Unknown pooling {pooling!r}; use 'mean' or 'max'.")
        valid_layer = layer in ("last", "input", "mix", "all") or (
            isinstance(layer, int) and 0 <= layer < backbone.num_layers
        )
        if not valid_layer:
            raise ValueError(f"Unknown layer {layer!r}; use {LAYERS_HELP} (0..{backbone.num_layers - 1}).")
        if layer_weights is not None and len(layer_weights) != backbone.num_layers + 1:
            raise ValueError(
                f"layer_weights needs {backbone.num_layers + 1} values (input embedding + "
                f"{backbone.num_layers} blocks), got {len(layer_weights)}."
            )
        self.compat = resolve_compat(compat, backbone)
        if self.compat == "original":
            original = original_settings()
            window_mode, float32_first = original["window_mode"], original["float32_first"]
            cleaning = original["cleaning"] if cleaning is None else cleaning
        self.backbone = backbone
        self.layer = layer
        self.pooling = pooling
        self.layer_weights = None if layer_weights is None else np.asarray(layer_weights, np.float64)
        self.window_mode = window_mode
        self.float32_first = bool(float32_first)
        self.batch_size = int(batch_size)
        from astromer.data.cleaning import CleaningConfig, CleaningReport

        if cleaning is None:
            cleaning = CleaningConfig(min_observations=1)
        elif not isinstance(cleaning, CleaningConfig):
            cleaning = CleaningConfig.from_dict(cleaning)
        self.cleaning = cleaning
        self.report = CleaningReport()
        self.band = band
        self.read_rows = int(read_rows)
        self.per_band = bool(per_band)
        self.num_bands = len(getattr(backbone, "band_names", None) or [])
        if self.per_band and not self.num_bands:
            raise ValueError("per_band=True needs a joint multi-band backbone (one with band_names).")
        self._pooled_model = None

    # ---------------------------------------------------------- building

    @classmethod
    def from_weights(cls, weights, preset=None, **kwargs):
        """From a run folder, a `.keras` model, an original checkpoint (e.g.
        the published Astromer 1 MACHO weights) or a `.weights.h5` + preset;
        `compat` defaults to "auto" (the original library's preprocessing
        for weights converted from an original checkpoint)."""
        from astromer.training import load_weights

        return cls(load_weights(weights, preset)[0].backbone, **{"compat": "auto", **kwargs})

    @classmethod
    def from_preset(cls, preset, weights=None, **kwargs):
        """A preset's backbone, randomly initialised or with `weights`
        (a backbone or Pretrainer `.weights.h5`)."""
        if weights is not None:
            return cls.from_weights(weights, preset=preset, **kwargs)
        from astromer.presets import build_backbone

        return cls(build_backbone(preset), **kwargs)

    def pooled_model(self):
        """Functional model: backbone inputs -> pooled window vectors
        `(batch, dim)` (or `(batch, num_layers + 1, dim)` for `layer="all"`)."""
        if self._pooled_model is not None:
            return self._pooled_model
        import keras

        from astromer.layers.pooling import LayerMix, MaskedMaxPooling, MaskedMeanPooling, PerBandPooling

        backbone = self.backbone
        inputs = backbone.make_inputs(backbone.window_size)
        outputs = backbone(inputs)
        layers = [outputs["input_embedding"], *outputs["block_outputs"]]
        if self.per_band:
            # One pooled vector per band; the band axis is kept (before the
            # feature axis) so that windows can be weighted per band.
            band_pool = PerBandPooling(self.num_bands, self.pooling, name="pooling")

            def pool(x, padding_mask):
                return keras.ops.reshape(band_pool(x, padding_mask, inputs["bands"]), (-1, self.num_bands, x.shape[-1]))
        else:
            pool = (MaskedMeanPooling if self.pooling == "mean" else MaskedMaxPooling)(name="pooling")
        if self.layer == "all":
            pooled = keras.ops.stack([pool(x, inputs["padding_mask"]) for x in layers], axis=1)
        else:
            if self.layer == "mix":
                mix = LayerMix(name="layer_mix")
                sequence = mix(layers)
                if self.layer_weights is not None:
                    mix.gamma.assign(np.log(self.layer_weights / self.layer_weights.sum()))
            elif self.layer == "last":
                sequence = outputs["sequence_output"]
            elif self.layer == "input":
                sequence = outputs["input_embedding"]
            else:
                sequence = outputs["block_outputs"][self.layer]
            pooled = pool(sequence, inputs["padding_mask"])
        from astromer.models.graph_steps import GraphModel

        self._pooled_model = GraphModel(inputs, keras.ops.cast(pooled, "float32"), name="embedder")
        if keras.backend.backend() == "torch":
            # Keras leaves PyTorch eager; one traced graph per batch shape.
            self._pooled_model.jit_compile = True
        return self._pooled_model

    # ---------------------------------------------------------- windows

    def _light_curves(self, source, ids=None, on_rows=None):
        from astromer.data.lightcurves import iter_light_curves, stream_light_curves

        if isinstance(source, (str, os.PathLike)):
            stream = stream_light_curves(source, on_rows=on_rows, batch_rows=self.read_rows)
        else:
            stream = iter_light_curves(source, ids=ids)
        if self.time_offset:
            stream = (shifted(lc, self.time_offset) for lc in stream)
        return readable_light_curves(stream, self.backbone, self.band, self.cleaning, self.report)

    def _windows(self, light_curves):
        size = self.backbone.window_size
        multi_band = bool(getattr(self.backbone, "band_names", None))
        for index, lc in enumerate(light_curves):
            if self.float32_first:
                # float32-first centring depends on the time scale: JD -> MJD.
                lc = to_mjd(lc, self.report)
            bands = self.backbone.band_indices(lc.band) if multi_band else None
            windows = sequential_windows(lc.as_array(), size, mode=self.window_mode,
                                         float32_first=self.float32_first, bands=bands)
            if not all(np.all(np.isfinite(windows[key])) for key in ("times", "magnitudes", "errors") if key in windows):
                self._not_embedded(lc, "its centred float32 windows are not finite")
                continue
            for k in range(len(windows["starts"])):
                yield index, lc, {key: windows[key][k] for key in windows}

    def _inputs(self, batch):
        inputs = {
            "magnitudes": np.stack([w["magnitudes"] for w in batch]),
            "times": np.stack([w["times"] for w in batch]),
            "errors": np.stack([w["errors"] for w in batch]),
            "padding_mask": np.stack([w["padding_mask"] for w in batch]),
        }
        inputs["hidden_mask"] = np.zeros_like(inputs["padding_mask"])
        if "bands" in batch[0]:
            inputs["bands"] = np.stack([w["bands"] for w in batch])
        return self.backbone.validate_inputs(inputs)

    def _batched(self, items, run):
        pending = []
        for item in items:
            pending.append(item)
            if len(pending) == self.batch_size:
                yield from zip(pending, run([w for *_, w in pending]))
                pending = []
        # The rest (or a small job's only batch) runs in pieces of a few
        # compiled shapes, powers of two from 8 up to `batch_size`, largest
        # first (49 windows: 32 + 16 + 1 padded to 8): at most 7 padded
        # windows are computed, and there are at most log2(batch_size / 8) + 1
        # shapes to compile. A window's result never depends on how full its
        # batch is.
        while pending:
            size = remainder_piece(len(pending), self.batch_size)
            piece, pending = pending[:size], pending[size:]
            windows = [w for *_, w in piece]
            filler = [windows[-1]] * (padded_batch(len(windows), self.batch_size) - len(windows))
            yield from zip(piece, run(windows + filler)[: len(piece)])

    def window_embeddings(self, light_curves):
        """Yields `(light curve index, window dict, (window_size, dim) array)`
        of the backbone's `sequence_output` (per-step embeddings)."""
        def run(windows):
            return np.asarray(self.backbone.predict_on_batch(self._inputs(windows))["sequence_output"])

        for (index, _, window), out in self._batched(self._windows(as_light_curves(light_curves)), run):
            yield index, window, out

    def step_embeddings(self, light_curves):
        """Per light curve, the per-step embeddings of the real rows of its
        windows, concatenated in window order: `(rows, dim)` arrays.

        With `window_mode="original"` this is the A1 library's
        `encode(concatenate=True)` (whose objects come in `np.unique(ids)`
        order instead): overlapping rows of the last window are repeated.
        """
        light_curves = list(as_light_curves(light_curves))
        parts = [[] for _ in light_curves]
        for index, window, out in self.window_embeddings(light_curves):
            parts[index].append(out[: window["lengths"]])
        return [np.concatenate(p, axis=0) for p in parts]

    # ---------------------------------------------------------- objects

    def iter_embeddings(self, source, ids=None, on_rows=None):
        """Yields `(id, embedding, n_obs, n_windows)` per light curve, streaming."""
        model = self.pooled_model()

        def run(windows):
            return np.asarray(model.predict_on_batch(self._inputs(windows)))

        def finished(lc, acc, weight, n_windows):
            vector = self._finish(acc, weight)
            if np.all(np.isfinite(vector)):
                return [(lc.id, vector, len(lc), n_windows)]
            self._not_embedded(lc, "the model's output is not finite")
            return []

        current, acc, weight, n_windows = None, None, 0, 0
        for (index, lc, window), vector in self._batched(self._windows(self._light_curves(source, ids, on_rows)), run):
            if current is not None and lc is not current:
                yield from finished(current, acc, weight, n_windows)
                acc, weight, n_windows = None, 0, 0
            current = lc
            n = int(window["lengths"])
            if self.per_band:
                # observations of each band in this window, for the band axis
                real = np.asarray(window["padding_mask"]) < 0.5
                n = np.array([np.sum(real & (np.asarray(window["bands"]) == b)) for b in range(self.num_bands)])
                n = n[:, None]
                if self.pooling == "max":
                    vector = np.where(n > 0, vector, -np.inf)
            if self.pooling == "mean":
                acc = vector * n if acc is None else acc + vector * n
            else:
                acc = vector if acc is None else np.maximum(acc, vector)
            weight = weight + n
            n_windows += 1
        if current is not None:
            yield from finished(current, acc, weight, n_windows)

    def _not_embedded(self, lc, why):
        """A light curve the model cannot embed: skipped, logged and counted
        (`on_error="skip"`), or a `DataError` naming it."""
        where = f" of {lc.meta['file']}" if lc.meta.get("file") else ""
        message = f"Light curve {lc.id!r}{where} cannot be embedded: {why}."
        if self.on_error == "raise":
            from astromer.errors import DataError

            raise DataError(message + " Remove it, or skip such light curves (on_error='skip').")
        import logging

        self.report.light_curves_not_embedded += 1
        self.report.not_embedded_ids.append(lc.id)
        logging.getLogger("astromer.embedding").warning("%s Skipped (counted in the report).", message)

    def _finish(self, acc, weight):
        if not self.per_band:
            return (acc / max(weight, 1)) if self.pooling == "mean" else acc
        out = acc / np.maximum(weight, 1) if self.pooling == "mean" else np.where(weight > 0, acc, 0.0)
        return out.reshape(*out.shape[:-2], -1)  # (..., bands, dim) -> (..., bands * dim)

    def __call__(self, source, ids=None):
        """Embeddings of every light curve of `source` (table path, DataFrame,
        list of `(L, 3)` arrays, ...) as a DataFrame: `id`, `n_obs`,
        `n_windows` and `embedding` (a float32 vector per row; `(K, dim)`
        arrays for `layer="all"`).

        In the embedding hub's style, `embedder(time, mag)` (two 1-D arrays)
        is `embedder.one(time, mag)`: one light curve's vector."""
        import pandas as pd

        if ids is not None and is_series(source) and is_series(ids):
            return self.one(source, ids)

        rows = list(self.iter_embeddings(source, ids=ids))
        return pd.DataFrame(
            {
                "id": [r[0] for r in rows],
                "n_obs": [r[2] for r in rows],
                "n_windows": [r[3] for r in rows],
                "embedding": [r[1].astype(np.float32) for r in rows],
            }
        )

    def one(self, time, mag, err=None):
        """The `(dim,)` float32 embedding of one light curve given as arrays.
        `err` may be left out for models that do not read errors (Astromer 1
        and 2); it then only has to pass the error cleaning."""
        return self.batch([(time, mag, err)])[0]

    def batch(self, light_curves):
        """`(N, dim)` float32 embeddings of `(time, mag[, err])` tuples or
        `(L, 2 | 3)` arrays, in order (a light curve cleaning removes fails)."""
        arrays = [as_array(item, needs_errors="errors" in self.backbone.input_names) for item in light_curves]
        ids = [str(i) for i in range(len(arrays))]
        got, vectors = self.embed_array(arrays, ids=ids)
        if got != ids:
            from astromer.errors import DataError

            lost = sorted(int(i) for i in set(ids) - set(got))
            raise DataError(f"Light curve(s) at position {lost} have no usable observation after cleaning "
                             "(counts in Embedder.report).")
        return vectors

    def embed_array(self, source, ids=None):
        """`(ids, embeddings array (N, dim) or (N, K, dim))`."""
        rows = list(self.iter_embeddings(source, ids=ids))
        return [r[0] for r in rows], np.stack([r[1] for r in rows]).astype(np.float32)

    def write_parquet(self, source, path, chunk=10_000, progress=True, transform=None):
        """Streams embeddings of `source` into a Parquet file (`id`, `n_obs`,
        `n_windows`, `embedding` as a list of float32) with constant memory;
        `transform` is applied to each row group's embeddings first.
        Returns the number of light curves written."""
        return write_parquet(self, source, path, chunk=chunk, progress=progress, transform=transform)
