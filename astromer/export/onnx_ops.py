"""TensorFlow operations that tf2onnx does not convert, written with ONNX ones.

- `Erfc`: the exact GELU of AstroCo (`keras.ops.gelu(approximate=False)`,
  i.e. `tf.nn.gelu`) is `0.5 x erfc(-x / sqrt(2))`, and tf2onnx 1.17 has no
  handler for `Erfc` (ONNX has no such operation). ONNX has `Erf` (opset 9+),
  and `erfc(y) = 1 - erf(y)` exactly. The model is left as it is, so its
  Keras outputs do not change; only the exported graph spells the function
  differently. `1 - erf(y)` loses the relative precision of `erfc` where it
  is tiny (large `y`), but GELU multiplies it by `x`: the absolute error of
  a GELU output stays below `|x| * 6e-8`.

`register()` adds the handlers to tf2onnx's table once per process; a
conversion made afterwards (Keras' `model.export(format="onnx")`) uses them.
"""

import numpy as np

_registered = False


def register():
    """Adds the handlers above to tf2onnx (idempotent). Raises ImportError
    when tf2onnx is not installed."""
    global _registered
    if _registered:
        return
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            # Erfc(y) -> Sub(1, Erf(y)): the node becomes Erf and a Sub takes
            # over its consumers.
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            sub = ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[one.output[0], node.output[0]],
                                                name=utils.make_name(f"{node.name}_erfc"))
            ctx.copy_shape(node.output[0], sub.output[0])
            ctx.set_dtype(sub.output[0], ctx.get_dtype(node.output[0]))

    _registered = True
