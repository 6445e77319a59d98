"""The per-partition task of a survey job: one partition of light curves in,
one table of rows (`id, n_obs, n_windows, embedding[, features]`) and a
report out. It runs inside a Dask worker process, or in the command's own
process for a single table (`astromer-embed --features`).

The `Embedder` is built once per process and settings (`cached_embedder`):
a worker runs many partitions with one model, as a Dask worker keeps its
Python modules between tasks.
"""

import dataclasses
import os
import resource
import sys
import time

import numpy as np

# One Embedder per process and model settings; see cached_embedder.
_EMBEDDERS = {}


@dataclasses.dataclass(frozen=True)
class SurveySettings:
    """What each partition computes; frozen and hashable, sent to workers.

    `weights` to `time_offset` are `astromer-embed`'s (`EmbedSettings`);
    `cleaning_overrides` is a tuple of `(name, value)` pairs (hashable).
    `embed=False` computes features only (`astromer-features`).
    `features`: the 44 hand-crafted features per band of `bands` (default:
    the partition's bands; a job resolves them over all partitions first),
    with the periodogram grid of `max_baseline` days (default: the longest
    span in the partition; a job sets one for all partitions).
    `statistics`: standardise embeddings with these (a stats JSON's
    `{"mean", "std"}`) inside the task. `delay_s`: a test hook, seconds slept
    per partition (so a test can kill a worker mid-run). `padding_free`: the
    `Embedder`'s (None: on where the backbone keeps padding out of
    attention; False: full windows, `astromer-embed --padded`).
    """

    weights: str = None
    preset: str = None
    layer: object = "last"
    pooling: str = "mean"
    band: str = None
    window_mode: str = "nonoverlapping"
    float32_first: bool = False
    batch_size: int = 256
    compat: str = "auto"
    cleaning_overrides: tuple = ()
    on_error: str = "skip"
    time_offset: float = 0.0
    embed: bool = True
    features: bool = False
    bands: tuple = None
    max_baseline: float = None
    statistics: object = None
    delay_s: float = 0.0
    padding_free: bool = None

    def fingerprint(self):
        """What decides the outputs, as JSON-able data: a job refuses to add
        partitions to an output folder made with another fingerprint. The
        batch size (results do not depend on it) and the test hook are left
        out; the weights path is made absolute."""
        data = dataclasses.asdict(self)
        for name in ("batch_size", "delay_s"):
            data.pop(name)
        if self.weights is not None:
            data["weights"] = os.path.abspath(self.weights)
        data["cleaning_overrides"] = [list(p) for p in self.cleaning_overrides]
        data["bands"] = None if self.bands is None else list(self.bands)
        return data

    def model_key(self):
        # What decides the Embedder (imported here: this module loads on the
        # client and before a worker sizes TensorFlow's threads).
        from astromer.core.embedder_settings import SETTINGS_FIELDS

        return tuple(getattr(self, name) for name in ("weights", "preset", "cleaning_overrides", *SETTINGS_FIELDS))


def cached_embedder(settings):
    """The `Embedder` of `settings`, built on this process's first call and
    reused after (its cleaning report reset per partition)."""
    from astromer.core.embedder_settings import embedder_from_settings
    from astromer.data.cleaning import CleaningReport

    key = settings.model_key()
    embedder = _EMBEDDERS.get(key)
    if embedder is None:
        embedder = embedder_from_settings(settings)
        _EMBEDDERS[key] = embedder
    embedder.report = CleaningReport()
    return embedder


def models_loaded():
    """How many Embedders this process has built (one per model settings)."""
    return len(_EMBEDDERS)


def read_partition(source):
    """The light curves of a partition: a DataFrame or table path (anything
    `iter_light_curves` reads), or an object whose `load()` returns one (a
    HATS partition, `survey.hats`)."""
    from astromer.data.lightcurves import iter_light_curves

    if hasattr(source, "load"):
        source = source.load()
    return list(iter_light_curves(source))


def embed_partition(source, settings):
    """Embeddings (and features) of every light curve of one partition.

    Returns `(frame, report)`: a pandas DataFrame with `id` (str), `n_obs`,
    `n_windows`, `embedding` (float32 vectors) and, with
    `settings.features`, one float64 column per band and feature, in the
    rows of the embedded light curves (those cleaning or the model left
    out are counted in the report, not written); `embed=False`: `id` and
    the features of every light curve. `report` is JSON-able: `cleaning`
    (the `CleaningReport`), `features` (the `FeatureReport`), `light_curves`
    read, `rows` written, and the process's `pid`, `peak_rss_mb` and
    `models_loaded`.
    """
    import pandas as pd

    started = time.perf_counter()
    light_curves = read_partition(source)
    report = {"light_curves": len(light_curves)}
    features = None
    if settings.features and light_curves:
        # Before embedding: the reader cleans light curves as the model reads them.
        features = _features(light_curves, settings, report)
    if settings.embed:
        frame = _embeddings(light_curves, settings, report)
        if features is not None:
            frame = frame.join(features, on="id", how="left")
    else:
        frame = (features.reset_index() if features is not None
                 else pd.DataFrame({"id": pd.Series([], dtype=str)}))
    if settings.delay_s:
        time.sleep(settings.delay_s)
    report.update(rows=len(frame), pid=os.getpid(), peak_rss_mb=peak_rss_mb(), models_loaded=models_loaded(),
                  seconds=time.perf_counter() - started)
    return frame, report


def _embeddings(light_curves, settings, report):
    import pandas as pd

    embedder = cached_embedder(settings)
    rows = list(embedder.iter_embeddings(light_curves)) if light_curves else []
    report["cleaning"] = dataclasses.asdict(embedder.report)
    dim = embedder.backbone.hidden_dim
    vectors = np.stack([r[1] for r in rows]).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
    if vectors.ndim != 2:
        from astromer.errors import ConfigError

        raise ConfigError(f"A survey job writes one vector per light curve, not {vectors.shape[1:]} arrays: use "
                          "--layer last, mix, input or a block index.")
    if settings.statistics is not None:
        from astromer.core.standardize import standardizer

        vectors = standardizer(settings.statistics)(vectors).astype(np.float32)
    return pd.DataFrame({"id": [str(r[0]) for r in rows], "n_obs": np.array([r[2] for r in rows], np.int64),
                         "n_windows": np.array([r[3] for r in rows], np.int64), "embedding": list(vectors)})


def _features(light_curves, settings, report):
    from astromer.core.features import light_curve_features

    # One thread: a worker process is one core of the cluster.
    table, features_report = light_curve_features(
        light_curves, bands=None if settings.bands is None else list(settings.bands),
        max_baseline=settings.max_baseline, n_jobs=1, progress=False, strict_bands=settings.bands is None)
    table.index = table.index.astype(str)
    report["features"] = _json_ready(features_report.to_dict())
    return table


def peak_rss_mb():
    """This process's peak resident memory so far, MiB (`ru_maxrss` is KiB
    on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _json_ready(data):
    return {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
