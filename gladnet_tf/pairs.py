"""Finding and checking training pairs (no TensorFlow: every backend's data path uses it).

A dataset folder holds ``low/`` and ``high/`` (the original layout's ``normal/`` is accepted
for ``high/``); pairs are matched by file name (stem), never by sort order. ``find_pairs``
checks every pair before training starts (missing partner, unreadable file, content the
pipeline cannot decode, size mismatch) and names each problem.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING

from gladnet_tf import images as images_lib

if TYPE_CHECKING:  # for annotations only
    from gladnet_tf.config import TrainConfig

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


def index_folder(folder: str | os.PathLike) -> tuple[dict[str, str], list[str]]:
    """``({stem: path}, [problem lines])`` of the trainable images directly in ``folder``."""
    by_stem, problems = {}, []
    for path in images_lib.find_images(folder, files_only=True):
        stem, ext = os.path.splitext(os.path.basename(path))
        if ext.lower() not in TRAIN_EXTENSIONS:
            problems.append(f"{path}: {ext} is not supported for training (use PNG, JPEG or BMP)")
            continue
        if stem in by_stem:
            problems.append(f"{path}: same name as {by_stem[stem]} (pairs are matched by name)")
            continue
        by_stem[stem] = path
    return by_stem, problems


def find_pairs(root: str | os.PathLike, patch_size: int = 0, check_contents: bool = True) -> PairReport:
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
    low, problems = index_folder(low_dir)
    high, high_problems = index_folder(high_dir)
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


def log_report(report: PairReport, logger: logging.Logger = logging.getLogger(__name__)) -> None:
    for line in report.problems:
        logger.warning("bad pair: %s", line)
    for low, _ in report.small:
        logger.info("skipped (smaller than the patch size): %s", low)


def training_pairs(
    config: TrainConfig, logger: logging.Logger = logging.getLogger(__name__),
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(training pairs, validation pairs) of a TrainConfig, checked and logged.

    Raises ``run_folder.TrainingError`` when ``config.data`` has problems (unless
    ``skip_bad_pairs``) or no usable pair.
    """
    from gladnet_tf.run_folder import TrainingError

    report = find_pairs(config.data, config.patch_size)
    log_report(report, logger)
    if report.problems and not config.skip_bad_pairs:
        raise TrainingError(
            f"{len(report.problems)} problem(s) in {config.data} (fix them or pass --skip_bad_pairs):\n  "
            + "\n  ".join(report.problems)
        )
    if report.small:
        logger.info("%d pair(s) smaller than %d px skipped", len(report.small), config.patch_size)
    if not report.pairs:
        raise TrainingError(f"{config.data}: no usable training pairs")
    val_pairs = []
    if config.val_data:
        val_report = find_pairs(config.val_data)
        log_report(val_report, logger)
        val_pairs = val_report.pairs
    return report.pairs, val_pairs
