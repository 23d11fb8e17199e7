import json

import conftest
import keras
import numpy as np
import pytest

from spatialmix_keras import schema as common
from spatialmix_keras import unshuffle
from spatialmix_keras.unshuffle import Permutation


def test_permutation_is_a_bijection_and_its_inverse_restores_exactly():
    perm = Permutation.from_seed(7, 5, seed=3)
    assert sorted(perm.indices) == list(range(35))
    assert list(perm.indices) != list(range(35))
    images = np.random.default_rng(0).uniform(size=(4, 7, 5, 3)).astype("f4")
    shuffled = perm.apply(images).numpy()
    assert not np.array_equal(shuffled, images)
    np.testing.assert_array_equal(perm.invert(shuffled).numpy(), images)


def test_same_move_for_every_image_and_every_channel():
    perm = Permutation.from_seed(4, 6, seed=1)
    images = np.random.default_rng(1).uniform(size=(3, 4, 6, 2)).astype("f4")
    shuffled = perm.apply(images).numpy()
    # Independent check by coordinates: output (r, c) holds input pixel
    # indices[r * 6 + c], all channels together, in every image.
    for i, source in enumerate(perm.indices):
        r, c = divmod(i, 6)
        sr, sc = divmod(source, 6)
        np.testing.assert_array_equal(
            shuffled[:, r, c, :], images[:, sr, sc, :]
        )


def test_same_seed_gives_the_same_permutation_in_a_new_process():
    code = (
        "from spatialmix_keras.unshuffle import Permutation;"
        "print(list(Permutation.from_seed(14, 14, 5).indices))"
    )
    result = conftest.run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    other = json.loads(result.stdout.strip().splitlines()[-1])
    assert other == list(Permutation.from_seed(14, 14, 5).indices)
    assert other != list(Permutation.from_seed(14, 14, 6).indices)


def test_permutation_json_round_trip_and_shape_check():
    perm = Permutation.from_seed(3, 3, seed=2)
    assert Permutation.from_json(json.loads(json.dumps(perm.to_json()))) == perm
    with pytest.raises(ValueError) as info:
        perm.apply(np.zeros((1, 4, 4, 1)))
    assert "(4, 4) pixels, but the stored permutation shuffles (3, 3)" in str(
        info.value
    )
    bad = perm.to_json() | {"indices": [0] * 9}
    with pytest.raises(ValueError, match="not a permutation"):
        Permutation.from_json(bad)


def test_psnr_matches_numpy():
    rng = np.random.default_rng(4)
    truth = rng.uniform(size=(5, 6, 6, 3)).astype("f4")
    pred = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1).astype("f4")
    mse = ((truth - pred) ** 2).reshape(5, -1).mean(axis=1)
    expected = 10 * np.log10(1 / mse)
    np.testing.assert_allclose(
        unshuffle.psnr(truth, pred).numpy(), expected, rtol=1e-5
    )
    metric = unshuffle.PSNR()
    metric.update_state(truth[:2], pred[:2])
    metric.update_state(truth[2:], pred[2:])
    np.testing.assert_allclose(
        float(metric.result()), expected.mean(), rtol=1e-5
    )
    # Predictions outside [0, 1] are clipped, as an image is shown.
    np.testing.assert_allclose(
        unshuffle.psnr(np.zeros((1, 2, 2, 1)), np.full((1, 2, 2, 1), -3.0)),
        [100.0],
    )


def test_pipeline_pairs_shuffled_and_original_images(data_dir):
    config = common.unshuffle_config()
    config.data_dir, config.small = data_dir, True
    config.unshuffle.image_size = 14
    perm = Permutation.from_seed(14, 14, 0)
    ds, count = unshuffle.pipeline(config, "test", 100, False, perm)
    shuffled, original = next(iter(ds))
    assert count == 500 and original.shape == (100, 14, 14, 1)
    np.testing.assert_array_equal(perm.apply(original).numpy(), shuffled)
    # Area downsampling: each pixel is the mean of a 2x2 block.
    from spatialmix_keras import datasets

    images, _ = datasets.load_arrays("mnist", "test", data_dir, small=True)
    blocks = images[:100].reshape(100, 14, 2, 14, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(original.numpy(), blocks / 255.0, atol=1e-6)
    perm28 = Permutation.from_seed(28, 28, 0)
    with pytest.raises(ValueError, match=r"\(14, 14\) pixels"):
        unshuffle.pipeline(config, "test", 100, False, perm28)


def test_classifier_model_is_refused_for_unshuffling():
    config = common.unshuffle_config()
    config.model.name = "convmixer_tiny"
    with pytest.raises(ValueError, match="model.name='convmixer_tiny'"):
        unshuffle.UnshuffleTask(config).validate(config)


def test_reloaded_export_keeps_its_permutation(tmp_path):
    from spatialmix_keras import export, get_model

    model = get_model("unshuffler_tiny", input_shape=(6, 6, 1), seed=0)
    perm = Permutation.from_seed(6, 6, 11)
    path = export.export_run(
        model,
        str(tmp_path),
        "u",
        files={
            "permutation.json": perm.to_json(),
            "config.json": {
                "dataset": "mnist",
                "freeze": "none",
                "unshuffle": {"image_size": 6},
            },
        },
    )
    loaded, stored, _ = unshuffle.load_export(path)
    assert stored == perm
    x = np.random.default_rng(0).uniform(size=(2, 6, 6, 1)).astype("f4")
    np.testing.assert_allclose(
        np.asarray(loaded(x)),
        keras.ops.convert_to_numpy(model(x)),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="not an un-shuffler export"):
        Permutation.load(str(tmp_path))


@pytest.mark.slow
def test_unshuffler_learns_beyond_shuffled_input_and_mean_image(
    data_dir, tmp_path
):
    """Real learning in ~2 minutes of CPU: MNIST downsampled to 14x14, the
    full training split streamed for 3 x 156 steps of 64 images (~30k
    images), `unshuffler_64_5` (receptive field 31 covers the image), Adam
    with cosine decay from 6e-3, BatchNorm momentum 0.9; the first 1000
    test images. Measured on the 2-core dev CPU while writing this test:
    15.75 dB, against 13.25 dB for the mean image and 8.85 dB for the
    shuffled input."""
    from configs import unshuffle_mnist
    from spatialmix_keras import train

    config = unshuffle_mnist.get_config()
    config.data_dir = data_dir
    config.epochs = 3
    config.steps_per_epoch = 156
    config.test_examples = 1000
    config.export = False
    task = unshuffle.UnshuffleTask(config)
    metrics = train.train_and_evaluate(config, str(tmp_path / "run"), task=task)
    test_ds, _ = unshuffle.pipeline(
        config, "test", 250, False, task.permutation, 1000
    )
    base = unshuffle.baselines(
        test_ds, unshuffle.train_mean_image(config, task.permutation)
    )
    learned = metrics["final_test_psnr"]
    assert learned > base["mean_image_psnr"] + 1.5, (learned, base)
    assert learned > base["shuffled_psnr"] + 5.0, (learned, base)
