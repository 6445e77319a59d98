"""Which engine runs: the Keras backend, and whether TensorFlow is installed
(JAX and PyTorch runs read tables without it)."""


def tensorflow_available():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def keras_backend():
    import keras

    return keras.backend.backend()
