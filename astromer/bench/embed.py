"""`astromer-bench embed`: light curves/s through `astromer-embed`'s code
path, and the peak resident memory, which must not grow with the
catalogue (by default a simulated Parquet table)."""

import os
import tempfile
import time

from astromer.bench.environment import emit, environment, peak_rss_bytes


def run_embed(*, data=None, light_curves=20000, preset="a1", weights=None, batch=256, progress=False):
    """Embeds `data` (a Parquet/CSV table; default: `light_curves` simulated
    ones) with `weights` (default: the preset's random initialisation) to a
    temporary Parquet file; prints and returns one row."""
    from astromer.data.demo import simulate_table
    from astromer.embedding import Embedder

    with tempfile.TemporaryDirectory() as workdir:
        source = data
        if source is None:
            source = os.path.join(workdir, "catalogue.parquet")
            simulate_table(source, light_curves, seed=0)
        if weights:
            embedder = Embedder.from_weights(weights, preset=preset, batch_size=batch)
        else:
            embedder = Embedder.from_preset(preset, batch_size=batch)
        rss_before = peak_rss_bytes() / 2**20
        start = time.perf_counter()
        count = embedder.write_parquet(source, os.path.join(workdir, "embeddings.parquet"), progress=progress)
        elapsed = time.perf_counter() - start
        peak = peak_rss_bytes() / 2**20
    return emit({
        "bench": "embed",
        "preset": preset,
        "light_curves": count,
        "light_curves_per_s": round(count / elapsed, 1),
        "seconds": round(elapsed, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_before_embedding_mb": round(rss_before, 1),
        "batch": batch,
        "source": data or f"simulated:{light_curves}",
        **environment(),
    })
