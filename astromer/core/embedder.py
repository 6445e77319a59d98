"""Embeddings of whole light curves (any length) from a backbone: the
`Embedder` reads light curves through an `InferencePreprocessor`, runs a
pooled model over batches of windows and combines the window vectors per
object, streaming. `write_parquet` streams them to a file
(`astromer.core.writer`); `astromer-embed` is `astromer.embedding.table`.
"""

import numpy as np

from astromer.core.buckets import bucket_length, bucket_lengths, bucketed, padding_free_reason
from astromer.core.writer import rows_read, write_parquet
from astromer.preprocessing.inference import InferencePreprocessor, as_array, is_series

LAYERS_HELP = '"last" (last block), "input" (input embedding), "mix" (layer mix), "all", or a block index'


class Embedder:
    """Per-object embeddings: windows -> backbone -> pooled -> averaged per object.

    Each light curve is cut into sequential windows (`self.preprocessor`,
    an `astromer.preprocessing.InferencePreprocessor`); windows of many light
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
    batch.

    Padding-free inference (`padding_free`, on by default where valid: the
    paper presets): when the backbone keeps padded steps out of attention
    (`astromer.core.buckets.padding_free_reason`), each window runs cut to
    the smallest length bucket that holds its real steps (multiples of 32
    up to `window_size`), batched with windows of the same bucket, and the
    vectors are those of full windows within float tolerance. Models whose
    attention lets padding in (the `*-original` compat presets, the
    published Astromer 1 weights) run full windows (`describe()` says
    which).

    Example:
    >>> embedder = Embedder.from_weights("path/to/astromer1-macho")
    >>> table = embedder("lightcurves.parquet")          # DataFrame: id, n_obs, ..., embedding
    >>> embedder.write_parquet("big_catalogue/", "embeddings.parquet")  # streams

    Args:
        backbone: an `AstromerBackbone` or `AstroCoBackbone`.
        layer: which output to pool (see above).
        pooling: "mean" or "max".
        layer_weights: `(num_layers + 1,)` weights for `layer="mix"`.
        batch_size: windows per model call.
        read_rows: table rows read at a time when streaming from files (the
            memory it needs does not grow with the catalogue).
        per_band: joint multi-band backbones only: pool each band's steps
            separately (after attention over all bands) and concatenate the
            per-band vectors in `band_names` order, `(num_bands * dim)`; a
            band an object lacks gives zeros.
        padding_free: None (default): cut windows to length buckets where
            the backbone allows it, full windows otherwise; False: always
            full windows; True: cut, a `ConfigError` where padding takes
            part in attention.
        on_error: "skip" (default): a light curve whose windows or
            embedding are not finite is left out, logged by id (and file)
            and counted in `self.report`; the rest of the catalogue is
            embedded. "raise": it stops the run with a `DataError` naming it.
        compat, window_mode, float32_first, band, cleaning, time_offset:
            how light curves are read (`InferencePreprocessor`; `compat`
            "auto": "original" for weights converted from an original
            checkpoint). Dropped rows and light curves are counted in
            `self.report`.
    """

    def __init__(self, backbone, layer="last", pooling="mean", layer_weights=None,
                 window_mode="nonoverlapping", float32_first=False, batch_size=256, cleaning=None,
                 band=None, read_rows=500_000, per_band=False, compat="default", on_error="skip",
                 time_offset=0.0, padding_free=None):
        from astromer.data.cleaning import CleaningReport
        from astromer.errors import ConfigError

        if on_error not in ("skip", "raise"):
            raise ValueError(f"Unknown on_error {on_error!r}; use 'skip' or 'raise'.")
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
        self.preprocessor = InferencePreprocessor.from_backbone(
            backbone, compat, window_mode=window_mode, float32_first=float32_first, band=band, cleaning=cleaning,
            time_offset=time_offset)
        self.backbone = backbone
        self.layer = layer
        self.pooling = pooling
        self.layer_weights = None if layer_weights is None else np.asarray(layer_weights, np.float64)
        self.batch_size = int(batch_size)
        self.report = CleaningReport()
        self.read_rows = int(read_rows)
        self.per_band = bool(per_band)
        self.on_error = on_error
        self.num_bands = len(getattr(backbone, "band_names", None) or [])
        if self.per_band and not self.num_bands:
            raise ValueError("per_band=True needs a joint multi-band backbone (one with band_names).")
        valid, why = padding_free_reason(backbone)
        if padding_free and not valid:
            raise ConfigError(f"padding_free=True cannot cut windows of this model: {why}. "
                              "Leave padding_free unset (full windows for such models).")
        self.padding_free = valid if padding_free is None else bool(padding_free)
        self._pooled_model = None
        self._pooled_models = {}

    # ---------------------------------------------------------- building

    @classmethod
    def from_weights(cls, weights, preset=None, **kwargs):
        """From a run folder, a `.keras` model, an original checkpoint (e.g.
        the published Astromer 1 MACHO weights) or a `.weights.h5` + preset;
        `compat` defaults to "auto" (the original library's preprocessing
        for weights converted from an original checkpoint)."""
        from astromer.core.loading import load_backbone

        return cls(load_backbone(weights, preset), **{"compat": "auto", **kwargs})

    @classmethod
    def from_preset(cls, preset, weights=None, **kwargs):
        """A preset's backbone, randomly initialised or with `weights`
        (a backbone or Pretrainer `.weights.h5`)."""
        if weights is not None:
            return cls.from_weights(weights, preset=preset, **kwargs)
        from astromer.presets import build_backbone

        return cls(build_backbone(preset), **kwargs)

    def pooled_model(self, length=None):
        """Functional model: backbone inputs -> pooled window vectors
        `(batch, dim)` (or `(batch, num_layers + 1, dim)` for `layer="all"`);
        `length`: of windows cut to `length` steps (the same layers and
        weights; default: `window_size`)."""
        length = int(length or self.backbone.window_size)
        if length not in self._pooled_models:
            self._pooled_models[length] = self._build_pooled_model(length)
        if length == self.backbone.window_size:
            self._pooled_model = self._pooled_models[length]
        return self._pooled_models[length]

    def _build_pooled_model(self, length):
        import keras

        from astromer.layers.pooling import LayerMix, MaskedMaxPooling, MaskedMeanPooling, PerBandPooling

        backbone = self.backbone
        inputs = backbone.make_inputs(length)
        # `Backbone.__call__` checks for full windows; the functional graph
        # itself runs on any length (every layer is per step, or attention).
        outputs = backbone(inputs) if length == backbone.window_size else backbone.call(inputs)
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

        model = GraphModel(inputs, keras.ops.cast(pooled, "float32"), name="embedder")
        if keras.backend.backend() == "torch":
            # Keras leaves PyTorch eager; one traced graph per batch shape.
            model.jit_compile = True
        return model

    # ---------------------------------------------------------- windows

    def _windows(self, light_curves):
        """(index, light curve, one-window dict) of every window of light
        curves already read (`self.preprocessor.read`)."""
        for index, lc in enumerate(light_curves):
            windows = self.preprocessor.windows(lc)
            if not all(np.all(np.isfinite(windows[key])) for key in ("times", "magnitudes", "errors")):
                self._not_embedded(lc, "its centred float32 windows are not finite")
                continue
            for k in range(len(windows["starts"])):
                yield index, lc, {key: windows[key][k] for key in windows}

    def _run(self, model, windows, output=None, length=None):
        inputs = self.backbone.validate_inputs(self.preprocessor.inputs(windows))
        if length is not None and length < self.backbone.window_size:
            # Real steps come first: the cut keeps them all (`bucket_length`).
            inputs = {name: value[:, :length] for name, value in inputs.items()}
        out = model.predict_on_batch(inputs)
        return np.asarray(out if output is None else out[output])

    def _pooled_batches(self, windows):
        """`((index, light curve, window), pooled vector)` of `windows`
        (`_windows`), in order: cut to length buckets when padding-free."""
        window_size = self.backbone.window_size
        if not self.padding_free:
            return bucketed(windows, lambda _, w: self._run(self.pooled_model(), w), self.batch_size)
        return bucketed(windows, lambda length, w: self._run(self.pooled_model(length), w, length=length),
                        self.batch_size, lambda item: bucket_length(item[-1]["lengths"], window_size))

    def window_embeddings(self, light_curves):
        """Yields `(light curve index, window dict, (window_size, dim) array)`
        of the backbone's `sequence_output` (per-step embeddings); the light
        curves are read in their band and time scale, not cleaned."""
        light_curves = self.preprocessor.read(light_curves, self.report, clean=False)
        run = lambda w: self._run(self.backbone, w, "sequence_output")  # noqa: E731
        for (index, _, window), out in bucketed(self._windows(light_curves), lambda _, w: run(w), self.batch_size):
            yield index, window, out

    def step_embeddings(self, light_curves):
        """Per light curve, the per-step embeddings of the real rows of its
        windows, concatenated in window order: `(rows, dim)` arrays.

        With `window_mode="original"` this is the A1 library's
        `encode(concatenate=True)` (whose objects come in `np.unique(ids)`
        order instead): overlapping rows of the last window are repeated.
        """
        light_curves = list(light_curves)
        parts = [[] for _ in light_curves]
        for index, window, out in self.window_embeddings(light_curves):
            parts[index].append(out[: window["lengths"]])
        return [np.concatenate(p, axis=0) for p in parts]

    # ---------------------------------------------------------- objects

    def iter_embeddings(self, source, ids=None, on_rows=None):
        """Yields `(id, embedding, n_obs, n_windows)` per light curve, streaming."""
        def finished(lc, acc, weight, n_windows):
            vector = self._finish(acc, weight)
            if np.all(np.isfinite(vector)):
                return [(lc.id, vector, len(lc), n_windows)]
            self._not_embedded(lc, "the model's output is not finite")
            return []

        light_curves = self.preprocessor.read(source, self.report, ids, on_rows, self.read_rows)
        current, acc, weight, n_windows = None, None, 0, 0
        for (index, lc, window), vector in self._pooled_batches(self._windows(light_curves)):
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
        return pd.DataFrame({"id": [r[0] for r in rows], "n_obs": [r[2] for r in rows],
                             "n_windows": [r[3] for r in rows],
                             "embedding": [r[1].astype(np.float32) for r in rows]})

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

    def describe(self):
        """What the encoder is really given, in one line (printed by
        astromer-embed and astromer-fewshot): windows, centring, the error
        bounds applied (the open interval and the magnitude bound together:
        compat original keeps (-inf, inf) but rows beyond `max_abs_err` are
        still dropped) and the time scale."""
        cleaning = self.cleaning
        low, high, bound = cleaning.min_error, cleaning.max_error, cleaning.max_abs_err
        bounds = f"errors kept in ({low:g}, {high:g})"
        if bound is not None and (low < -bound or high > bound):
            bounds += f" and |error| <= {bound:g}"
        centring = "float32 centring (Julian Dates moved to MJD)" if self.float32_first else "float64 centring"
        offset = f", {self.time_offset:g} days subtracted from times" if self.time_offset else ""
        return (f"windows {self.window_mode}, {centring}{offset}, {bounds}, "
                f"at least {cleaning.min_observations} observation(s) per light curve; {self.describe_windows()}")

    def describe_windows(self):
        """How windows reach the model: cut to length buckets, or whole."""
        valid, why = padding_free_reason(self.backbone)
        if self.padding_free:
            return f"padding-free: windows cut to length buckets {bucket_lengths(self.backbone.window_size)}: {why}"
        return f"full {self.backbone.window_size}-step windows: {why if not valid else 'padding_free=False'}"

    def write_parquet(self, source, path, chunk=10_000, progress=True, transform=None):
        """Streams embeddings of `source` into a Parquet file (`id`, `n_obs`,
        `n_windows`, `embedding` as a list of float32) with constant memory;
        `transform` is applied to each row group's embeddings first.
        Returns the number of light curves written."""
        status = rows_read(self.report, self.band, source) if progress else None
        return write_parquet(self.iter_embeddings(source), path, chunk, transform, status)


def _setting(name):
    """How light curves are read lives in the preprocessor; the Embedder
    shows (and sets) it under the names it always had."""
    return property(lambda self: getattr(self.preprocessor, name),
                    lambda self, value: setattr(self.preprocessor, name, value))


for _name in ("compat", "window_mode", "float32_first", "band", "cleaning", "time_offset"):
    setattr(Embedder, _name, _setting(_name))
