"""Who trains together: the cluster settings of a run (TensorFlow's
`TF_CONFIG`; JAX's coordinator, number of processes and process id, from
flags, the environment or Slurm), checked before anything starts, and
joining the others under a deadline (docs/distributed.md).

Both engines wait in C++ for a peer that never comes (TensorFlow's
coordination leader without any limit and deaf to SIGTERM, JAX until it
aborts the process with a stack trace), so a watchdog ends the process
with a one-line error instead (exit status 2).
"""

import contextlib
import json
import os
import socket
import sys
import threading
import time

from astromer.errors import ConfigError

# How long every process waits for the others to join, by default (s).
JOIN_TIMEOUT = 300
TF_JOBS = ("chief", "worker")


class Cluster:
    """This process's place in a run: `count` workers (processes), this one
    `index` (0 is the chief, who writes the outputs), and how they meet
    (`kind`: "tf_config", "jax" or "single")."""

    def __init__(self, kind="single", count=1, index=0, leader=None, addresses=(), source=""):
        self.kind, self.count, self.index = kind, int(count), int(index)
        self.leader = leader  # "host:port" of the process the others connect to (None: found by JAX)
        self.addresses = list(addresses)
        self.source = source  # where the settings came from, for messages

    @property
    def chief(self):
        return self.index == 0

    @property
    def multi(self):
        return self.count > 1

    def describe(self):
        if not self.multi:
            return "1 process"
        return f"worker {self.index} of {self.count}"


def parse_address(value, what):
    """`host:port` (port 1-65535) or a ConfigError naming `what` and the value."""
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} {value!r} is not an address 'host:port' (port 1-65535).")
    return host.strip("[]"), int(port)


def parse_tf_config(text):
    """The `Cluster` of a `TF_CONFIG` value (jobs `chief` and/or `worker`;
    workers numbered as TensorFlow does: the chief, then the workers), or a
    ConfigError naming the bad value."""
    shown = " ".join(str(text).split())
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    fix = ('Expected e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
           '"task": {"type": "worker", "index": 0}}.')
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}): {shown!r}. {fix}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ConfigError(f"TF_CONFIG has no \"cluster\" object: {shown!r}. {fix}")
    cluster, task = config["cluster"], config.get("task")
    unknown = sorted(set(cluster) - set(TF_JOBS) - {"evaluator"})
    if unknown:
        raise ConfigError(f"TF_CONFIG's cluster has job(s) {unknown}; MultiWorkerMirroredStrategy trains with "
                          f"'chief' and 'worker' jobs only: {shown!r}.")
    addresses, numbered = [], []
    for job in TF_JOBS:
        tasks = cluster.get(job, [])
        if not isinstance(tasks, list) or not all(isinstance(a, str) for a in tasks):
            raise ConfigError(f"TF_CONFIG's cluster.{job} must be a list of 'host:port' strings, not {tasks!r}.")
        if job == "chief" and len(tasks) > 1:
            raise ConfigError(f"TF_CONFIG's cluster has {len(tasks)} chiefs {tasks}; there is at most one.")
        for i, address in enumerate(tasks):
            parse_address(address, f"TF_CONFIG's cluster.{job}[{i}]")
            addresses.append(address)
            numbered.append((job, i))
    if not addresses:
        raise ConfigError(f"TF_CONFIG's cluster lists no 'chief' or 'worker' task: {shown!r}. {fix}")
    repeated = sorted({a for a in addresses if addresses.count(a) > 1})
    if repeated:
        raise ConfigError(f"TF_CONFIG's cluster lists {repeated} more than once; every task needs its own port.")
    if not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG has no \"task\" object (this process's job and index): {shown!r}. {fix}")
    kind, index = task.get("type"), task.get("index")
    if kind == "evaluator":
        raise ConfigError("TF_CONFIG's task is an 'evaluator'; astromer-train runs the 'chief' and 'worker' tasks "
                          "(evaluate a run's checkpoints with a separate astromer command instead).")
    if kind not in TF_JOBS or kind not in cluster:
        raise ConfigError(f"TF_CONFIG's task.type {kind!r} is not a job of its cluster "
                          f"({[j for j in TF_JOBS if j in cluster]}).")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f"TF_CONFIG's task.index {index!r} is not a {kind} of its cluster (0 to "
                          f"{len(cluster[kind]) - 1}).")
    return Cluster("tf_config", len(addresses), numbered.index((kind, index)), leader=addresses[0],
                   addresses=addresses, source="TF_CONFIG")


def _int_setting(value, what, minimum):
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not an integer.") from None
    if number < minimum:
        raise ConfigError(f"{what} {value!r} must be at least {minimum}.")
    return number


def jax_cluster(coordinator=None, num_processes=None, process_id=None, environ=None):
    """The `Cluster` of JAX processes: from the flags, else Keras' or JAX's
    variables, else a Slurm job step of several tasks (JAX finds its
    coordinator), else one process; ConfigError naming a bad or missing value."""
    env = os.environ if environ is None else environ
    named = {"coordinator": "--coordinator", "num_processes": "--num-processes", "process_id": "--process-id"}
    values = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    for key, variables in (("coordinator", ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS")),
                           ("num_processes", ("KERAS_DISTRIBUTION_NUM_PROCESSES", "JAX_NUM_PROCESSES")),
                           ("process_id", ("KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID"))):
        for variable in variables:
            if values[key] is None and env.get(variable, "").strip():
                values[key], named[key] = env[variable], variable
    if all(v is None for v in values.values()):
        tasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS")
        if env.get("SLURM_JOB_ID") and tasks and tasks.isdigit() and int(tasks) > 1:
            index = env.get("SLURM_PROCID", "0")
            return Cluster("jax", int(tasks), int(index) if index.isdigit() else 0, leader=None,
                           source="Slurm (SLURM_JOB_ID, SLURM_NTASKS, SLURM_PROCID)")
        return Cluster()
    missing = [named[k] for k, v in values.items() if v is None]
    if missing:
        given = ", ".join(f"{named[k]}={v}" for k, v in values.items() if v is not None)
        raise ConfigError(f"JAX processes need a coordinator address, the number of processes and this process's "
                          f"id: {given} is set, {' and '.join(missing)} is not.")
    count = _int_setting(values["num_processes"], named["num_processes"], 1)
    index = _int_setting(values["process_id"], named["process_id"], 0)
    if index >= count:
        raise ConfigError(f"{named['process_id']} {index} is not a process of {count} (0 to {count - 1}).")
    # Keras' variable may list every process's address; the first is the coordinator.
    leader = str(values["coordinator"]).split(",")[0].strip()
    parse_address(leader, named["coordinator"])
    return Cluster("jax", count, index, leader=leader, source=f"{named['coordinator']}={leader}")


def cluster_settings(backend, strategy="auto", coordinator=None, num_processes=None, process_id=None):
    """The `Cluster` a run joins on `backend` (`TF_CONFIG` on TensorFlow, the
    JAX settings on JAX), checked without starting anything."""
    jax_flags = {"--coordinator": coordinator, "--num-processes": num_processes, "--process-id": process_id}
    given = [flag for flag, value in jax_flags.items() if value is not None]
    if backend == "jax":
        if strategy in ("mirrored", "multiworker"):
            raise ConfigError(f"--strategy {strategy} is TensorFlow's; on the JAX backend use data-parallel (one "
                              "process over its devices, or several processes with --coordinator).")
        if strategy == "none":
            return Cluster()
        return jax_cluster(coordinator, num_processes, process_id)
    if given:
        raise ConfigError(f"{', '.join(given)} join JAX processes; on the {backend} backend set TF_CONFIG "
                          "(TensorFlow) or run with KERAS_BACKEND=jax.")
    text = os.environ.get("TF_CONFIG", "")
    if backend != "tensorflow":
        if strategy not in ("auto", "none"):
            raise ConfigError(f"--strategy {strategy} is not supported on the {backend} backend.")
        return Cluster()
    if strategy == "multiworker" and not text.strip():
        raise ConfigError("--strategy multiworker needs TF_CONFIG (the cluster's workers and this one's index); "
                          "see docs/distributed.md.")
    if text.strip() and strategy in ("auto", "multiworker"):
        return parse_tf_config(text)
    return Cluster()


def divide_batch(global_batch, parts, what):
    """`global_batch / parts`; ConfigError naming both unless it divides."""
    global_batch = int(global_batch)
    if global_batch < 1:
        raise ConfigError(f"--global-batch {global_batch} must be at least 1.")
    if global_batch % parts:
        lower = global_batch // parts * parts
        options = " or ".join(str(n) for n in (lower, lower + parts) if n > 0)
        raise ConfigError(f"--global-batch {global_batch} does not divide among the {parts} {what}: use a multiple "
                          f"of {parts}, e.g. {options}.")
    return global_batch // parts


def configured_backend(environ=None):
    """The Keras backend a process will use, without importing Keras: its
    `KERAS_BACKEND`, else keras.json's `backend`, else TensorFlow."""
    env = os.environ if environ is None else environ
    if env.get("KERAS_BACKEND"):
        return env["KERAS_BACKEND"]
    home = env.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_command(strategy="auto", global_batch=None, coordinator=None, num_processes=None, process_id=None):
    """The cluster settings of a command line, before Keras starts: what
    can be told without other processes (the devices come later)."""
    cluster = cluster_settings(configured_backend(), strategy, coordinator, num_processes, process_id)
    if global_batch is not None:
        divide_batch(global_batch, cluster.count, f"workers ({cluster.source})" if cluster.multi else "workers")
    return cluster


def _reachable(address):
    host, port = parse_address(address, "address")
    try:
        with socket.create_connection((host, port), timeout=2):
            return True, ""
    except OSError as error:
        return False, error.strerror or str(error)


def wait_for(address, timeout, what):
    """Waits until `address` accepts connections (its process may start a
    little after this one); ConfigError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        ok, why = _reachable(address)
        if ok:
            return
        if time.monotonic() > deadline:
            raise ConfigError(f"{what} {address} cannot be reached ({why}) after {timeout:g} s: start that process "
                              "first (or check the address, the port and the firewall); --cluster-timeout sets "
                              "how long to wait.")
        time.sleep(0.5)


@contextlib.contextmanager
def deadline(seconds, message, prog="astromer-train"):
    """Ends the process with `message()` (one line, exit status 2) when the
    block takes longer than `seconds`. For the engines' joins only: they
    wait in C++ code that no exception or SIGTERM interrupts."""

    def give_up():
        print(f"{prog}: error: {message()}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(2)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def join_tensorflow(cluster, timeout=JOIN_TIMEOUT):
    """`MultiWorkerMirroredStrategy` of the `TF_CONFIG` cluster, within
    `timeout` seconds (else a one-line error, exit 2)."""
    import tensorflow as tf

    from astromer.distribute.tf_internals import configure_coordination

    if not cluster.chief:
        wait_for(cluster.leader, timeout, "The TF_CONFIG cluster's first task (coordination service) at")
    jobs = json.loads(os.environ["TF_CONFIG"])["cluster"]
    configure_coordination({job: len(jobs[job]) for job in TF_JOBS if jobs.get(job)}, timeout)

    def why():
        others = [a for i, a in enumerate(cluster.addresses) if i != cluster.index]
        down = [a for a in others if not _reachable(a)[0]]
        detail = f"not reachable: {down}" if down else "all reachable, but not all joined"
        return (f"the TF_CONFIG cluster did not form within {timeout:g} s: this is task {cluster.index} of "
                f"{cluster.count} ({cluster.addresses[cluster.index]}); the others {others} are {detail}. Start "
                "every worker with the same TF_CONFIG cluster and its own task.index (--cluster-timeout sets how "
                "long to wait).")

    with deadline(timeout, why):
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as error:
            raise ConfigError(f"{why()} ({' '.join(str(error).split())[:200]})") from None


def join_jax(cluster, timeout=JOIN_TIMEOUT):
    """Joins the JAX processes (`jax.distributed.initialize`, which
    `keras.distribution.initialize` calls, here for its timeout; CPU
    collectives over Gloo) within `timeout` seconds, else a one-line error
    (exit 2) that comes before JAX's own abort."""
    import jax

    with contextlib.suppress(AttributeError, ValueError):  # a JAX that has it by default or not at all
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if cluster.leader is not None and not cluster.chief:
        wait_for(cluster.leader, timeout, f"The JAX coordinator ({cluster.source}) at")

    def why():
        where = cluster.leader or "the address JAX derives from the Slurm job"
        return (f"the {cluster.count} JAX processes did not all join the coordinator at {where} within {timeout:g} s "
                f"(this is process {cluster.index}). Start every process with the same coordinator and number of "
                "processes and its own process id (--cluster-timeout sets how long to wait).")

    arguments = {} if cluster.leader is None else dict(
        coordinator_address=cluster.leader, num_processes=cluster.count, process_id=cluster.index)
    with deadline(timeout, why):
        jax.distributed.initialize(initialization_timeout=int(timeout) + 60, **arguments)
    if jax.process_count() != cluster.count:
        raise ConfigError(f"JAX joined {jax.process_count()} processes, not {cluster.count} ({cluster.source}).")
