"""What a weights path given by a user names, found from the files alone
(no Keras, no TensorFlow), so that a wrong `--weights` is answered before
the frameworks start, with what to pass instead. Loading itself is
`astromer.core.loading`.

    resolve_weights_path("runs/a2")                        -> "runs/a2"         (run folder)
    resolve_weights_path("astromer1-macho/weights.index")  -> ".../weights"     (checkpoint prefix)
    resolve_weights_path("runs/a2/checkpoints")            -> WeightsError: pass the run folder 'runs/a2' ...
"""

import difflib
import os
import re

from astromer.errors import WeightsError

ACCEPTED = ("a run folder of astromer-train, a .keras model, an original checkpoint (its folder, or its prefix "
            "such as .../weights) or a .weights.h5 file with --preset")

# The names `astromer.training.checkpoints` writes (not imported: it imports Keras).
_CHECKPOINT_FOLDER = re.compile(r"^epoch-\d{5,}$")
_DATA_FILE = re.compile(r"\.data-\d+-of-\d+$")
_WEIGHT_FILES = (".keras", ".h5", ".hdf5")
# Files next to an original checkpoint or in a run folder that are not the weights themselves.
_COMPANIONS = ("checkpoint", "conf.json", "config.json", "config.yaml", "latest", "state.json", "summary.json",
               "history.csv")


def resolve_weights_path(path, preset=None):
    """The path to load for the weights a user named `path`: itself, the
    `model.keras` of a folder that holds one without being a run folder (a
    run's `checkpoints/epoch-NNNNN`), or the prefix of a TF checkpoint named
    by its `.index` or `.data-*` file. Raises `WeightsError` naming `path`
    and what to pass instead when it names no weights, or when a
    `.weights.h5` file comes without `preset`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _folder(path)
    if os.path.isfile(path):
        return _file(path, preset)
    # A TF checkpoint's prefix (.../weights) names no file: its index does.
    if os.path.isfile(path + ".index"):
        return path
    raise WeightsError(_missing(path))


def _folder(path):
    names = sorted(os.listdir(path))
    if "model.keras" in names:
        if "config.yaml" in names:
            return path
        # One checkpoint of a run (epoch-NNNNN), or a folder with a model:
        # the model file is what there is to load.
        return os.path.join(path, "model.keras")
    if "latest" in names or any(_CHECKPOINT_FOLDER.match(n) for n in names):
        raise WeightsError(_checkpoints_folder(path, names))
    if _original_checkpoint(names):
        return path  # its reader names a missing or damaged file
    hint = _candidates_in(path, names)
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") if names else "nothing"
    raise WeightsError(f"--weights {path!r} is a folder without weights (no model.keras, no TF checkpoint; it holds "
                       f"{shown}): {hint or 'pass ' + ACCEPTED + '.'}")


def _original_checkpoint(names):
    """Whether a folder holding `names` is (meant as) an original checkpoint."""
    return any(n in ("checkpoint", "conf.json", "config.json") or n.endswith(".index") or _DATA_FILE.search(n)
               for n in names)


def _checkpoints_folder(path, names):
    """The message for a run's `checkpoints` folder given as weights."""
    run = os.path.dirname(os.path.abspath(path))
    shown = os.path.dirname(path.rstrip(os.sep)) or "."
    epochs = [n for n in names if _CHECKPOINT_FOLDER.match(n)]
    example = os.path.join(path, epochs[-1], "model.keras") if epochs else None
    one = f"one epoch's model, e.g. {example!r}" if example else "one epoch's model.keras"
    if os.path.isfile(os.path.join(run, "model.keras")):
        return (f"--weights {path!r} is the checkpoints folder of a run ({', '.join(epochs) or 'no epoch yet'}), "
                f"not a model: pass the run folder {shown!r} (its final model.keras), or {one}.")
    return (f"--weights {path!r} is the checkpoints folder of a run that has no final model yet "
            f"({', '.join(epochs) or 'no epoch yet'}): pass {one}, or finish the run (astromer-train --resume "
            f"--out {shown}) and pass {shown!r}.")


def _candidates_in(path, names):
    """'pass X' for the weights inside a folder that is not weights itself."""
    found = [os.path.join(path, n) for n in names if n.endswith(".keras") or n.endswith(".weights.h5")]
    for name in names:
        inside = os.path.join(path, name)
        if os.path.isdir(inside) and not name.startswith("."):
            held = os.listdir(inside)
            if "model.keras" in held or _original_checkpoint(held):
                found.append(inside)
    if not found:
        return ""
    shown = ", ".join(repr(f) for f in found[:3]) + (" ..." if len(found) > 3 else "")
    return f"pass {'it' if len(found) == 1 else 'one of them'}: {shown}."


def _file(path, preset):
    name = os.path.basename(path)
    if name.endswith(".index"):
        return path[: -len(".index")]
    if _DATA_FILE.search(name):
        return path[: _DATA_FILE.search(path).start()]
    if name.endswith(".weights.h5") and preset is None:
        raise WeightsError(f"--weights {path!r} holds weights only, not the architecture: give the --preset they "
                           "belong to, or pass the run folder (or .keras model) they come from.")
    if name.endswith(_WEIGHT_FILES):
        return path
    folder = os.path.dirname(path) or "."
    if name in _COMPANIONS:
        return _companion(path, folder)
    kind = f"a {os.path.splitext(name)[1]} file" if os.path.splitext(name)[1] else "a file"
    raise WeightsError(f"--weights {path!r} is {kind}, not weights: pass {ACCEPTED}.")


def _companion(path, folder):
    """The message for a file that lives beside weights (conf.json, a run's
    config.yaml, the 'checkpoint' file): pass its folder."""
    try:
        target = _folder(folder)
    except WeightsError as error:
        raise WeightsError(f"--weights {path!r} is not weights, and its folder holds none: "
                           f"{str(error).split(': ', 1)[-1]}") from None
    shown = folder if os.path.isdir(target) else target
    raise WeightsError(f"--weights {path!r} is a file beside the weights, not the weights: pass {shown!r}.")


def _missing(path):
    return missing_path("--weights", path, f"check the path, or pass {ACCEPTED}")


def missing_path(option, path, fix):
    """'<option> <path> does not exist (did you mean <sibling>?): <fix>.'"""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        where = f" (there is no folder {folder!r})"
    else:
        close = difflib.get_close_matches(os.path.basename(path), os.listdir(folder), n=1, cutoff=0.6)
        where = f" (did you mean {os.path.join(os.path.dirname(path), close[0])!r}?)" if close else ""
    return f"{option} {path!r} does not exist{where}: {fix}."
