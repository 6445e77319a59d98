"""The settings of each `astromer-bench` subcommand, as data: one dataclass
per benchmark, whose fields are the subcommand's options and whose
defaults are the command's. `astromer.bench.run(settings)` runs the
benchmark a settings object describes."""

from dataclasses import dataclass

PRECISIONS = ("bf16", "fp32")
MODES = ("train", "embed")
ATTENTIONS = ("auto", "explicit", "fused", "lengths")


@dataclass(frozen=True)
class DataBench:
    """`astromer-bench data`: windows/s of the input pipelines (`paths`: "tf",
    "numpy") for each thread count (0: all cores); without `data` (a TFRecord
    folder or a table) a simulated survey of `light_curves`."""

    data: str | None = None
    light_curves: int = 3000
    batch: int = 256
    window: int = 200
    steps: int = 100
    warmup: int = 5
    threads: tuple = (1, 0)
    paths: tuple = ("tf", "numpy")


@dataclass(frozen=True)
class ModelBench:
    """`astromer-bench model`: training or embedding windows/s of the model
    alone, one row per batch size. `overrides`: `--set` assignments of the
    preset; `reference`: a script run first with the same mode, batches and
    steps; `profile`: a folder for JAX traces of `profile_steps` more steps."""

    preset: str = "a2"
    batches: tuple = (1024, 2500)
    precision: str = "bf16"
    mode: str = "train"
    attention: str = "auto"
    steps: int = 30
    warmup: int = 3
    sync: str = "step"
    jit: bool = True
    torch_compile_mode: str | None = None
    prng: str | None = None
    reference: str | None = None
    profile: str | None = None
    profile_steps: int = 5
    overrides: tuple = ()

    def check(self, backend):
        """Raises `ConfigError` for an option the Keras `backend` cannot run."""
        from astromer.errors import ConfigError

        if self.profile and backend != "jax":
            raise ConfigError(f"--profile needs KERAS_BACKEND=jax (this is {backend}).")
        if self.sync == "end" and backend not in ("jax", "torch"):
            raise ConfigError(f"--sync end needs KERAS_BACKEND=jax or torch (this is {backend}); use --sync step.")
        if self.profile and self.profile_steps < 1:
            raise ConfigError(f"--profile-steps must be at least 1, got {self.profile_steps}.")


@dataclass(frozen=True)
class HloBench:
    """`astromer-bench hlo`: the roofline estimate of one step compiled for an
    H100 without one (JAX); `top` kernel kinds and layers listed, `dump` a
    file for the optimized HLO text."""

    preset: str = "a2"
    batch: int = 2048
    precision: str = "bf16"
    mode: str = "train"
    attention: str = "auto"
    top: int = 12
    dump: str | None = None
    overrides: tuple = ()


@dataclass(frozen=True)
class EmbedBench:
    """`astromer-bench embed`: light curves/s and peak memory of
    `astromer-embed`'s code path on `data` (default: `light_curves`
    simulated ones) with `weights` (default: the preset's random weights);
    `padded`: full windows even where padding-free inference is valid.

    `compare_padding`: instead, padded against padding-free inference on
    `light_curves` simulated light curves per length distribution of
    `lengths` ("eros", "crts": sampled from the survey's real lengths under
    `shared`, default $ASTROMER_SHARED or ../shared, else a stated synthetic
    distribution), one row each (`astromer.bench.padding`)."""

    data: str | None = None
    light_curves: int = 20000
    preset: str = "a1"
    weights: str | None = None
    batch: int = 256
    progress: bool = False
    padded: bool = False
    compare_padding: bool = False
    lengths: tuple = ("eros", "crts")
    shared: str | None = None


@dataclass(frozen=True)
class SurveyBench:
    """`astromer-bench survey`: `light_curves` simulated light curves in
    `files` Parquet files through `astromer-embed --workers workers` and
    through one `astromer-embed` process (`astromer.bench.survey`)."""

    light_curves: int = 100_000
    files: int = 20
    workers: int = 2
    preset: str = "a2"
    weights: str | None = None
    batch: int = 256


@dataclass(frozen=True)
class OriginalBench:
    """`astromer-bench original`: embedding speed against the original library
    run by `original_python` (`astromer.bench.original`), on `light_curves`
    simulated light curves per size, at its `original_batches` and our
    `batches`, each measurement `repeats` times. `original_timeout` (seconds
    per batch size) with `original_chunk` light curves per call stops an
    original run that would take too long and reports its rate so far."""

    original_python: str
    weights: str
    light_curves: tuple = (24, 240)
    original_batches: tuple = (1, 256)
    batches: tuple = (256, 8)
    repeats: int = 3
    original_chunk: int = 0
    original_timeout: float | None = None
