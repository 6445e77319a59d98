"""Loading saved models: every class the package defines registered with
Keras first, so a `.keras` file loads in a fresh process on any backend.

`import astromer` stays light (no Keras, no TensorFlow: commands answer
`--help` at once); the classes register when a model class is first used,
or here before a load.
"""

import importlib

# Every module whose import registers serializable classes (layers, models,
# losses, metrics, schedules) with `keras.saving.register_keras_serializable`.
REGISTERING_MODULES = (
    "astromer.losses", "astromer.metrics", "astromer.schedules",
    "astromer.models.astromer_backbone", "astromer.models.astroco_backbone",
    "astromer.models.pretrainer", "astromer.models.classifier", "astromer.models.baselines",
)


def register_classes():
    """Imports the modules that register astromer's classes with Keras
    (idempotent)."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)


def load_keras(path, **kwargs):
    """`keras.saving.load_model(path)` with astromer's classes registered.

    A file that exists but cannot be read (truncated, damaged, not a zip)
    raises ValueError naming it and what to do; Keras itself says "File not
    found" for those."""
    import os
    import zipfile

    import keras

    register_classes()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path} does not exist.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .keras file (a .keras file is a zip archive; this one is "
                         f"{os.path.getsize(path):,} bytes and damaged or truncated): save or copy it again.")
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is damaged ({type(error).__name__}: {error}): save or copy it again.") from None
