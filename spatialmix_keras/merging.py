"""Residual sums, and the forks that feed them, through compiled loops.

`FusedAdd` is a `keras.layers.Add` (same arguments, config and results)
that, on TensorFlow, sums two inputs of one shape and dtype with
`tf_kernels.add`: one XLA-compiled loop, and a gradient that passes
through without the stock op's broadcast reduction. Under
`mixed_bfloat16` on a CPU this took a ConvMixer-256/8 step from 1333 to
1232 ms on one core (`benchmarks/op_profile.py`: Eigen's bfloat16
`AddV2` and the `AddN` of the gradients were 160 ms of the step). Other
backends, other input counts or shapes take the stock layer.

`Fork` hands its input out twice, to a residual branch and its shortcut.
Under a 16-bit dtype on TensorFlow the two gradients meet in one compiled
loop (`tf_kernels.fork`) instead of TensorFlow's `AddN`, which Eigen runs
in software bf16 (in a ConvMixer-256/8 bf16 step on one core, 80 ms of
`AddN` became 43 ms of compiled loops). Otherwise it returns its input
twice, so a float32 model computes exactly as without it.
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


@keras.saving.register_keras_serializable(package="spatialmix_keras")
class Fork(keras.layers.Layer):
    """Its input, twice: `shortcut, branch = Fork()(x)`.

    Example:
    >>> x = np.ones((2, 3), "float32")
    >>> [y.shape for y in Fork()(x)]
    [(2, 3), (2, 3)]
    """

    def __init__(self, **kwargs):
        # A fork passes its input on as it is, in its own dtype.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def call(self, inputs):
        if keras.backend.backend() != "tensorflow" or (
            keras.backend.standardize_dtype(inputs.dtype)
            not in ("bfloat16", "float16")
        ):
            return [inputs, inputs]
        from spatialmix_keras.tf_kernels import fork

        return list(fork(inputs))

    def compute_output_shape(self, input_shape):
        return [input_shape, input_shape]
