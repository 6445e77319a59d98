"""The learning-curves figure (R2 clipped, resumes marked) and the time
left in the training progress line (compilation left out)."""

import numpy as np

from astromer.training.plots import R2_RANGE, learning_curves, learning_curves_figure


def history():
    # A first epoch that diverged (train R2 -106, validation -3.5), then sane ones.
    return {"epoch": [1, 2, 3, 4], "loss": [40.0, 0.9, 0.5, 0.45], "val_loss": [2.0, 0.8, 0.6, 0.55],
            "r2": [-106.0, -0.4, 0.1, 0.2], "val_r2": [-3.5, -0.2, 0.15, 0.18],
            "rmse": [9.0, 0.9, 0.6, 0.55], "val_rmse": [2.0, 0.8, 0.7, 0.6]}


def panel(fig, ylabel):
    return next(ax for ax in fig.axes if ax.get_ylabel() == ylabel)


def test_r2_panel_is_clipped_to_minus_one_with_the_clipped_points_marked():
    import matplotlib.pyplot as plt

    fig = learning_curves_figure(history())
    ax = panel(fig, "R$^2$ (probed)")
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["train"].get_ydata(), [-1.0, -0.4, 0.1, 0.2])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), [-1.0, -0.2, 0.15, 0.18])
    # The clipped points: open triangles at -1, labelled with their values.
    np.testing.assert_array_equal(lines["train: below -1"].get_xdata(), [1])
    np.testing.assert_array_equal(lines["train: below -1"].get_ydata(), [-1.0])
    assert lines["train: below -1"].get_marker() == "v"
    assert sorted(t.get_text() for t in ax.texts) == ["-106", "-3.5"]
    low, high = ax.get_ylim()
    # Autoscaled on the clipped values: the later epochs fill the panel.
    assert R2_RANGE[0] - 0.2 < low < R2_RANGE[0] and 0.2 < high < 0.4, (low, high)
    # Without the clip, -106 would set the scale: the same data unclipped spans 100x more.
    assert panel(fig, "loss").get_yscale() == "log"  # 40 vs 0.45: log scale
    plt.close(fig)


def test_a_resume_is_a_vertical_line_after_its_epoch(tmp_path):
    import matplotlib.pyplot as plt

    fig = learning_curves_figure(history(), resumed_after=[2])
    for ax in fig.axes:
        marks = [line for line in ax.get_lines() if line.get_label() == "resumed after epoch 2"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [2.5, 2.5]
    plt.close(fig)
    fig = learning_curves_figure({k: v[2:] for k, v in history().items()})  # nothing to clip, no resume
    ax = panel(fig, "R$^2$ (probed)")
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"] and not ax.texts
    assert panel(fig, "loss").get_yscale() == "linear"
    plt.close(fig)
    assert learning_curves(history(), tmp_path / "lc.png", resumed_after=[2]) == tmp_path / "lc.png"
    assert (tmp_path / "lc.png").stat().st_size > 10_000


def test_progress_line_time_left_leaves_out_the_first_compiled_step(monkeypatch, capsys):
    from keras.src.utils import progbar as keras_progbar

    from astromer.training.callbacks import StepProgbar

    now = [0.0]
    monkeypatch.setattr(keras_progbar.time, "time", lambda: now[0])
    bar = StepProgbar(target=1001, verbose=1, interval=0)
    bar._dynamic_display = False  # one line per update, as in a log file
    # The first step ends after a 600 s compilation, the next ones 2 s apart.
    for step, t in ((1, 600.0), (2, 602.0), (3, 604.0)):
        now[0] = t
        bar.update(step, [("loss", 1.0)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    # Nothing after the first step (Keras would print 600 s x 1000 = 166:40:00
    # left); from the second: 2 s a step x 999 steps = 33:18, then 998 x 2 s = 33:16.
    assert len(lines) == 2, lines
    assert "33:18" in lines[0] and "33:16" in lines[1] and "166:" not in " ".join(lines)
