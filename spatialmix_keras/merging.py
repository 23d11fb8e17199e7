"""Residual sums through one compiled loop.

`FusedAdd` is a `keras.layers.Add` (same arguments, config and results)
that, on TensorFlow, sums two inputs of one shape and dtype with
`tf_kernels.add`: one XLA-compiled loop, and a gradient that passes
through without the stock op's broadcast reduction. Under
`mixed_bfloat16` on a CPU this took a ConvMixer-256/8 step from 1333 to
1232 ms on one core (`benchmarks/op_profile.py`: Eigen's bfloat16
`AddV2` and the `AddN` of the gradients were 160 ms of the step). Other
backends, other input counts or shapes take the stock layer.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="spatialmix_keras")
class FusedAdd(keras.layers.Add):
    """`keras.layers.Add` of two same-shape tensors in one compiled loop.

    Example:
    >>> x = np.ones((2, 3), "float32")
    >>> FusedAdd()([x, 2 * x]).numpy().tolist()
    [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
    """

    def _merge_function(self, inputs):
        if (
            keras.backend.backend() != "tensorflow"
            or len(inputs) != 2
            or inputs[0].dtype != inputs[1].dtype
            or inputs[0].shape != inputs[1].shape
        ):
            return super()._merge_function(inputs)
        from spatialmix_keras.tf_kernels import add

        return add(inputs[0], inputs[1])
