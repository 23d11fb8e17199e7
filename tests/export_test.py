"""What a plain-TensorFlow user gets from an export's SavedModel."""

import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import export, get_model


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    model = get_model("resnet_tiny", freeze="spatial", input_shape=(8, 8, 3))
    path = export.export_run(model, str(tmp_path_factory.mktemp("e")), "m")
    return model, tf.saved_model.load(f"{path}/{export.SAVED_MODEL_DIR}")


def test_serve_is_the_default_signature_pixels_in_output_0_out(saved_model):
    model, loaded = saved_model
    signature = loaded.signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert list(inputs) == ["pixels"]
    assert inputs["pixels"].dtype == tf.float32
    pixels = np.random.default_rng(0).random((4, 8, 8, 3), np.float32)
    out = signature(pixels=tf.constant(pixels))
    assert list(out) == ["output_0"]
    np.testing.assert_allclose(
        out["output_0"], model(pixels, training=False), atol=1e-5
    )


def test_serve_refuses_0_to_255_floats_and_serve_uint8_takes_bytes(
    saved_model,
):
    model, loaded = saved_model
    images = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 3), np.uint8)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="takes float pixels in \\[0, 1\\]"
    ):
        loaded.serve(images.astype(np.float32))
    np.testing.assert_allclose(
        loaded.serve_uint8(images),
        loaded.serve(images.astype(np.float32) / 255.0),
        atol=1e-5,
    )
