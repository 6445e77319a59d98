"""Training on several devices, machines or processes: the one place that
knows TensorFlow's `tf.distribute` strategies (`MirroredStrategy`,
`MultiWorkerMirroredStrategy` joined by `TF_CONFIG`) and JAX processes
joined by `jax.distributed` under Keras' `DataParallel`.

    cluster        who trains together: TF_CONFIG / JAX settings checked, joining under a deadline
    distribution   Distribution: scope, fit, evaluation, the workers' agreement, a lost worker
    tf_steps       fit and evaluate under a TensorFlow strategy; the loss of the global batch
    tf_internals   the private TensorFlow imports (why: in the module)

How to start a run, and why each choice: docs/distributed.md. Importing
this package imports neither Keras nor TensorFlow.
"""

from astromer.distribute.cluster import Cluster, check_command
from astromer.distribute.distribution import WORKER_LOST_EXIT, Distribution, make_distribution
from astromer.distribute.tf_steps import global_batch_loss

__all__ = ["WORKER_LOST_EXIT", "Cluster", "Distribution", "check_command", "global_batch_loss", "make_distribution"]
