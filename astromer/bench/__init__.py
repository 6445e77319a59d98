"""Throughput benchmarks behind `astromer-bench`, one workflow per subcommand
(`run_data`, `run_model`, `run_embed`, `run_hlo`, `run_original`; what each
measures: docs/performance.md).

Each takes its settings (`astromer.bench.settings`), prints one JSON row per
measurement as soon as it is made and returns the rows; `run(settings)`
picks the benchmark. TensorFlow, JAX and PyTorch are imported inside the
functions that use them.
"""

from astromer.bench.embed import run_embed
from astromer.bench.hlo import run_hlo
from astromer.bench.model import run_model
from astromer.bench.original import run_original
from astromer.bench.pipeline import run_data
from astromer.bench.settings import DataBench, EmbedBench, HloBench, ModelBench, OriginalBench, SurveyBench
from astromer.bench.survey import run_survey

RUNS = {DataBench: run_data, ModelBench: run_model, HloBench: run_hlo, EmbedBench: run_embed,
        OriginalBench: run_original, SurveyBench: run_survey}


def run(settings):
    """Runs the benchmark `settings` describe (a `DataBench`, `ModelBench`,
    `HloBench`, `EmbedBench` or `OriginalBench`); returns its rows."""
    return RUNS[type(settings)](settings)


__all__ = ["DataBench", "EmbedBench", "HloBench", "ModelBench", "OriginalBench", "SurveyBench", "run", "run_data",
           "run_embed", "run_hlo", "run_model", "run_original", "run_survey"]
