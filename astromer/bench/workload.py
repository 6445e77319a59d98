"""What the model benchmarks run: a preset's pretrainer on synthetic windows,
and the FLOPs one window costs.

The windows have the shape of the PyTorch reference
(`shared/bench/torch_a2_reference.py`): magnitudes N(0, 0.3), sorted times
in [-1500, 1500] d, full windows, probe-masked by the pretraining
preprocessor in training (50% probed, 30% hidden), nothing masked in
embedding mode. They are made here rather than read, so that the model
alone is timed.
"""

import numpy as np


def synthetic_windows(batch, window, seed=0, masked=True):
    """`(x, y)`: `batch` windows of `window` steps as the pretrainer takes them."""
    from astromer.preprocessing import PretrainingPreprocessor

    rng = np.random.default_rng(seed)
    windows = {"time": np.sort(rng.uniform(-1500, 1500, (batch, window)), 1),
               "mag": rng.normal(0, 0.3, (batch, window)), "err": rng.uniform(0.01, 0.1, (batch, window)),
               "padding": np.zeros((batch, window), np.float32)}
    preprocessor = PretrainingPreprocessor(window_size=window, seed=seed)
    return preprocessor(windows, np.arange(batch), mode="pretrain" if masked else "inference")


def bench_config(preset, precision, attention, overrides=()):
    """The preset with this run's precision ("bf16" or "fp32"), attention and
    `--set` overrides (raises `ConfigError` for unknown presets or keys)."""
    from astromer.core.factory import resolve_config

    policy = "mixed_bfloat16" if precision == "bf16" else "float32"
    return resolve_config(preset, [f"model.dtype={policy}", f"model.attention_implementation={attention}", *overrides])


def model_and_windows(config, batch, mode, jit=True):
    """`(model, backbone, x, y)`: a freshly seeded pretrainer compiled for
    training steps ("train"), or its pooled embedding model ("embed", y
    None), and `batch` synthetic windows for it."""
    import keras

    from astromer.core.embedder import Embedder
    from astromer.core.factory import build_pretrainer, make_optimizer

    keras.utils.set_random_seed(0)
    model = build_pretrainer(config)
    backbone = model.backbone
    x, y = synthetic_windows(batch, backbone.window_size, masked=mode == "train")
    x = {k: v for k, v in x.items() if k in backbone.input_names}
    if mode == "train":
        model.compile(make_optimizer(config["pretraining"]), jit_compile=jit)
        return model, backbone, x, y
    model = Embedder(backbone, batch_size=batch).pooled_model()
    model.compile(jit_compile=jit)
    return model, backbone, x, None


def model_flops(backbone, mode):
    """Forward (embed) or forward+backward (train, 3x) FLOPs per window.

    2 FLOPs per multiply-add of every dense and convolution kernel applied
    to every step, plus 4 L d per step and attention block for the scores
    and the weighted sum.
    """
    import keras

    window = backbone.window_size
    per_step = 0
    attention_blocks = 0
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Dense):
            per_step += 2 * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.DepthwiseConv1D)):
            kernel = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
            per_step += 2 * int(np.prod(kernel.shape))
        if type(layer).__name__ == "AstromerAttention":
            attention_blocks += 1
            # Q, K, V are three Dense sub-layers but the layer runs them as one
            # fused matmul through their kernels: already counted above.
    per_step += attention_blocks * 4 * window * backbone.hidden_dim
    forward = per_step * window
    return forward * (3 if mode == "train" else 1)
