"""Walk of a command through the package, measured: which astromer modules
run, and the call sites that cross between astromer.training and the data
side (astromer.data, astromer.preprocessing).

Usage: python tools/trace_walk.py train|embed ARGS...   (ARGS as the command's)

It runs the command's `main(argv)` in this process under cProfile (C-level,
so TensorFlow's own Python costs little extra) and reads the profile: every
function defined in astromer/ that ran, and for each its callers. Printed:
the modules whose code ran, their number, and the crossings: distinct
(caller function -> callee function) pairs with one side in astromer.training
and the other in astromer.data or astromer.preprocessing. docs/architecture.md quotes these numbers;
they count code paths taken, not calls (a loop over batches counts once).
Only the main thread is profiled.
"""

import cProfile
import importlib
import pstats
import sys
from pathlib import Path


def module_of(filename, root):
    try:
        parts = list(Path(filename).resolve().relative_to(root).with_suffix("").parts)
    except ValueError:
        return None
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["astromer", *parts])


# The data side of a crossing: reading light curves and turning them into
# model inputs (astromer.preprocessing holds the second since issue 39).
SIDES = {"astromer.training": "training", "astromer.data": "data", "astromer.preprocessing": "data"}


def package_of(module):
    return next((side for p, side in SIDES.items() if module == p or module.startswith(p + ".")), None)


def main():
    command, argv = sys.argv[1], sys.argv[2:]
    cli = importlib.import_module(f"astromer.cli.{command}")
    root = Path(cli.__file__).resolve().parents[1]
    profiler = cProfile.Profile()
    try:
        code = profiler.runcall(cli.main, argv)
    except SystemExit as stop:
        code = stop.code
    stats = pstats.Stats(profiler).stats
    modules, crossings = set(), set()
    for (filename, _, name), (_, _, _, _, callers) in stats.items():
        callee = module_of(filename, root)
        if callee is None:
            continue
        modules.add(callee)
        for caller_filename, _, caller_name in callers:
            caller = module_of(caller_filename, root)
            a, b = package_of(caller or ""), package_of(callee)
            if a and b and a != b:
                crossings.add((f"{caller}.{caller_name}", f"{callee}.{name}"))
    print(f"exit code {code}")
    print(f"{len(modules)} modules ran:")
    for m in sorted(modules):
        print("  ", m)
    print(f"{len(crossings)} training <-> data crossings (distinct call sites):")
    for a, b in sorted(crossings):
        print("  ", a, "->", b)


if __name__ == "__main__":
    main()
