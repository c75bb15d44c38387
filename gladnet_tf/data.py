"""Paired training data: find pairs -> decode -> crop -> augment -> batch -> prefetch.

Finding and checking pairs is ``pairs.find_pairs`` (re-exported here); this module is the
``tf.data`` pipeline over them. ``numpy_data`` is its twin without TensorFlow (JAX training).

Every op is a small pure function on ``(low, high)`` so the two images of a pair can never
drift apart: one random draw decides the crop window and the flip/rotation of both.

Randomness is stateless: element ``g`` of the infinite stream of training examples (``g`` =
step * global_batch + position in the batch) gets its file from a seeded permutation of epoch
``g // num_pairs`` and its crop and augmentation from seed ``(seed, g)``. The stream is thus a
pure function of ``seed``: a resumed run rebuilds it from the step it stopped at, in the same
order, and parallel decoding cannot change it. (The original never shuffled at all:
``random.shuffle(list(...))`` shuffled a temporary copy.)

Layouts: images are float32 RGB in [0, 1], HxWx3; batches are (B, P, P, 3).
"""

from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf

from gladnet_tf.pairs import (  # noqa: F401  (re-exported: data.find_pairs etc.)
    TRAIN_EXTENSIONS, TRAIN_FORMATS, PairReport, find_pairs, log_report)


# ---- pure ops on (low, high) -------------------------------------------------------------


def read_pair(low_path: str | tf.Tensor, high_path: str | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Paths -> (low, high), float32 RGB in [0, 1]. 8- and 16-bit PNG, JPEG, BMP."""

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.float32, expand_animations=False)
        image.set_shape([None, None, 3])
        return image

    return decode(low_path), decode(high_path)


def random_crop_pair(low: tf.Tensor, high: tf.Tensor, patch_size: int,
                     seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The same ``patch_size`` square window of both images; ``seed`` is a stateless seed."""
    stacked = tf.concat([low, high], axis=-1)  # (H, W, 6): one draw for both
    patch = tf.image.stateless_random_crop(stacked, [patch_size, patch_size, 6], seed=seed)
    return patch[..., :3], patch[..., 3:]


def augment_pair(low: tf.Tensor, high: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The original's 8-way augmentation (rot90 by k = 0..3, then optional up-down flip),
    the same draw for both images."""
    mode = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=8, dtype=tf.int32)
    stacked = tf.concat([low, high], axis=-1)
    stacked = tf.image.rot90(stacked, k=mode // 2)
    stacked = tf.cond(mode % 2 == 1, lambda: tf.image.flip_up_down(stacked), lambda: stacked)
    return stacked[..., :3], stacked[..., 3:]


def _element_seeds(seed, element):
    """Two independent stateless seeds for the crop and the augmentation of one element."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(element, tf.int64)])
    seeds = tf.random.experimental.stateless_split(base, num=2)
    return seeds[0], seeds[1]


def _file_index(seed, element, num_pairs):
    """File of element ``g``: position ``g % n`` of epoch ``g // n``'s seeded permutation."""
    epoch = element // num_pairs
    position = element % num_pairs
    keys = tf.random.stateless_uniform([num_pairs], seed=tf.stack([tf.cast(seed, tf.int64) + 1_000_003, epoch]))
    permutation = tf.argsort(keys, stable=True)
    return tf.gather(permutation, position)


def training_dataset(pairs: Sequence[tuple[str, str]], patch_size: int, global_batch_size: int, seed: int,
                     start_step: int = 0, augment: bool = True) -> tf.data.Dataset:
    """Infinite dataset of (low, high) batches of shape (B, P, P, 3), starting at ``start_step``.

    Batch ``s`` is the same whatever ``start_step`` the dataset was built with, so a resumed
    run continues the data order exactly.
    """
    if not pairs:
        raise ValueError("no training pairs")
    low_paths = tf.constant([p[0] for p in pairs])
    high_paths = tf.constant([p[1] for p in pairs])
    num_pairs = len(pairs)

    # Autograph is not needed here (no Python control flow on tensors), and turning it off
    # means tf.data never re-reads this file's source: a run keeps working if the code on
    # disk is edited while it trains.
    @tf.autograph.experimental.do_not_convert
    def load(element):
        index = _file_index(seed, element, num_pairs)
        crop_seed, augment_seed = _element_seeds(seed, element)
        low, high = read_pair(low_paths[index], high_paths[index])
        low, high = random_crop_pair(low, high, patch_size, crop_seed)
        if augment:
            low, high = augment_pair(low, high, augment_seed)
        return low, high

    start = int(start_step) * int(global_batch_size)
    dataset = tf.data.Dataset.counter(start=start, dtype=tf.int64)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(global_batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def validation_dataset(pairs: Sequence[tuple[str, str]]) -> tf.data.Dataset:
    """Full images, no augmentation, batch 1: (1, H, W, 3) each, plus the low file's name."""
    names = [os.path.basename(p[0]) for p in pairs]
    dataset = tf.data.Dataset.from_tensor_slices(([p[0] for p in pairs], [p[1] for p in pairs], names))

    @tf.autograph.experimental.do_not_convert
    def load(low_path, high_path, name):
        low, high = read_pair(low_path, high_path)
        return low[None], high[None], name

    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
