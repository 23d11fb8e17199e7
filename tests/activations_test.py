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
    monkeypatch.setenv("SPATIALMIX_XLA_GELU", xla)
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
