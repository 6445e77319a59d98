"""Reading saved files: `.keras` models (every class the package defines
registered with Keras first, so a file loads in a fresh process on any
backend) and HDF5 weight files, a damaged one named with what is wrong."""

import functools
import importlib
import os
import re

# A module registers classes when a line of it starts with this decorator.
_REGISTERS = re.compile(r"^\s*@(keras\.saving\.)?register_keras_serializable\b", re.M)


@functools.cache
def registering_modules():
    """The modules that register classes with Keras (layers, models, losses,
    metrics, schedules), found from the source files: a class added anywhere
    is registered without a list kept by hand."""
    root = os.path.dirname(os.path.abspath(__file__))
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "__")))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                if not _REGISTERS.search(f.read()):
                    continue
            parts = os.path.relpath(os.path.join(folder, name[:-3]), root).split(os.sep)
            found.append(".".join(["astromer"] + [p for p in parts if p != "__init__"]))
    return tuple(found)


def register_classes():
    """Imports the modules that register astromer's classes (idempotent)."""
    for name in registering_modules():
        importlib.import_module(name)


def load_keras(path, **kwargs):
    """`keras.saving.load_model(path)` with astromer's classes registered.

    A file that exists but cannot be read (empty, truncated, damaged, not a
    zip) raises `astromer.errors.WeightsError` naming it, what is wrong and
    what to do; Keras itself says "File not found" for some of those."""
    import zipfile
    import zlib

    import keras

    from astromer.errors import WeightsError

    register_classes()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsError(f"{path} does not exist: check the path, or point --weights at another model.")
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"{path} is empty (0 bytes), not a .keras model: save, download or copy it again, "
                           "or point --weights at another model.")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            starts_as_zip = f.read(4) == b"PK\x03\x04"
        # A zip archive ends with its directory: one that starts as a zip
        # but has none was cut short.
        shape = ("starts as one but its end is missing" if starts_as_zip else "does not even start as one")
        raise WeightsError(f"{path} is not a readable .keras file (a .keras file is a zip archive; this one "
                           f"{shape}: {size:,} bytes, damaged or truncated): save or copy it again, or point "
                           "--weights at another model.")
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        raise WeightsError(f"{path} is damaged ({type(error).__name__}: {error}; {size:,} bytes): save or copy "
                           "it again, or point --weights at another model.") from None


def check_h5(path, kind="weight file"):
    """Reads every array of the HDF5 file at `path`, so that an empty,
    truncated or damaged file raises `WeightsError` naming it and what is
    wrong (h5py only says "Unable to synchronously open file"); `kind` names
    the file in messages (".weights.h5 file")."""
    import h5py

    from astromer.errors import WeightsError

    path = os.fspath(path)
    fix = "download or copy it again, or point --weights at other weights."
    if not os.path.exists(path):
        raise WeightsError(f"{path} does not exist: check the path, or point --weights at other weights.")
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"{path} is empty (0 bytes), not a {kind}: {fix}")
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as error:
        message = str(error)
        cut = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", message)
        if cut:
            raise WeightsError(f"{path} is truncated: a {kind} of {int(cut.group(2)):,} bytes of which only "
                               f"{int(cut.group(1)):,} are there: {fix}") from None
        if "file signature not found" in message:
            raise WeightsError(f"{path} is not an HDF5 file ({size:,} bytes that do not start as one): a damaged "
                               f"{kind}, or another format: {fix}") from None
        raise WeightsError(f"{path} is damaged ({type(error).__name__}: {' '.join(message.split())}; {size:,} "
                           f"bytes), not a readable {kind}: {fix}") from None
