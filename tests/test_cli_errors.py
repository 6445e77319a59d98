"""How console scripts end: one line and exit 2 for a user's error, a
traceback with a request to report it (exit 1) for a bug."""

import subprocess
import sys

import pytest

from astromer.cli.errors import console_script
from astromer.errors import AstromerError, DataError


@console_script("astromer-x")
def _main(argv=None):
    kind = argv[0]
    if kind == "data":
        raise DataError("Column 'mag' of t.csv has a value that is not a number: row 3, 'abc'.\nFix it.")
    if kind == "bug":
        raise IndexError("index -1 is out of bounds")
    if kind == "missing":
        open("/nonexistent/file.parquet")
    return 0


def test_user_error_is_one_line_and_exit_2(capsys):
    assert _main(["data"]) == 2
    err = capsys.readouterr().err
    assert err == "astromer-x: error: Column 'mag' of t.csv has a value that is not a number: row 3, 'abc'. Fix it.\n"
    assert _main(["missing"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_bug_shows_traceback_and_asks_for_a_report(capsys):
    assert _main(["bug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "IndexError: index -1 is out of bounds" in err
    assert "please report it" in err


def test_debug_shows_the_traceback_of_a_user_error(capsys):
    assert _main(["data", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("Fix it.")


def test_user_errors_are_value_errors():
    # Code that caught ValueError before keeps working.
    assert issubclass(DataError, ValueError) and issubclass(DataError, AstromerError)
    from astromer.training.settings import ConfigError

    assert issubclass(ConfigError, AstromerError)


@pytest.mark.parametrize("script", ["pipelines/make_records.py"])
def test_make_records_missing_table_is_one_line(script, tmp_path):
    result = subprocess.run([sys.executable, script, str(tmp_path / "nope.parquet"), str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"make_records.py: error: Light-curve table '{tmp_path / 'nope.parquet'}' does not exist."]
