import keras
import numpy as np
import pytest

from astromer.losses import masked_r2, masked_rmse
from astromer.models.pretrainer import Pretrainer
from tests.models.test_serialization import tiny_backbone


def sine_windows(n=64, window=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10, (n, window)), 1)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    mag = np.sin(t + phase)
    probe = (rng.uniform(size=(n, window)) < 0.5).astype("float32")
    x = {
        "magnitudes": (mag * (1 - probe)).astype("float32"),
        "times": (t - t.mean(1, keepdims=True)).astype("float32"),
        "padding_mask": np.zeros((n, window), "float32"),
        "hidden_mask": probe,
    }
    y = {
        "magnitudes": mag.astype("float32"),
        "probe_mask": probe,
        "loss_weight": rng.uniform(0.5, 1, (n, window)).astype("float32"),
    }
    return x, y


@pytest.mark.parametrize("weighted", [False, True])
def test_fit_reports_masked_metrics_and_learns(weighted):
    x, y = sine_windows()
    model = Pretrainer(tiny_backbone(dropout=0.0), uncertainty_weighted=weighted)
    model.compile(keras.optimizers.Adam(3e-3))
    before = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    after = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "rmse", "r2"}
    assert after["rmse"] < 0.8 * before["rmse"]
    # evaluate() values are the exact masked RMSE / R2 on all windows.
    pred = model.predict(x, batch_size=16, verbose=0)
    np.testing.assert_allclose(after["rmse"], float(masked_rmse(y["magnitudes"], pred, y["probe_mask"])), rtol=1e-4)
    np.testing.assert_allclose(after["r2"], float(masked_r2(y["magnitudes"], pred, y["probe_mask"])), rtol=1e-4, atol=1e-5)
    weights = y["loss_weight"] if weighted else None
    np.testing.assert_allclose(
        after["loss"], float(masked_rmse(y["magnitudes"], pred, y["probe_mask"], weights)), rtol=0.05
    )


def test_compile_refuses_a_loss():
    model = Pretrainer(tiny_backbone())
    with pytest.raises(ValueError, match="uncertainty_weighted"):
        model.compile("adam", loss="mse")
