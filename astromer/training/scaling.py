"""The batch, learning rate and warm-up a run uses on its data: the rule,
its reasons and measurements are in docs/pretraining.md, "Settings that fit
the data" (square-root rate scaling for Adam: Malladi et al. 2022)."""

import math

from astromer import presets
from astromer.errors import ConfigError

MIN_STEPS = 8
RULE_KEYS = ("pretraining.batch_size", "pretraining.learning_rate", "pretraining.warmup_steps")
# The keys whose source the start-of-run line names.
REPORTED = RULE_KEYS + ("pretraining.epochs",)


def _key(assignment):
    return assignment.split("=", 1)[0].strip()


def without_rule_keys(overrides):
    """`overrides` without the batch, rate and warm-up: those are applied by
    `fit_to_data`, after the reference pair has been read."""
    return [o for o in overrides or () if _key(o) not in RULE_KEYS]


def largest_power_of_two(n):
    return 1 << (max(1, int(n)).bit_length() - 1)


def fit_to_data(config, overrides=(), train_size=None, replicas=1, global_batch=None, reference="the preset",
                sources=None):
    """Sets `config["pretraining"]`'s batch, rate and warm-up for a training
    split of `train_size` light curves (None: keep the reference values, as
    the demo survey does); returns the one-line description of every value
    and where it came from.

    `config` holds the reference values (the preset's, or the weights'),
    `overrides` every `--set` of the command (those of `RULE_KEYS` are
    applied here). `global_batch`: `--global-batch`, kept as given.
    `sources`: key -> source of the reference values (default `reference`
    for all).

    Raises `ConfigError` when the batch given does not fit the data, before
    anything is written or evaluated.
    """
    settings = config["pretraining"]
    ref_batch, ref_rate = _positive(settings, "batch_size", int), _positive(settings, "learning_rate", float)
    ref_warmup = int(settings.get("warmup_steps") or 0)
    given = {_key(o) for o in overrides or ()}
    try:
        fitted = presets.apply_overrides(config, [o for o in overrides or () if _key(o) in RULE_KEYS])
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_values(fitted)
    fitted = fitted["pretraining"]
    source = {key: "command line" if key in given else (sources or {}).get(key, reference) for key in REPORTED}
    replicas = int(replicas)
    if global_batch is not None:
        total, source["pretraining.batch_size"] = int(global_batch), "--global-batch"
    else:
        total = _positive(fitted, "batch_size", int) * replicas
    rule = train_size is not None
    if rule and total * MIN_STEPS > train_size and "pretraining.batch_size" not in given and global_batch is None:
        per_replica = largest_power_of_two(train_size // (MIN_STEPS * replicas))
        total = per_replica * replicas
        settings["batch_size"] = per_replica
        source["pretraining.batch_size"] = (f"rule: {train_size:,} training light curves / {MIN_STEPS} steps, down "
                                            f"to a power of 2; {reference}: {ref_batch}")
    else:
        settings["batch_size"] = fitted["batch_size"]
    if train_size is not None and total > train_size:
        raise ConfigError(_too_large(total, train_size, replicas, global_batch))
    if rule and "pretraining.learning_rate" not in given and total < ref_batch:
        settings["learning_rate"] = float(f"{ref_rate * math.sqrt(total / ref_batch):.3g}")
        source["pretraining.learning_rate"] = f"rule: {rate_text(ref_rate)} x sqrt({total} / {ref_batch})"
        if "pretraining.warmup_steps" not in given and ref_warmup == 0:
            settings["warmup_steps"] = max(1, train_size // total)
            source["pretraining.warmup_steps"] = "rule: the first epoch"
        else:
            settings["warmup_steps"] = int(fitted.get("warmup_steps") or 0)
    else:
        settings["learning_rate"] = float(fitted["learning_rate"])
        settings["warmup_steps"] = int(fitted.get("warmup_steps") or 0)
    config.setdefault("run", {})["settings_from"] = {k.split(".", 1)[1]: v.split(":")[0]
                                                     for k, v in source.items()}
    batch = f"batch {total}" + (f" ({settings['batch_size']} per replica)" if replicas > 1 else "")
    steps = f", {train_size // total} steps per epoch" if train_size else ""
    return (f"settings: {batch} [{source['pretraining.batch_size']}]{steps}; learning rate "
            f"{rate_text(settings['learning_rate'])} [{source['pretraining.learning_rate']}]; warm-up "
            f"{settings['warmup_steps']} steps [{source['pretraining.warmup_steps']}]; up to "
            f"{settings['epochs']} epochs [{source['pretraining.epochs']}]")


def rate_text(rate):
    """1e-3 -> "0.001", 1.13e-4 -> "1.13e-04": three significant digits."""
    return f"{rate:.3g}" if rate >= 1e-3 else f"{rate:.2e}"


def check_values(config):
    """The batch, rate, warm-up and epochs of a resolved configuration are
    numbers of the right kind: checked before Keras starts."""
    settings = config["pretraining"]
    for name, kind, least in (("batch_size", int, 1), ("learning_rate", float, 0), ("warmup_steps", int, 0),
                              ("epochs", int, 1)):
        _positive(settings, name, kind, least)


def _positive(settings, name, kind, least=None):
    value = settings.get(name, 0 if name == "warmup_steps" else None)
    try:
        number = kind(value)
        whole = kind is float or number == float(value)
    except (TypeError, ValueError):
        number, whole = None, False
    least = (1 if kind is int else 0) if least is None else least
    if number is None or not whole or number < least or (kind is float and number <= 0):
        what = "a positive number" if kind is float else f"an integer of at least {least}"
        raise ConfigError(f"pretraining.{name} is {value!r}; it must be {what} (--set pretraining.{name}=...).")
    return number


def _too_large(total, train_size, replicas, global_batch):
    if global_batch is not None:
        what, hint = f"--global-batch {total}", f"pass --global-batch of at most {train_size // replicas * replicas}"
    else:
        what, hint = f"batch of {total}", f"pass --set pretraining.batch_size=N with N at most {train_size // replicas}"
    return (f"The training split holds {train_size:,} light curves, which do not fill one {what}: {hint}, or leave "
            "the batch out (it then follows the data: docs/pretraining.md), or give more light curves.")
