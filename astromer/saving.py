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
    """`keras.saving.load_model(path)` with astromer's classes registered."""
    import keras

    register_classes()
    return keras.saving.load_model(path, **kwargs)
