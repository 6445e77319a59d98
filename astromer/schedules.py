"""Learning-rate schedules (serializable, so checkpoints restore them)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="astromer")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `learning_rate` over `warmup_steps`, then constant.

    Post-LayerNorm encoders without residual connections (Astromer) diverge
    easily in their first steps at full learning rate; a short warm-up
    avoids it. `warmup_steps=0` is a constant rate.
    """

    def __init__(self, learning_rate, warmup_steps=0):
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        if self.warmup_steps <= 0:
            return ops.convert_to_tensor(self.learning_rate, "float32")
        step = ops.cast(step, "float32") + 1.0
        return self.learning_rate * ops.minimum(1.0, step / float(self.warmup_steps))

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}
