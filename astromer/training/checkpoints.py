"""A run's checkpoints: written after every epoch so that a killed run can
resume, and found again (and checked) by `--resume` (the format and every
check: docs/robustness.md, "Resuming a killed run").

    checkpoints/latest                    name of the newest complete checkpoint
    checkpoints/epoch-NNNNN/model.keras   the model with its optimizer after epoch NNNNN (from 1)
    checkpoints/epoch-NNNNN/state.json    epoch, best val_loss, early stopping, dropout streams, history rows
    best.weights.h5                       weights of the best val_loss so far (its epoch: attribute `astromer_epoch`)

The writing and the checks `--resume` makes are kept together, so that a
change to what is written cannot miss what is checked.
"""

import contextlib
import json
import os
import re
import shutil
import zipfile

import keras
import numpy as np

from astromer.errors import WeightsError

CHECKPOINT_NAME = re.compile(r"^epoch-(\d{5,})$")
BEST_FILE = "best.weights.h5"
BEST_EPOCH_ATTRIBUTE = "astromer_epoch"
STATE_KEYS = ("epoch", "best", "best_epoch", "early_stopping_wait", "seed_states", "history")


def seed_states(model):
    """The dropout generators' state variables: saved and restored so that a
    resumed run draws the same dropout masks as an uninterrupted one."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def restore_seed_states(model, state):
    variables, values = seed_states(model), state["seed_states"]
    if len(variables) != len(values):
        raise ValueError(f"state.json has {len(values)} dropout generator states, the model {len(variables)}")
    for variable, value in zip(variables, values):
        variable.assign(np.asarray(value, dtype=variable.dtype).reshape(variable.shape))


def _fsync(path):
    """Flushes a file (or a folder's entries) to disk: a rename must not
    publish a file whose bytes are still only in memory (power loss)."""
    with contextlib.suppress(OSError):  # folders cannot be fsynced on some systems
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomically(path, value):
    write_text_atomically(path, json.dumps(value, indent=2))


def write_text_atomically(path, text):
    """`text` in `path` through a renamed temporary file: a kill leaves the
    old file or the new one, never a part."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(os.path.dirname(path) or ".")


def checkpoint_number(name):
    """The epoch of a checkpoint folder name (`epoch-00012` -> 12), or None."""
    match = CHECKPOINT_NAME.match(name)
    return int(match.group(1)) if match else None


def checkpoint_name(number):
    return f"epoch-{int(number):05d}"


def save_best_weights(model, run_dir, epoch):
    """`best.weights.h5` from `model`, marked with its epoch, atomically."""
    import h5py

    tmp = os.path.join(run_dir, "best.tmp.weights.h5")
    model.save_weights(tmp)
    with h5py.File(tmp, "a") as f:
        f.attrs[BEST_EPOCH_ATTRIBUTE] = int(epoch)
    _fsync(tmp)
    os.replace(tmp, os.path.join(run_dir, BEST_FILE))


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state after every epoch, atomically: the
    checkpoint folder under a temporary name, renamed; then
    `checkpoints/latest`; then the best weights. The early-stopping callback
    must come before this one, so that its counter includes the epoch.

    `history`: the rows of the epochs before the first one this callback
    sees; `resumed_from`: the checkpoint folder resumed from, kept as the
    previous one until the next is written; `resumed_after`: the epochs
    after which the run was resumed (for the plot).
    """

    def __init__(self, run_dir, monitor="val_loss", early_stopping=None, best=np.inf, best_epoch=-1,
                 history=(), resumed_from=None, resumed_after=()):
        super().__init__()
        self.run_dir = run_dir
        self.directory = os.path.join(run_dir, "checkpoints")
        self.monitor = monitor
        self.early_stopping = early_stopping
        self.best = float(best)
        self.best_epoch = int(best_epoch)
        self.history = [dict(row) for row in history]
        self.previous = resumed_from
        self.resumed_after = [int(e) for e in resumed_after]
        os.makedirs(self.directory, exist_ok=True)

    def on_train_begin(self, logs=None):
        # Leftovers of a run killed while it wrote a checkpoint.
        for name in os.listdir(self.directory):
            if name.startswith(".epoch-") and name.endswith(".tmp"):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.run_dir, "best.tmp.weights.h5"))

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        value = logs.get(self.monitor)
        # Epochs are numbered for people, from 1 (Keras counts from 0): the
        # folder, state.json, history.csv, summary.json and the plot agree.
        number = int(epoch) + 1
        improved = value is not None and value < self.best
        if improved:
            self.best, self.best_epoch = float(value), number
        self.history = [row for row in self.history if row["epoch"] < number] + [{"epoch": number, **logs}]
        early = self.early_stopping
        state = {
            "epoch": number,
            "epoch_numbering": "1-based",
            "logs": logs,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "early_stopping_wait": int(getattr(early, "wait", 0)),
            "early_stopping_best": _float_or_none(getattr(early, "best", None)),
            "stopped_early": bool(getattr(self.model, "stop_training", False)),
            "seed_states": [np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in seed_states(self.model)],
            "history": self.history,
            "resumed_after": self.resumed_after,
        }
        name = checkpoint_name(number)
        self._write(name, state)
        if improved:
            save_best_weights(self.model, self.run_dir, number)
        self._prune(keep={name, self.previous})
        self.previous = name

    def _write(self, name, state):
        tmp_dir = os.path.join(self.directory, f".{name}.tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(tmp_dir)
        model_path = os.path.join(tmp_dir, "model.keras")
        self.model.save(model_path)
        _fsync(model_path)
        write_json_atomically(os.path.join(tmp_dir, "state.json"), state)
        final = os.path.join(self.directory, name)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp_dir, final)
        _fsync(self.directory)
        write_text_atomically(os.path.join(self.directory, "latest"), name)

    def _prune(self, keep):
        for old in os.listdir(self.directory):
            if checkpoint_number(old) is not None and old not in keep:
                shutil.rmtree(os.path.join(self.directory, old), ignore_errors=True)


def _float_or_none(value):
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


class UnusableCheckpoint(Exception):
    """Why a checkpoint folder cannot be resumed from. An internal signal,
    not a user error: `resume_checkpoint` catches every one, reports it in
    one line and tries the next folder, and raises `WeightsError` (what the
    user sees) only when none is usable."""


def _read_state(folder):
    """The checked, 1-based `state.json` of a checkpoint folder."""
    path = os.path.join(folder, "state.json")
    if not os.path.isfile(path):
        raise UnusableCheckpoint("it has no state.json")
    try:
        with open(path) as f:
            state = json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise UnusableCheckpoint(f"state.json is damaged or truncated ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise UnusableCheckpoint(f"state.json cannot be read ({error})") from None
    if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
        missing = [key for key in STATE_KEYS if not isinstance(state, dict) or key not in state]
        raise UnusableCheckpoint(f"state.json lacks {', '.join(missing)}")
    if state.get("epoch_numbering") != "1-based":
        raise UnusableCheckpoint("state.json numbers epochs from 0 (an earlier astromer's checkpoint), which "
                                 "--resume does not read")
    try:
        number = checkpoint_number(os.path.basename(os.path.normpath(folder)))
        if number is not None and int(state["epoch"]) != number:
            raise UnusableCheckpoint(f"state.json is of epoch {state['epoch']}, not {number}")
        if not (isinstance(state["history"], list) and all(isinstance(row, dict) and "epoch" in row
                                                            for row in state["history"])):
            raise UnusableCheckpoint("state.json has a malformed history")
        float(state["best"]), int(state["best_epoch"]), int(state["early_stopping_wait"])
    except (TypeError, ValueError, KeyError) as error:
        raise UnusableCheckpoint(f"state.json has a malformed value ({type(error).__name__}: {error})") from None
    return state


def _check_model_file(folder):
    """Raises `UnusableCheckpoint` unless `model.keras` is a whole zip archive."""
    path = os.path.join(folder, "model.keras")
    if not os.path.isfile(path):
        raise UnusableCheckpoint("it has no model.keras")
    size = os.path.getsize(path)
    if not zipfile.is_zipfile(path):
        raise UnusableCheckpoint(f"model.keras is truncated or damaged (not a readable zip archive, {size:,} bytes)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise UnusableCheckpoint(f"model.keras is damaged ({type(error).__name__}: {error})") from None
    if bad is not None:
        raise UnusableCheckpoint(f"model.keras is damaged ({bad} in it fails its checksum)")
    return path


def _candidates(directory):
    """`(names, problems)`: the folder `latest` names, then the other
    checkpoint folders, newest first; and what is wrong with `latest`."""
    names = sorted((n for n in os.listdir(directory) if checkpoint_number(n) is not None
                    and os.path.isdir(os.path.join(directory, n))), key=checkpoint_number, reverse=True)
    pointer = os.path.join(directory, "latest")
    problems, named = [], None
    if os.path.exists(pointer):
        try:
            with open(pointer) as f:
                named = f.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            problems.append((pointer, f"it cannot be read ({error})"))
        if named is not None and checkpoint_number(named) is None:
            problems.append((pointer, f"it names {named[:40]!r}, not a checkpoint folder"))
            named = None
    order = ([named] if named else []) + [n for n in names if n != named]
    return order, problems


def _search(run_dir, load=None):
    """`(found, skipped)`: the newest usable checkpoint of a run as `(folder,
    state, model)` (model None without `load`), or None; and `[(path, why)]`
    of those skipped before it (and of `latest` itself)."""
    directory = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(directory):
        return None, []
    order, skipped = _candidates(directory)
    for name in order:
        folder = os.path.join(directory, name)
        try:
            if not os.path.isdir(folder):
                raise UnusableCheckpoint("the folder is missing (checkpoints/latest names it)")
            state = _read_state(folder)
            path = _check_model_file(folder)
            model = None
            if load is not None:
                try:
                    model = load(path)
                    restore_seed_states(model, state)
                except Exception as error:  # noqa: BLE001 - any reason a model does not load
                    raise UnusableCheckpoint(f"model.keras does not load ({type(error).__name__}: "
                                             f"{' '.join(str(error).split())[:300]})") from None
        except UnusableCheckpoint as why:
            skipped.append((folder, str(why)))
            continue
        return (folder, state, model), skipped
    return None, skipped


def resume_checkpoint(run_dir, load=None, report=print):
    """`(folder, state, model)` of the newest usable checkpoint of a run (the
    model loaded with its optimizer and dropout streams), each one skipped
    reported in one line; None when the run has no checkpoint at all;
    `WeightsError` naming them all when none is usable."""
    if load is None:
        from astromer.saving import load_keras as load
    found, skipped = _search(run_dir, load)
    if found is None and skipped:
        raise WeightsError(
            f"Cannot resume {run_dir}: no usable checkpoint ({'; '.join(f'{p}: {why}' for p, why in skipped)}). "
            f"Start the run again without --resume (it starts from epoch 1 and replaces the checkpoints in "
            f"{run_dir}), or start a new run with another --out.")
    for path, why in skipped:
        report(f"warning: skipped checkpoint {path}: {why}; resuming from {os.path.basename(found[0])} instead")
    return found


def latest_checkpoint(run_dir):
    """`(folder, state)` of the newest complete checkpoint of a run (its
    state.json readable, its model.keras a whole zip archive), or None.
    Does not load the model: see `resume_checkpoint`."""
    found = _search(run_dir)[0]
    return found[:2] if found else None


def best_weights_problem(path, best_epoch):
    """Why `best.weights.h5` does not hold the weights of `best_epoch`
    (missing, truncated, damaged, of another epoch), or None."""
    import h5py

    if not os.path.exists(path):
        return "is missing"
    size = os.path.getsize(path)
    try:
        with h5py.File(path, "r") as f:
            def read(name, item):
                if isinstance(item, h5py.Dataset):
                    item[()]  # every byte of every array: a truncated file fails here

            f.visititems(read)
            epoch = f.attrs.get(BEST_EPOCH_ATTRIBUTE)
    except Exception as error:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError...
        return (f"is truncated or damaged ({size:,} bytes; {type(error).__name__}: "
                f"{' '.join(str(error).split())[:200]})")
    if epoch is not None and int(epoch) != int(best_epoch):
        return f"holds the weights of epoch {int(epoch)}, not of the best epoch {int(best_epoch)}"
    return None


def check_best_weights(run_dir, state, model, monitor="val_loss", report=print):
    """Makes `best.weights.h5` agree with the checkpoint resumed from: when
    it is missing, damaged or of another epoch, written again from `model`
    if the checkpoint's epoch is the best, else best-weights tracking
    restarts at that epoch; reported in one line. Returns the state."""
    best_epoch, epoch = int(state["best_epoch"]), int(state["epoch"])
    path = os.path.join(run_dir, BEST_FILE)
    if best_epoch < 1:
        return state
    problem = best_weights_problem(path, best_epoch)
    if problem is None:
        return state
    if best_epoch == epoch:
        # Also what a kill between the checkpoint and the best weights leaves:
        # nothing is lost then, hence a note.
        save_best_weights(model, run_dir, epoch)
        kind = "note" if problem.startswith("holds") else "warning"
        report(f"{kind}: {path} {problem}: best weights re-taken from the resumed checkpoint "
               f"({checkpoint_name(epoch)}, the best epoch)")
        return state
    value = state.get("logs", {}).get(monitor)
    if value is None:
        if os.path.exists(path):
            os.remove(path)
        report(f"warning: {path} {problem}: the weights of the best epoch {best_epoch} are lost; "
               f"best-weights tracking restarts after epoch {epoch}")
        return {**state, "best": float("inf"), "best_epoch": -1}
    save_best_weights(model, run_dir, epoch)
    report(f"warning: {path} {problem}: the weights of the best epoch {best_epoch} ({monitor} "
           f"{float(state['best']):.5f}) are lost; best-weights tracking restarts from the resumed epoch {epoch} "
           f"({monitor} {float(value):.5f}), so the final model is the best of epochs {epoch} onwards")
    return {**state, "best": float(value), "best_epoch": epoch}


def seed_scratch(out_dir, scratch):
    """A worker other than the chief resuming (it writes to `scratch`): the
    best weights the chief saved, so that its best-epoch bookkeeping agrees
    with the chief's."""
    best = os.path.join(out_dir, BEST_FILE)
    if os.path.exists(best):
        shutil.copyfile(best, os.path.join(scratch, BEST_FILE))


def clear_checkpoints(run_dir, report=print):
    """Removes the checkpoints and best weights an earlier run left in
    `run_dir`, so that a new run there can never be resumed from them."""
    directory = os.path.join(run_dir, "checkpoints")
    stale = os.path.isdir(directory) and any(
        checkpoint_number(n) is not None or n.startswith(("latest", ".epoch-")) for n in os.listdir(directory))
    if stale:
        report(f"{run_dir} holds the checkpoints of an earlier run: removed (this run starts at epoch 1)")
        shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(run_dir, BEST_FILE))
