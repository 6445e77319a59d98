"""The batch, learning rate and warm-up a run takes from its data
(astromer.training.scaling), against values computed by hand."""

import pytest

from astromer.core.factory import resolve_config
from astromer.errors import ConfigError
from astromer.training.scaling import check_values, fit_to_data, without_rule_keys


def a2(*overrides):
    """Astromer 2's paper settings: batch 2500 at 1e-3, no warm-up."""
    config = resolve_config("a2", without_rule_keys(overrides))
    assert (config["pretraining"]["batch_size"], config["pretraining"]["learning_rate"],
            config["pretraining"]["warmup_steps"]) == (2500, 1e-3, 0)
    return config


def fitted(config):
    settings = config["pretraining"]
    return settings["batch_size"], settings["learning_rate"], settings["warmup_steps"]


def test_a_small_table_gets_a_batch_of_an_eighth_and_the_square_root_rate():
    config = a2()
    line = fit_to_data(config, [], train_size=400, reference="preset a2")
    # 400 / 8 = 50 -> 32; 1e-3 * sqrt(32 / 2500) = 1.1314e-4; 400 // 32 = 12 steps
    assert fitted(config) == (32, 1.13e-4, 12)
    assert line == ("settings: batch 32 [rule: 400 training light curves / 8 steps, down to a power of 2; preset a2: "
                    "2500], 12 steps per epoch; learning rate 1.13e-04 [rule: 0.001 x sqrt(32 / 2500)]; warm-up 12 "
                    "steps [rule: the first epoch]; up to 10000 epochs [preset a2]")
    assert config["run"]["settings_from"] == {"batch_size": "rule", "learning_rate": "rule", "warmup_steps": "rule",
                                              "epochs": "preset a2"}


def test_a_large_table_keeps_the_paper_settings():
    config = a2()
    fit_to_data(config, [], train_size=20_000)  # 8 steps of 2500: exactly enough
    assert fitted(config) == (2500, 1e-3, 0)
    config = a2()
    fit_to_data(config, [], train_size=19_999)
    # 19,999 // 8 = 2499 -> 2048; 1e-3 * sqrt(2048 / 2500) = 1e-3 * 0.9051; 19,999 // 2048 = 9 steps
    assert fitted(config) == (2048, 9.05e-4, 9)


def test_a_batch_given_is_kept_and_the_rate_follows_it():
    overrides = ["pretraining.batch_size=16"]
    config = a2(*overrides)
    line = fit_to_data(config, overrides, train_size=400)
    # 1e-3 * sqrt(16 / 2500) = 1e-3 * 0.08; the first epoch: 400 // 16 = 25 steps
    assert fitted(config) == (16, 8e-5, 25)
    assert "batch 16 [command line]" in line and "learning rate 8.00e-05 [rule: 0.001 x sqrt(16 / 2500)]" in line


def test_a_rate_or_warm_up_given_is_never_rescaled():
    overrides = ["pretraining.learning_rate=1e-3"]
    config = a2(*overrides)
    fit_to_data(config, overrides, train_size=400)
    assert fitted(config) == (32, 1e-3, 0)  # the rule picks the batch; rate as given, no warm-up added
    overrides = ["pretraining.warmup_steps=3", "pretraining.epochs=2"]
    config = a2(*overrides)
    line = fit_to_data(config, overrides, train_size=400)
    assert fitted(config) == (32, 1.13e-4, 3)
    assert "warm-up 3 steps [command line]; up to 2 epochs [command line]" in line


def test_global_batch_and_replicas():
    config = a2()
    line = fit_to_data(config, [], train_size=400, replicas=2)
    # 400 / (8 x 2) = 25 -> 16 a replica, 32 in all: the rate of a batch of 32
    assert fitted(config) == (16, 1.13e-4, 12) and "batch 32 (16 per replica)" in line
    config = a2()
    line = fit_to_data(config, [], train_size=400, global_batch=64)
    # --global-batch is kept: 1e-3 * sqrt(64 / 2500) = 1.6e-4, 400 // 64 = 6 steps
    assert fitted(config)[1:] == (1.6e-4, 6) and "batch 64 [--global-batch]" in line


def test_the_rule_composes():
    # A run folder's rescaled pair as the reference (finetuning from it)
    # gives the rate rescaling the paper's pair once would.
    config = a2()
    fit_to_data(config, [], train_size=400)
    config["pretraining"]["warmup_steps"] = 0
    fit_to_data(config, [], train_size=240)  # 240 / 8 = 30 -> 16
    assert config["pretraining"]["batch_size"] == 16
    assert config["pretraining"]["learning_rate"] == pytest.approx(8e-5, rel=2e-3)


def test_no_data_keeps_the_settings():
    config = resolve_config("a2", demo=True)
    fit_to_data(config, [], train_size=None, sources={"pretraining.learning_rate": "demo section"})
    assert fitted(config) == (16, 1e-4, 0)


def test_a_batch_the_data_does_not_fill_is_refused_naming_the_most_it_can_be():
    overrides = ["pretraining.batch_size=1000"]
    with pytest.raises(ConfigError) as error:
        fit_to_data(a2(*overrides), overrides, train_size=400)
    assert str(error.value).startswith("The training split holds 400 light curves, which do not fill one batch of "
                                       "1000: pass --set pretraining.batch_size=N with N at most 400")
    with pytest.raises(ConfigError, match="one --global-batch 1000: pass --global-batch of at most 400"):
        fit_to_data(a2(), [], train_size=400, global_batch=1000)
    with pytest.raises(ConfigError, match="at most 200"):
        fit_to_data(a2(*overrides), overrides, train_size=400, replicas=2)


@pytest.mark.parametrize("assignment, message", [
    ("pretraining.batch_size=abc", "pretraining.batch_size is 'abc'; it must be an integer of at least 1"),
    ("pretraining.batch_size=2.5", "pretraining.batch_size is 2.5"),
    ("pretraining.learning_rate=0", "pretraining.learning_rate is 0; it must be a positive number"),
    ("pretraining.warmup_steps=-1", "pretraining.warmup_steps is -1; it must be an integer of at least 0"),
])
def test_bad_values_name_the_setting(assignment, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        fit_to_data(a2(assignment), [assignment], train_size=400)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        check_values(resolve_config("a2", [assignment]))


def test_what_a_resumed_run_says_when_it_has_nothing_to_train():
    from astromer.training.loop import nothing_to_train

    config = a2("pretraining.epochs=4", "pretraining.patience=3")
    state = {"best": 0.5, "best_epoch": 2, "early_stopping_wait": 2, "stopped_early": False}
    assert nothing_to_train("run", state, 3, config) is None  # epoch 4 to go
    assert nothing_to_train("run", state, 4, config) == (
        "run already finished its 4 epochs (best val_loss 0.50000 at epoch 2; nothing to train): to go on, resume "
        "with --epochs N (N more than 4)")
    stopped = {**state, "early_stopping_wait": 3, "stopped_early": True}
    assert nothing_to_train("run", stopped, 3, config) == (
        "run stopped early after epoch 3 (no val_loss improvement in 3 epochs): nothing to train; to go on, resume "
        "with --set pretraining.patience=N (N more than 3)")
    # A larger patience lets it go on.
    assert nothing_to_train("run", stopped, 3, a2("pretraining.epochs=4", "pretraining.patience=5")) is None
