"""`astromer-bench embed`: light curves/s through `astromer-embed`'s code
path, and the peak resident memory, which must not grow with the
catalogue (by default a simulated Parquet table)."""

import os
import tempfile
import time

from astromer.bench.environment import emit, environment, peak_rss_bytes


def run_embed(settings):
    """Embeds the table of the `EmbedBench` `settings` to a temporary
    Parquet file; prints and returns one row."""
    from astromer.core.embedder import Embedder
    from astromer.data.demo import simulate_table

    s = settings
    if s.compare_padding:
        from astromer.bench.padding import compare_padding

        return compare_padding(s)
    with tempfile.TemporaryDirectory() as workdir:
        source = s.data
        if source is None:
            source = os.path.join(workdir, "catalogue.parquet")
            simulate_table(source, s.light_curves, seed=0)
        options = dict(batch_size=s.batch, padding_free=False if s.padded else None)
        if s.weights:
            embedder = Embedder.from_weights(s.weights, preset=s.preset, **options)
        else:
            embedder = Embedder.from_preset(s.preset, **options)
        rss_before = peak_rss_bytes() / 2**20
        start = time.perf_counter()
        count = embedder.write_parquet(source, os.path.join(workdir, "embeddings.parquet"), progress=s.progress)
        elapsed = time.perf_counter() - start
        peak = peak_rss_bytes() / 2**20
    return emit({
        "bench": "embed",
        "preset": s.preset,
        "light_curves": count,
        "light_curves_per_s": round(count / elapsed, 1),
        "seconds": round(elapsed, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_before_embedding_mb": round(rss_before, 1),
        "batch": s.batch,
        "windows": embedder.describe_windows(),
        "source": s.data or f"simulated:{s.light_curves}",
        **environment(),
    })
