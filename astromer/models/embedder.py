"""Per-step embeddings of whole light curves from a backbone."""

import numpy as np

from astromer.data.windows import sequential_windows


class Embedder:
    """Runs a backbone over every window of whole light curves.

    Each light curve is cut with `astromer.data.windows.sequential_windows`,
    windows are batched across light curves, and the per-step outputs of the
    real (non-padded) rows are returned per light curve.

    Args:
        backbone: an encoder backbone (e.g. `AstromerBackbone`).
        window_mode: "nonoverlapping" (default) or "original" (the A1
            library's `encode()`: right-aligned, possibly duplicated last window).
        float32_first: centre windows as the original code did (exact A1 inputs).
        batch_size: windows per model call.
        output: backbone output to return ("sequence_output" or "input_embedding").

    Example:
    >>> model = Pretrainer.from_original_checkpoint("astromer1-macho")
    >>> steps = Embedder(model.backbone, window_mode="original",
    ...                  float32_first=True).step_embeddings(light_curves)
    """

    def __init__(
        self,
        backbone,
        window_mode="nonoverlapping",
        float32_first=False,
        batch_size=256,
        output="sequence_output",
    ):
        self.backbone = backbone
        self.window_mode = window_mode
        self.float32_first = bool(float32_first)
        self.batch_size = int(batch_size)
        self.output = output

    def _windows(self, light_curves):
        size = self.backbone.window_size
        for index, lc in enumerate(light_curves):
            windows = sequential_windows(
                lc, size, mode=self.window_mode, float32_first=self.float32_first
            )
            for k in range(len(windows["starts"])):
                yield index, {key: windows[key][k] for key in windows}

    def _run(self, batch):
        inputs = {
            "magnitudes": np.stack([w["magnitudes"] for w in batch]),
            "times": np.stack([w["times"] for w in batch]),
            "errors": np.stack([w["errors"] for w in batch]),
            "padding_mask": np.stack([w["padding_mask"] for w in batch]),
        }
        inputs["hidden_mask"] = np.zeros_like(inputs["padding_mask"])
        inputs = self.backbone.validate_inputs(inputs)
        outputs = self.backbone.predict_on_batch(inputs)
        return np.asarray(outputs[self.output])

    def window_embeddings(self, light_curves):
        """Yields `(light curve index, window dict, (window_size, dim) array)`."""
        pending = []
        for item in self._windows(light_curves):
            pending.append(item)
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        if pending:
            yield from self._flush(pending)

    def _flush(self, pending):
        outputs = self._run([w for _, w in pending])
        for (index, window), out in zip(pending, outputs):
            yield index, window, out

    def step_embeddings(self, light_curves):
        """Per light curve, the embeddings of the real rows of its windows,
        concatenated in window order: `(rows, dim)` arrays in input order.

        With `window_mode="original"` this is the A1 library's
        `encode(concatenate=True)` (whose objects come in `np.unique(ids)`
        order instead): overlapping rows of the last window are repeated.
        """
        light_curves = list(light_curves)
        parts = [[] for _ in light_curves]
        for index, window, out in self.window_embeddings(light_curves):
            parts[index].append(out[: window["lengths"]])
        return [np.concatenate(p, axis=0) for p in parts]
