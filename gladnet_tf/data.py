"""Paired training data: find pairs -> decode -> crop -> augment -> batch -> prefetch.

A dataset folder holds ``low/`` and ``high/`` (the original layout's ``normal/`` is accepted
for ``high/``); pairs are matched by file name (stem), never by sort order. ``find_pairs``
checks every pair before training starts (missing partner, unreadable file, content the
pipeline cannot decode, size mismatch) and names each problem.

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

import dataclasses
import logging
import os

import tensorflow as tf

from gladnet_tf import images as images_lib

TRAIN_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")  # what tf.io.decode_image reads
# Contents (as ``images.read`` names them) that tf.io.decode_image decodes: a TIFF renamed
# .png passes the extension check but would stop training at its first use.
TRAIN_FORMATS = ("png", "jpeg", "bmp", "webp")


@dataclasses.dataclass
class PairReport:
    """Result of ``find_pairs``: the usable pairs and one line per problem."""

    pairs: list  # [(low_path, high_path)], sorted by name
    problems: list  # ["path: reason"]
    small: list  # pairs smaller than the patch size (skipped)


def _index_folder(folder):
    by_stem, problems = {}, []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        stem, ext = os.path.splitext(name)
        if not os.path.isfile(path) or name.startswith("."):
            continue
        if ext.lower() not in TRAIN_EXTENSIONS:
            if ext.lower() in images_lib.EXTENSIONS:
                problems.append(f"{path}: {ext} is not supported for training (use PNG, JPEG or BMP)")
            continue
        if stem in by_stem:
            problems.append(f"{path}: same name as {by_stem[stem]} (pairs are matched by name)")
            continue
        by_stem[stem] = path
    return by_stem, problems


def find_pairs(root, patch_size=0, check_contents=True):
    """Lists the (low, high) pairs under ``root`` and every problem with them.

    Args:
        root: folder with ``low/`` and ``high/`` (or ``normal/``).
        patch_size: pairs smaller than this in either side are put in ``small``.
        check_contents: decode every image fully (catches truncated files), not just headers.

    Raises:
        FileNotFoundError: ``root``, ``low/`` or ``high/`` missing.
    """
    low_dir = os.path.join(root, "low")
    high_dir = images_lib.find_high_folder(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: dataset folder not found")
    if not os.path.isdir(low_dir) or high_dir is None:
        raise FileNotFoundError(f"{root}: expected subfolders low/ and high/ (or normal/)")
    low, problems = _index_folder(low_dir)
    high, high_problems = _index_folder(high_dir)
    problems += high_problems
    for stem in sorted(set(low) - set(high)):
        problems.append(f"{low[stem]}: no partner named {stem}.* in {high_dir}")
    for stem in sorted(set(high) - set(low)):
        problems.append(f"{high[stem]}: no partner named {stem}.* in {low_dir}")
    pairs, small = [], []
    for stem in sorted(set(low) & set(high)):
        sizes, bad = [], False
        for path in (low[stem], high[stem]):
            try:
                if check_contents:
                    loaded = images_lib.read(path)
                    if loaded.format not in TRAIN_FORMATS:
                        raise images_lib.ImageError(
                            path, f"content is {loaded.format.upper()}, which training cannot decode "
                                  "(use PNG, JPEG or BMP)"
                        )
                    # The training decoder ignores EXIF orientation: compare stored sizes.
                    sizes.append(images_lib.image_size(path))
                else:
                    sizes.append(images_lib.image_size(path))
            except images_lib.ImageError as error:
                problems.append(str(error))
                bad = True
        if bad:
            continue
        if sizes[0] != sizes[1]:
            problems.append(
                f"{low[stem]}: size {sizes[0][0]}x{sizes[0][1]} differs from its partner "
                f"{high[stem]} ({sizes[1][0]}x{sizes[1][1]})"
            )
            continue
        if patch_size and min(sizes[0]) < patch_size:
            small.append((low[stem], high[stem]))
            continue
        pairs.append((low[stem], high[stem]))
    return PairReport(pairs=pairs, problems=problems, small=small)


# ---- pure ops on (low, high) -------------------------------------------------------------


def read_pair(low_path, high_path):
    """Paths -> (low, high), float32 RGB in [0, 1]. 8- and 16-bit PNG, JPEG, BMP."""

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.float32, expand_animations=False)
        image.set_shape([None, None, 3])
        return image

    return decode(low_path), decode(high_path)


def random_crop_pair(low, high, patch_size, seed):
    """The same ``patch_size`` square window of both images; ``seed`` is a stateless seed."""
    stacked = tf.concat([low, high], axis=-1)  # (H, W, 6): one draw for both
    patch = tf.image.stateless_random_crop(stacked, [patch_size, patch_size, 6], seed=seed)
    return patch[..., :3], patch[..., 3:]


def augment_pair(low, high, seed):
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


def training_dataset(pairs, patch_size, global_batch_size, seed, start_step=0, augment=True):
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


def validation_dataset(pairs):
    """Full images, no augmentation, batch 1: (1, H, W, 3) each, plus the low file's name."""
    names = [os.path.basename(p[0]) for p in pairs]
    dataset = tf.data.Dataset.from_tensor_slices(([p[0] for p in pairs], [p[1] for p in pairs], names))

    @tf.autograph.experimental.do_not_convert
    def load(low_path, high_path, name):
        low, high = read_pair(low_path, high_path)
        return low[None], high[None], name

    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def log_report(report, logger=logging.getLogger(__name__)):
    for line in report.problems:
        logger.warning("bad pair: %s", line)
    for low, _ in report.small:
        logger.info("skipped (smaller than the patch size): %s", low)
