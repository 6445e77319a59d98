"""astromer: light-curve foundation models (Astromer 1, Astromer 2, AstroCo) in Keras 3.

Importing the package imports Keras (any backend) but never TensorFlow;
TF-only tools (TFRecords, tf.data, original checkpoints) import it when used.
It also registers every layer, model, loss, metric and schedule with Keras,
so `keras.saving.load_model("model.keras")` works after `import astromer`.
"""

__version__ = "0.1.0"

from astromer import losses, metrics, schedules  # noqa: E402,F401
from astromer.models.astroco_backbone import AstroCoBackbone  # noqa: E402,F401
from astromer.models.astromer_backbone import AstromerBackbone  # noqa: E402,F401
from astromer.models.pretrainer import Pretrainer  # noqa: E402,F401
