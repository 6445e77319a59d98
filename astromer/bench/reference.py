"""`astromer-bench model --reference SCRIPT`: the PyTorch reference timed in
the same session, so that its windows/s and ours come from one machine
state and their ratio means something.
"""

import json
import subprocess
import sys

from astromer.errors import BenchError


def run_reference(script, mode, steps, batches):
    """Runs the reference script with this run's mode, batches and steps;
    returns {batch: its JSON row}.

    In a subprocess, before our model touches the device, so the two never
    hold device memory at the same time.
    """
    command = [sys.executable, script, "--mode", mode, "--steps", str(steps), "--batch", *map(str, batches)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"The reference {script} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    rows = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[int(row["batch"])] = row
    missing = [b for b in batches if b not in rows]
    if missing:
        raise BenchError(f"The reference {script} printed no result for batch {missing}.")
    return rows
