"""One preprocessor per task: light curves -> what that task's model reads.

- `PretrainingPreprocessor`: windows -> (inputs, targets) for masked
  reconstruction (random windows, probe masks), NumPy or tf.data.
- `InferencePreprocessor`: light curves -> every sequential window's inputs
  (compat "original" or "default"), for embeddings.
- `ClassificationPreprocessor`: labelled light curves -> (inputs, labels,
  sample_weight): a random window per epoch to train, every window to
  evaluate.
- `pretraining_data.PretrainingData`: a run's light curves (demo survey,
  TFRecords or a table) read, cleaned and split, and the batches `fit`
  reads for a model (imports Keras, so not imported here).
- `HubPreprocessor`: light curves <-> the light-curve embedding hub's inputs
  (exported models).
- `reading`: which observations a model reads (the band selector, cleaning,
  JD -> MJD under float32-first centring).

Settings are data: `get_config` / `from_config` / `from_preset`
(`astromer.preprocessing.preprocessor`).
"""

from astromer.preprocessing.classification import ClassificationPreprocessor
from astromer.preprocessing.hub import HubPreprocessor
from astromer.preprocessing.inference import InferencePreprocessor
from astromer.preprocessing.pretraining import PretrainingPreprocessor

__all__ = ["ClassificationPreprocessor", "HubPreprocessor", "InferencePreprocessor", "PretrainingPreprocessor"]
