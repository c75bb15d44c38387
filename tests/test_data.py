"""The paired pipeline: pair checks, shared random draws, determinism and resumption."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gladnet_tf import data


def write_pair(root, name, low, high, high_folder="high"):
    os.makedirs(root / "low", exist_ok=True)
    os.makedirs(root / high_folder, exist_ok=True)
    Image.fromarray(low).save(root / "low" / name)
    Image.fromarray(high).save(root / high_folder / name)


def gradient_image(height, width, seed):
    rng = np.random.default_rng(seed)
    return (rng.random((height, width, 3)) * 255).astype(np.uint8)


@pytest.fixture
def dataset_dir(tmp_path):
    for i in range(5):
        high = gradient_image(40, 48, i)
        write_pair(tmp_path, f"{i}.png", high // 4, high)
    return tmp_path


def test_pairs_are_matched_by_name(tmp_path):
    write_pair(tmp_path, "b.png", gradient_image(20, 20, 1), gradient_image(20, 20, 1), "normal")
    write_pair(tmp_path, "a.png", gradient_image(20, 20, 2), gradient_image(20, 20, 2), "normal")
    report = data.find_pairs(tmp_path)
    assert [os.path.basename(l) for l, _ in report.pairs] == ["a.png", "b.png"]
    assert all(os.path.basename(l) == os.path.basename(h) for l, h in report.pairs)
    assert all("/normal/" in h for _, h in report.pairs)


def test_problems_are_named_before_training(dataset_dir):
    Image.fromarray(gradient_image(20, 20, 9)).save(dataset_dir / "low" / "orphan.png")
    write_pair(dataset_dir, "sizes.png", gradient_image(20, 20, 1), gradient_image(21, 20, 1))
    (dataset_dir / "low" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (dataset_dir / "high" / "broken.png").write_bytes((dataset_dir / "high" / "0.png").read_bytes())
    write_pair(dataset_dir, "tiny.png", gradient_image(8, 8, 1), gradient_image(8, 8, 1))
    report = data.find_pairs(dataset_dir, patch_size=16)
    text = "\n".join(report.problems)
    assert "orphan.png: no partner" in text
    assert "sizes.png: size 20x20 differs from its partner" in text
    assert "broken.png" in text
    assert len(report.problems) == 3
    assert [os.path.basename(l) for l, _ in report.small] == ["tiny.png"]
    assert len(report.pairs) == 5


def test_crop_and_augment_use_one_draw_for_both_images():
    high = tf.random.stateless_uniform([30, 40, 3], seed=[1, 2])
    low = high * 0.25
    for element in range(10):
        seed = tf.constant([element, 7], tf.int64)
        l, h = data.random_crop_pair(low, high, 16, seed)
        l, h = data.augment_pair(l, h, seed)
        np.testing.assert_allclose(l.numpy(), h.numpy() * 0.25, rtol=1e-6)


def test_augment_covers_the_eight_modes():
    image = tf.reshape(tf.range(9 * 3, dtype=tf.float32), [3, 3, 3])
    outcomes = {data.augment_pair(image, image, tf.constant([s, 0], tf.int64))[0].numpy().tobytes() for s in range(200)}
    assert len(outcomes) == 8


def test_ops_give_the_same_result_eagerly_and_inside_dataset_map():
    high = tf.random.stateless_uniform([30, 40, 3], seed=[3, 4])
    seed = tf.constant([5, 6], tf.int64)
    eager = data.augment_pair(*data.random_crop_pair(high * 0.5, high, 12, seed), seed)
    mapped = next(iter(tf.data.Dataset.from_tensors((high * 0.5, high)).map(
        lambda l, h: data.augment_pair(*data.random_crop_pair(l, h, 12, seed), seed))))
    for a, b in zip(eager, mapped):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_training_stream_is_deterministic_and_resumable(dataset_dir):
    pairs = data.find_pairs(dataset_dir).pairs
    full = [b[0].numpy() for b in data.training_dataset(pairs, 16, 2, seed=3).take(6)]
    resumed = [b[0].numpy() for b in data.training_dataset(pairs, 16, 2, seed=3, start_step=4).take(2)]
    np.testing.assert_array_equal(full[4], resumed[0])
    np.testing.assert_array_equal(full[5], resumed[1])
    other_seed = next(iter(data.training_dataset(pairs, 16, 2, seed=4)))[0].numpy()
    assert not np.array_equal(full[0], other_seed)
    assert full[0].shape == (2, 16, 16, 3) and full[0].dtype == np.float32


def test_each_epoch_visits_every_pair_once_in_a_shuffled_order(dataset_dir):
    pairs = data.find_pairs(dataset_dir).pairs
    indices = [int(data._file_index(11, g, len(pairs))) for g in range(3 * len(pairs))]
    epochs = [indices[i * 5 : (i + 1) * 5] for i in range(3)]
    assert all(sorted(e) == list(range(5)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1  # shuffled differently per epoch


def test_validation_dataset_keeps_full_images(dataset_dir):
    pairs = data.find_pairs(dataset_dir).pairs
    low, high, name = next(iter(data.validation_dataset(pairs)))
    assert low.shape == (1, 40, 48, 3) and name.numpy() == b"0.png"
    np.testing.assert_allclose(low.numpy(), (np.round(high.numpy() * 255).astype(int) // 4) / 255, atol=1e-6)
