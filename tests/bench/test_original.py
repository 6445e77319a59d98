"""`astromer-bench original`: the original library's rows and our ratios to
them, with a stand-in for the other environment (the real one needs
TensorFlow 2.15 and NumPy < 2)."""

import json
import stat

import pytest

from astromer.bench import OriginalBench, run_original
from astromer.errors import BenchError
from tests.conftest import shared_path

STAND_IN = """#!/bin/sh
# Called as: python child.py LCS.npz WORKDIR BATCH REPEATS CHUNK (so $4 is the batch)
case $4 in
1) echo 'ROW {"batch": 1, "seconds": [2.0, 1.0, 3.0]}' ;;
256) echo 'ROW {"batch": 256, "seconds": [0.5, 0.25, 1.0]}' ;;
esac
"""
# At batch 1 it finishes two chunks of 4 light curves in 1.6 s, then hangs.
SLOW_STAND_IN = """#!/bin/sh
case $4 in
1) echo 'PART {"done": 4, "seconds": 0.7}'; echo 'PART {"done": 8, "seconds": 1.6}'; exec sleep 60 ;;
256) echo 'ROW {"batch": 256, "seconds": [0.5]}' ;;
esac
"""


def fake_python(tmp_path, text):
    path = tmp_path / "python"
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_rows_and_ratios(tmp_path, capsys):
    weights = shared_path("weights", "astromer1-macho")
    rows = run_original(OriginalBench(original_python=fake_python(tmp_path, STAND_IN), weights=str(weights),
                                      light_curves=[8], batches=[256, 8], repeats=2))
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert printed == rows
    theirs = [r for r in rows if r["tool"] == "ASTROMER 0.1.8 encode"]
    # Medians of the stand-in's times: 2.0 s and 0.5 s for 8 light curves.
    assert [(r["batch"], r["seconds_median"], r["light_curves_per_s"], r["light_curves_per_s_best"]) for r in theirs] \
        == [(1, 2.0, 4.0, 8.0), (256, 0.5, 16.0, 32.0)]
    ours = [r for r in rows if r["tool"].startswith("astromer-embed")]
    assert [r["batch"] for r in ours] == [256, 8] and all(r["light_curves"] == 8 for r in ours)
    for r in ours:
        speed = 8 / r["seconds_median"]
        assert r["ratio_to_original_default"] == pytest.approx(speed / 4.0, rel=0.02, abs=0.01)
        assert r["ratio_to_original_fastest"] == pytest.approx(speed / 16.0, rel=0.02, abs=0.01)
        assert r["tool"] == "astromer-embed (compat original)" and r["repeats"] == 2


def test_a_failing_original_environment_is_one_message(tmp_path):
    weights = shared_path("weights", "astromer1-macho")
    broken = fake_python(tmp_path, "#!/bin/sh\necho 'ModuleNotFoundError: No module named ASTROMER' >&2\nexit 1\n")
    with pytest.raises(BenchError, match="The original library failed in .* \\(exit 1\\): ModuleNotFoundError"):
        run_original(OriginalBench(original_python=broken, weights=str(weights), light_curves=[4], repeats=1))


def test_an_original_run_stopped_by_the_timeout_gives_its_rate_so_far(tmp_path):
    import time

    weights = shared_path("weights", "astromer1-macho")
    start = time.monotonic()
    rows = run_original(OriginalBench(original_python=fake_python(tmp_path, SLOW_STAND_IN), weights=str(weights),
                                      light_curves=[20], batches=[8], repeats=1, original_chunk=4, original_timeout=3))
    assert time.monotonic() - start < 50  # stopped, not waited for
    slow, fast, ours = rows
    assert (slow["batch"], slow["light_curves"], slow["of"], slow["complete"]) == (1, 8, 20, False)
    assert slow["seconds_median"] == 1.6 and slow["light_curves_per_s"] == 5.0 and slow["stopped_after_s"] == 3
    assert (fast["batch"], fast["light_curves"], fast["light_curves_per_s"]) == (256, 20, 40.0) and "of" not in fast
    assert ours["ratio_to_original_default"] == pytest.approx(20 / ours["seconds_median"] / 5.0, rel=0.02)
