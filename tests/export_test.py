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


SWAP_KILLED = """
import os, sys
import numpy as np
from spatialmix_keras import export, get_model

export_dir = sys.argv[1]
real_rename = os.rename

def rename(src, dst):
    real_rename(src, dst)
    if src == os.path.join(export_dir, "m"):  # the old export moved aside
        os._exit(137)

os.rename = rename
model = get_model("resnet_tiny", input_shape=(8, 8, 3), seed=1)
export.export_run(model, export_dir, "m", files={"new.json": {}},
                  overwrite=True)
"""


def test_a_swap_killed_half_way_is_recovered_at_the_next_start(tmp_path):
    """SIGKILL-like exit between moving the old export aside and renaming
    the new one in: the next start puts the old export back and leaves no
    hidden copy."""
    import subprocess
    import sys

    model = get_model("resnet_tiny", input_shape=(8, 8, 3))
    export_dir = tmp_path / "exports"
    export.export_run(model, str(export_dir), "m", files={"old.json": {}})
    killed = subprocess.run(
        [sys.executable, "-c", SWAP_KILLED, str(export_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert not (export_dir / "m").exists()
    assert list(export_dir.glob(".m.old-*"))
    with pytest.raises(FileExistsError, match="already exists"):
        export.check_export_target(str(export_dir), "m", overwrite=False)
    assert (export_dir / "m" / "old.json").exists()
    assert not list(export_dir.glob(".m.old-*"))
