"""The hand-differentiated GELU against Keras' exact GELU."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import get_model
from spatialmix_keras.activations import gelu


@pytest.mark.parametrize("xla", ["1", "0"])
def test_values_and_gradients_match_keras_exact_gelu(xla, monkeypatch):
    monkeypatch.setenv("SPATIALMIX_XLA_LOOPS", xla)
    x = tf.constant(np.linspace(-6, 6, 1001, dtype="float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = gelu(x)
        theirs = keras.activations.gelu(x, approximate=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(ours, x), tape.gradient(theirs, x), rtol=1e-5, atol=1e-6
    )
    # And an independent closed form at one point: Phi(1) + phi(1).
    one = tf.constant(1.0)
    with tf.GradientTape() as tape:
        tape.watch(one)
        y = gelu(one)
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    expected = 0.5 * (1 + math.erf(1 / math.sqrt(2))) + phi
    assert abs(float(tape.gradient(y, one)) - expected) < 1e-6


@pytest.mark.parametrize("xla", ["1", "0"])
def test_bfloat16_is_computed_in_float32_and_rounded_once(xla, monkeypatch):
    # The value and the gradient of a bfloat16 input are the float32 ones
    # of the same numbers, rounded to bfloat16 at the end (within one step
    # of bfloat16: erf may differ in its last float32 bits between kernels).
    monkeypatch.setenv("SPATIALMIX_XLA_LOOPS", xla)
    x16 = tf.cast(np.linspace(-6, 6, 1001, dtype="float32"), "bfloat16")
    upstream16 = tf.cast(np.linspace(2, -1, 1001, dtype="float32"), "bfloat16")
    x32, upstream32 = tf.cast(x16, "float32"), tf.cast(upstream16, "float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x16, x32])
        ours = gelu(x16)
        theirs = keras.activations.gelu(x32, approximate=False)
    assert ours.dtype == "bfloat16"
    grad = tape.gradient(ours, x16, output_gradients=upstream16)
    expected_grad = tape.gradient(theirs, x32, output_gradients=upstream32)
    assert grad.dtype == "bfloat16"
    for got, want in ((ours, theirs), (grad, expected_grad)):
        rounded = tf.cast(tf.cast(want, "bfloat16"), "float32").numpy()
        got = tf.cast(got, "float32").numpy()
        np.testing.assert_allclose(got, rounded, rtol=2**-7, atol=1e-6)
    # Rounded once: away from the far negative tail (where 1 + erf cancels
    # in float32 for both), almost every value is the rounded float32 one.
    body = np.abs(theirs.numpy()) > 1e-4
    same = (
        tf.cast(ours, "float32").numpy()
        == tf.cast(tf.cast(theirs, "bfloat16"), "float32").numpy()
    )
    assert np.mean(same[body]) > 0.99


def test_a_convmixer_with_it_saves_and_loads(tmp_path):
    model = get_model("convmixer_tiny", seed=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert loaded.get_layer("stem_gelu").activation is gelu


def test_inside_a_compiled_training_graph_with_unknown_batch():
    # Keras traces the step with a None batch dimension; the compiled GELU
    # must accept it and give Keras' gradient for each batch size it meets.
    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 3])])
    def grads(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            ours = tf.reduce_sum(tf.sin(gelu(x)))
            theirs = tf.reduce_sum(tf.sin(keras.activations.gelu(x, False)))
        return tape.gradient(ours, x), tape.gradient(theirs, x)

    rng = np.random.default_rng(1)
    for batch in (1, 5):
        x = rng.normal(size=(batch, 4, 4, 3)).astype("float32")
        ours, theirs = grads(x)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
