"""The one place astromer imports private TensorFlow modules.

Why: `MultiWorkerMirroredStrategy` starts TensorFlow's coordination service
with a one-hour deadline for every task to register, and without the
registration barrier the first task waits in C++ for ever, holding the
interpreter so that no Python watchdog (`cluster.deadline`) can run. TensorFlow
has no public API to set either; the strategy keeps a service configured
before it is created, so configuring it here first is enough. Another
TensorFlow layout (the modules moved) falls back to TensorFlow's defaults.
"""


def configure_coordination(jobs, timeout):
    """TensorFlow's coordination service with `timeout` seconds for every
    task of `jobs` (job name -> number of tasks, "chief" first) to register,
    behind a barrier. Its heartbeat (10 s) finds a dead worker."""
    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
        from tensorflow.python.eager import context
    except ImportError:
        return
    if context.context().coordination_service is not None:
        return
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{next(iter(jobs))}/replica:0/task:0",
        cluster_register_timeout_in_ms=int(timeout * 1000),
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=n) for job, n in jobs.items()])
    service = getattr(context.context(), "_coordination_service_config", None)
    if service is not None and hasattr(service, "cluster_register_with_barrier"):
        service.cluster_register_with_barrier = True
