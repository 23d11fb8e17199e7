"""Counting the floating-point work of a training step.

The paper's practical claim is that freezing spatial mixing makes training
cheaper. How much cheaper it can be is a matter of arithmetic: a training step
runs every convolution forward, propagates the gradient to its input, and
computes the gradient of each *trainable* kernel. A frozen kernel skips the
last part, and nothing needs the gradient of the model's input.

`step_flops` counts exactly that, from the shapes of the convolutional and
dense layers (2 FLOPs per multiply-add; biases, BatchNorm, activations and
additions are not counted: they are memory-bound, not arithmetic-bound).
The benchmarks divide it by a measured step time and compare the result
with the FLOP/s of a large matmul on the same machine.
"""

from __future__ import annotations

import dataclasses
import math

import keras


@dataclasses.dataclass(frozen=True)
class Part:
    """The multiply-adds of one kernel per example.

    Attributes:
        layer: name of the layer that holds the kernel.
        kernel: `"depthwise"`, `"pointwise"`, `"conv"` or `"dense"`.
        macs: multiply-adds per example of its forward pass.
        trainable: whether the kernel learns (its gradient is computed).
        needs_input_grad: whether the gradient flows on to the kernel's
            input (false when nothing before it learns).
    """

    layer: str
    kernel: str
    macs: int
    trainable: bool
    needs_input_grad: bool

    @property
    def forward_flops(self) -> int:
        return 2 * self.macs

    @property
    def train_flops(self) -> int:
        passes = 1 + int(self.needs_input_grad) + int(self.trainable)
        return 2 * self.macs * passes


_COUNTED = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Dense,
)


def _hw(shape):
    return math.prod(shape[1:-1])


def _layer_parts(layer, needs_grad):
    """`Part`s of one layer; `needs_grad`: whether its input needs one."""
    if not isinstance(layer, _COUNTED):
        return []
    in_shape, out_shape = layer.input.shape, layer.output.shape
    weights = {w.path.split("/")[-1]: w for w in layer.weights}

    def trainable(name):
        return layer.trainable and weights[name].trainable

    if isinstance(layer, keras.layers.SeparableConv2D):
        depth = in_shape[-1] * layer.depth_multiplier
        window = math.prod(layer.kernel_size)
        return [
            Part(
                layer.name,
                "depthwise",
                _hw(out_shape) * depth * window,
                trainable("depthwise_kernel"),
                needs_grad,
            ),
            Part(
                layer.name,
                "pointwise",
                _hw(out_shape) * depth * out_shape[-1],
                trainable("pointwise_kernel"),
                # needed to reach the depthwise kernel or the layer input
                needs_grad or trainable("depthwise_kernel"),
            ),
        ]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        window = math.prod(layer.kernel_size)
        macs = _hw(out_shape) * out_shape[-1] * window
        return [
            Part(layer.name, "depthwise", macs, trainable("kernel"), needs_grad)
        ]
    if isinstance(layer, keras.layers.Conv2D):
        window = math.prod(layer.kernel_size)
        kind = "pointwise" if window == 1 else "conv"
        macs = _hw(out_shape) * out_shape[-1] * window * in_shape[-1]
        macs //= layer.groups
        return [Part(layer.name, kind, macs, trainable("kernel"), needs_grad)]
    macs = math.prod(in_shape[1:]) * out_shape[-1]  # Dense
    return [Part(layer.name, "dense", macs, trainable("kernel"), needs_grad)]


def _ids(tensors):
    return {id(t) for t in keras.tree.flatten(tensors)}


def _learns(layer):
    return layer.trainable and any(w.trainable for w in layer.weights)


def _walk(model, tainted, found):
    """Appends the `Part`s of `model`'s layers to `found`, in order.

    `tainted` holds the ids of tensors that depend on a trainable weight:
    only those need a gradient, so a layer whose input is not tainted
    computes no input gradient. Returns the ids of tainted outputs.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        needs_grad = bool(_ids(layer.input) & tainted)
        if isinstance(layer, keras.Model):
            inner = _ids(layer.inputs) if needs_grad else set()
            inner = _walk(layer, inner, found)
            if inner & _ids(layer.outputs):
                tainted |= _ids(layer.output)
            continue
        found += _layer_parts(layer, needs_grad)
        if needs_grad or _learns(layer):
            tainted |= _ids(layer.output)
    return tainted


def parts(model: keras.Model) -> list[Part]:
    """The convolution and dense kernels of a built functional model.

    A kernel's input gradient is counted only where the input depends on a
    trainable weight (never for the model input itself).
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            "Invalid value for argument `model`. Expected a built Keras "
            f"model. Received: model={model!r}"
        )
    found = []
    _walk(model, set(), found)
    return found


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward pass through the kernels."""
    return sum(p.forward_flops for p in parts(model))


def step_flops(model: keras.Model) -> int:
    """FLOPs of one example's training step (forward, input and kernel
    gradients), skipping the gradients of frozen kernels and of the input.

    Example:
    >>> inputs = keras.Input((8, 8, 3))
    >>> outputs = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    >>> step_flops(keras.Model(inputs, outputs)) == 2 * 2 * 64 * 4 * 9 * 3
    True
    """
    return sum(p.train_flops for p in parts(model))
