"""astromer: light-curve foundation models (Astromer 1, Astromer 2, AstroCo) in Keras 3.

Importing the package imports Keras (any backend) but never TensorFlow;
TF-only tools (TFRecords, tf.data, original checkpoints) import it when used.
"""

__version__ = "0.1.0"

from astromer.models.astromer_backbone import AstromerBackbone  # noqa: E402,F401
