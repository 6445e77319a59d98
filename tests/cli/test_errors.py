"""How console scripts end: one line and exit 2 for a user's error, a
traceback with a request to report it (exit 1) for a bug."""

import pytest

from astromer.cli.errors import console_script
from astromer.errors import AstromerError, DataError
from tests.harness import ROOT, run_cli, run_process, script_main


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
    from astromer.errors import ConfigError

    assert issubclass(ConfigError, AstromerError)


def test_every_error_class_is_a_user_error_exiting_2(capsys):
    # One hierarchy: a benchmark that cannot run exits 2 like every other
    # user error (it exited 1 before).
    import astromer.errors as errors
    from astromer.cli.errors import report

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert {c.__name__ for c in classes} >= {"BenchError", "ConfigError", "WeightsError", "ExportCheckError"}
    for cls in classes:
        assert issubclass(cls, AstromerError) and report("astromer-x", cls("bad value: do this")) == 2, cls
        assert capsys.readouterr().err == "astromer-x: error: bad value: do this\n"



@pytest.mark.parametrize("script", ["pipelines/make_records.py"])
def test_make_records_missing_table_is_one_line(script, tmp_path):
    result = run_process(script, [tmp_path / "nope.parquet", tmp_path / "out"], cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"make_records.py: error: Light-curve table '{tmp_path / 'nope.parquet'}' does not exist."]


@pytest.mark.parametrize("content,message", [
    ("id,time,mag,err\na,1,15.0,0.1\na,2,abc,0.1\n",
     "Column 'mag' of '{path}' has 1 value(s) that are not numbers, first at row 2: 'abc'."),
    ("", "Light-curve table '{path}' is empty (no header, no rows)."),
    ("id,time,mag,err\n,1,15.0,0.1\na,2,15.1,0.1\n",
     "1 row(s) of '{path}' have no id (missing or empty), first at row 1"),
])
def test_bad_tables_at_every_command_are_one_line_and_exit_2(tiny_model, tmp_path, capsys, content, message):
    from astromer.cli.embed import main as embed
    from astromer.cli.features import main as features

    path = tmp_path / "t.csv"
    path.write_text(content)
    expected = message.format(path=path)
    for prog, run in (("astromer-embed", lambda: embed(["--weights", tiny_model, "--data", str(path),
                                                        "--out", str(tmp_path / "e.parquet")])),
                      ("astromer-features", lambda: features([str(path), "--out", str(tmp_path / "f.parquet"),
                                                              "--quiet"]))):
        assert run() == 2, prog
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and expected in lines[0], (prog, lines)
    # (test_make_records_missing_table_is_one_line runs the script itself)
    result = run_cli(script_main("pipelines/make_records.py"), [path, tmp_path / "rec"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("make_records.py: error: ") and expected in lines[0], lines


def test_a_new_run_does_not_replace_an_earlier_runs_checkpoints(tmp_path, capsys):
    from astromer.cli.train import main as train

    checkpoint = tmp_path / "run" / "checkpoints" / "epoch-00003"
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text("{}")
    assert train(["--preset", "a1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"astromer-train: error: {tmp_path / 'run'} holds the checkpoints of an earlier run: continue it "
                   "with --resume, or give another --out (or delete the folder to start again there)."]
    assert (checkpoint / "state.json").read_text() == "{}"  # untouched


def test_quiet_start_hides_only_tensorflows_retracing_warning(caplog):
    # One predict step traced per finetuned model is expected in the few-shot
    # workflows; any other TensorFlow warning still reaches the user.
    import logging

    from astromer.cli.startup import start_frameworks

    start_frameworks(verbose=False)
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING):
        logger.warning("5 out of the last 5 calls to <function f> triggered tf.function retracing. Tracing is ...")
        logger.warning("something else went wrong")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["something else went wrong"]
