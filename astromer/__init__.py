"""astromer: light-curve foundation models (Astromer 1, Astromer 2, AstroCo) in Keras 3.

`import astromer` imports neither Keras nor TensorFlow (commands answer
`--help` at once); the names below load on first use, and using any of them
registers every layer, model, loss, metric and schedule with Keras.
TF-only tools (TFRecords, tf.data, original checkpoints) import TensorFlow
when used.

    model = astromer.load_model("runs/a2")   # run folder, .keras, original checkpoint
"""

__version__ = "0.1.0"

_EXPORTS = {
    "AstroCoBackbone": "astromer.models.astroco_backbone",
    "AstromerBackbone": "astromer.models.astromer_backbone",
    "Classifier": "astromer.models.classifier",
    "FeatureClassifier": "astromer.models.feature_classifier",
    "Pretrainer": "astromer.models.pretrainer",
    "load_model": "astromer.core.loading",
}
_SUBMODULES = ("losses", "metrics", "schedules")
__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"astromer.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'astromer' has no attribute {name!r}")
    from astromer.saving import register_classes

    register_classes()
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
