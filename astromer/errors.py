"""The errors a user can fix: bad input, settings, weights or data.

Every console script prints these as one line on stderr and exits with 2
(`astromer.cli.errors.console_script`); anything else is a bug in astromer
and is shown with its traceback and a request to report it. They are
`ValueError`s, so code that caught `ValueError` before keeps working.
"""


class AstromerError(ValueError):
    """A problem with what the user gave (file, table, setting, weights);
    the message names it and says what to do."""


class DataError(AstromerError):
    """A light-curve table, record file or label file that cannot be used as
    it is (the message names the file, column, row or light curve)."""


class WeightsError(AstromerError):
    """Weights, a model file or a checkpoint that are missing or damaged
    (the message names the file and what is wrong with it)."""
