"""The errors a user can fix, in one hierarchy: every console script prints
an `AstromerError` as one line on stderr and exits with 2
(`astromer.cli.errors.console_script`); anything else is a bug, shown with
its traceback and a request to report it (exit 1). They are `ValueError`s,
so code that caught `ValueError` before keeps working.

    AstromerError            a file, table, setting or run the user can fix
      ConfigError            a preset, setting, option or data path
        WeightsError         weights, a model file or a checkpoint missing or damaged
          MissingWeightsFile   ... one of their files is not there
      DataError              a light-curve table, record or label file
        TooFewLightCurves    fewer light curves than the batches or workers need
      ExportCheckError       an exported model that differs from the Keras one
      BenchError             a benchmark that cannot run
      WorkerLost             a distributed run whose peer stopped answering

Each class is one a caller catches by name; the message names the bad
value and says what to do.
"""


class AstromerError(ValueError):
    """A problem with what the user gave (file, table, setting, weights)."""


class ConfigError(AstromerError):
    """A bad preset, setting, option or data path, found before any work starts."""


class WeightsError(ConfigError):
    """Weights, a model file or a checkpoint that are missing or damaged.

    A `ConfigError`, since the weights are what a `--weights` setting names:
    `astromer.load_model` and the training loaders raised `ConfigError` for
    them before (tests/core/test_damaged_weights.py checks it)."""


class MissingWeightsFile(WeightsError, FileNotFoundError):
    """A file of the weights that is not there. Also the `FileNotFoundError`
    `Pretrainer.from_original_checkpoint` raised before: code (and
    tests/models/test_convert.py) catch it as that."""


class DataError(AstromerError):
    """A light-curve table, record file or label file that cannot be used as
    it is (the message names the file, column, row or light curve)."""


class TooFewLightCurves(DataError):
    """Fewer light curves than one batch, or than the workers sharing them:
    a setting to change, not a bug (training names the flags to change)."""


class ExportCheckError(AstromerError):
    """An exported file whose outputs differ from the Keras model's by more
    than the limits (`astromer.export.checks.LIMITS`)."""


class BenchError(AstromerError):
    """A benchmark that cannot run (a reference script that fails, no CUDA
    plugin to compile for a GPU)."""


class WorkerLost(AstromerError):
    """Another worker (or process) of a distributed run stopped answering:
    this one stops too (`astromer-train` exits with EX_TEMPFAIL, 75, which a
    scheduler's retry can key on); the run resumes from its last checkpoint."""
