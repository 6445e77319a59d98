"""`astromer-bench embed --compare-padding`: light curves/s of padded
(full windows) against padding-free inference (windows cut to
length buckets, `astromer.core.buckets`) through `astromer-embed`'s code
path, on survey-like length distributions, in one run on one machine.

The light curves are simulated (sinusoids with noise); only their numbers
of observations follow a survey: sampled from the real light curves' lengths
where ../shared has them (the lengths are read, nothing else), otherwise
from the synthetic distribution stated in the row.
"""

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from astromer.bench.environment import emit, environment, peak_rss_bytes

# Where each survey's lengths come from (one band: single-band models read
# one), and the stand-in without ../shared: EROS-1 (RAMP kit) has 11-125
# observations per band, median 120, quartiles 117 and 123; CRTS (MANTRA)
# median 83, quartiles 36 and 224, 28% above 200 (several windows).
SURVEYS = {
    "eros": ("data/eros1_lmc/lightcurves.parquet", "EROS_R",
             "synthetic: round(normal(120, 4)) clipped to [11, 125]"),
    "crts": ("data/crts_mantra/lightcurves.parquet", "CSS_V",
             "synthetic: round(lognormal(ln 83, 1.36)) clipped to [5, 540]"),
}


def shared_folder(shared=None):
    """`shared`, $ASTROMER_SHARED, or ../shared beside this checkout."""
    return Path(shared or os.environ.get("ASTROMER_SHARED") or Path(__file__).resolve().parents[3] / "shared")


def survey_lengths(name, count, shared=None, seed=0):
    """`(lengths, source)`: `count` numbers of observations drawn from
    survey `name`'s light curves (with replacement), or from its synthetic
    stand-in; `source` says which."""
    from astromer.errors import ConfigError

    if name not in SURVEYS:
        raise ConfigError(f"Unknown length distribution {name!r}; use one of {sorted(SURVEYS)}.")
    relative, band, synthetic = SURVEYS[name]
    rng = np.random.default_rng(seed)
    path = shared_folder(shared) / relative
    if path.exists():
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["id", "band"], filters=[("band", "==", band)])
        real = np.asarray(pc.value_counts(table["id"]).field("counts"))
        return rng.choice(real, size=count), f"{path} ({band}, {len(real)} light curves)"
    if name == "eros":
        lengths = np.clip(np.round(rng.normal(120, 4, count)), 11, 125)
    else:
        lengths = np.clip(np.round(rng.lognormal(np.log(83), 1.36, count)), 5, 540)
    return lengths.astype(np.int64), synthetic


def write_table(path, lengths, seed=0):
    """A Parquet table (id, time, mag, err) of light curves of `lengths`
    observations: irregular times, a sinusoid and noise."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    time = np.cumsum(rng.exponential(3.0, owner.size))
    time -= np.repeat(time[first], lengths) - 50_000.0
    period = np.exp(rng.uniform(np.log(0.3), np.log(300), len(lengths)))[owner]
    err = rng.uniform(0.01, 0.2, owner.size)
    mag = 17 + rng.uniform(0, 1, len(lengths))[owner] * np.sin(2 * np.pi * time / period) + rng.normal(0, err)
    pd.DataFrame({"id": [f"lc{i:08d}" for i in owner], "time": time, "mag": mag, "err": err}).to_parquet(path)


def timed(embedder, source, out):
    """Seconds of `write_parquet` (`astromer-embed`'s path) and the vectors."""
    import pandas as pd

    start = time.perf_counter()
    embedder.write_parquet(source, out, progress=False)
    seconds = time.perf_counter() - start
    return seconds, np.stack(pd.read_parquet(out)["embedding"])


def compare_padding(settings):
    """One row per length distribution of `settings.lengths`: both modes
    embed the same table twice with one backbone; the first passes compile
    every batch shape (their rates are in the row too), the second ones are
    timed."""
    from astromer.core.buckets import bucket_length
    from astromer.core.embedder import Embedder
    from astromer.presets import build_backbone

    s = settings
    if s.weights:
        from astromer.core.loading import load_backbone

        backbone = load_backbone(s.weights, s.preset)
    else:
        backbone = build_backbone(s.preset)
    size = backbone.window_size
    modes = {"padded": Embedder(backbone, batch_size=s.batch, padding_free=False),
             "padding_free": Embedder(backbone, batch_size=s.batch, padding_free=True)}
    rows = []
    for name in s.lengths:
        lengths, source = survey_lengths(name, s.light_curves, s.shared)
        windows = [min(size, n - start) for n in lengths for start in range(0, max(int(n), 1), size)]
        row = {"bench": "embed_padding", "preset": s.preset, "lengths": name, "length_source": source,
               "light_curves": int(len(lengths)), "median_obs": float(np.median(lengths)), "windows": len(windows),
               "real_step_share": round(sum(windows) / (size * len(windows)), 3),
               "bucket_step_share": round(sum(bucket_length(n, size) for n in windows) / (size * len(windows)), 3),
               "batch": s.batch, "load_1min_before": round(os.getloadavg()[0], 2)}
        vectors = {}
        with tempfile.TemporaryDirectory() as workdir:
            table = os.path.join(workdir, "catalogue.parquet")
            write_table(table, lengths)
            out = os.path.join(workdir, "embeddings.parquet")
            for mode, embedder in modes.items():
                first, _ = timed(embedder, table, out)
                row[f"{mode}_first_pass_light_curves_per_s"] = round(len(lengths) / first, 1)
            # The timed passes next to each other: a shared machine's load
            # changes less between them.
            for mode, embedder in modes.items():
                seconds, vectors[mode] = timed(embedder, table, out)
                row[f"{mode}_light_curves_per_s"] = round(len(lengths) / seconds, 1)
                row[f"{mode}_seconds"] = round(seconds, 1)
        row["ratio"] = round(row["padding_free_light_curves_per_s"] / row["padded_light_curves_per_s"], 2)
        row["max_abs_difference"] = float(np.abs(vectors["padding_free"] - vectors["padded"]).max())
        row["load_1min_after"] = round(os.getloadavg()[0], 2)
        row["peak_rss_mb"] = round(peak_rss_bytes() / 2**20, 1)
        rows.append(emit({**row, **environment()}))
    return rows
