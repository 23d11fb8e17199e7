"""BatchNormalization through TensorFlow's fused kernel.

Keras 3 computes BatchNormalization from separate ops (moments, then
normalize), forward and backward. On the 2-core dev CPU that made
BatchNorm one of the largest costs of a ConvMixer step, around the 1x1
convolutions that Chans still trains. TensorFlow's `FusedBatchNormV3` does
the same arithmetic in one kernel each way (oneDNN on CPUs, cuDNN on GPUs);
`benchmarks/train_throughput.py` measures what that buys. Under a
`mixed_bfloat16` or `mixed_float16` policy the kernel takes the 16-bit
activations as they are and keeps float32 statistics, as the stock layer
does, without casting the tensor each way (on a CPU with bf16 units those
two casts per layer cost a composed ResNet-20 step a sixth of its time:
`benchmarks/op_profile.py`).

`FusedBatchNormalization` is a `keras.layers.BatchNormalization`: same
arguments, weights, checkpoints and results (tests compare outputs,
gradients and moving statistics with the stock layer to 1e-5). It takes the
fused kernel only where that kernel computes exactly the stock layer's
function, and otherwise (other backends, masks, renorm, synchronized BN,
inputs that are not 4D channels-last) it simply calls the stock layer.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="spatialmix_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by one fused kernel.

    The moving statistics follow Keras' rule, `moving = momentum * moving +
    (1 - momentum) * batch`, with the *biased* batch variance as Keras
    uses (the fused kernel returns the unbiased one; it is rescaled).

    Example:
    >>> layer = FusedBatchNormalization(momentum=0.9)
    >>> y = layer(np.ones((2, 4, 4, 3), "float32"), training=True)
    >>> tuple(y.shape), float(layer.moving_mean.numpy()[0])
    ((2, 4, 4, 3), 0.1)
    """

    def _fusable(self, inputs, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # The kernel keeps float32 statistics for float16 and bfloat16
        # inputs, as the stock layer does, without casting the activations.
        x = inputs
        if x.dtype not in (tf.float16, tf.bfloat16, tf.float32):
            x = tf.cast(x, "float32")
        channels = x.shape[-1]
        gamma = (
            tf.cast(self.gamma, "float32") if self.scale else tf.ones(channels)
        )
        beta = (
            tf.cast(self.beta, "float32") if self.center else tf.zeros(channels)
        )
        moving_mean = tf.cast(self.moving_mean, "float32")
        moving_variance = tf.cast(self.moving_variance, "float32")

        def fused(mean, variance, is_training):
            return tf.raw_ops.FusedBatchNormV3(
                x=x,
                scale=gamma,
                offset=beta,
                mean=mean,
                variance=variance,
                epsilon=self.epsilon,
                exponential_avg_factor=1.0,
                data_format="NHWC",
                is_training=is_training,
            )[:3]

        if training and self.trainable:
            empty = tf.constant([], "float32")
            y, mean, variance = fused(empty, empty, True)
            count = tf.cast(tf.size(x) // channels, "float32")
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            momentum = self.momentum
            self.moving_mean.assign(
                moving_mean * momentum + mean * (1.0 - momentum)
            )
            self.moving_variance.assign(
                moving_variance * momentum + variance * (1.0 - momentum)
            )
        else:
            y = fused(moving_mean, moving_variance, False)[0]
        return tf.cast(y, self.compute_dtype)
