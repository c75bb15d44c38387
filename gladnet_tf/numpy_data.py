"""Paired training data without TensorFlow: numpy and Pillow only (the JAX training path).

The same stream as ``data.training_dataset``, in spirit and in its guarantees, not bit for bit
(decoding and the random draws are numpy's, not TensorFlow's):

- element ``g`` of the infinite stream (``g`` = step * batch + position in the batch) is pair
  ``permutation_e[g % n]`` of epoch ``e = g // n``, the permutation drawn from seed
  ``(seed, 1_000_003, e)``;
- its crop window and its 8-way flip/rotation are drawn from seed ``(seed, g)``, once for both
  images, so the pair never drifts apart.

The stream is a pure function of the seed: batch ``s`` is the same whichever step a run starts
from, so a resumed run continues the data order exactly, and the decoding threads cannot
change it. Pairs come from ``pairs.find_pairs`` (checked before training starts).

Layouts: images float32 RGB in [0, 1], HxWx3; batches ``(low, high)`` of shape (B, P, P, 3).
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Sequence

import numpy as np

from gladnet_tf import images as images_lib

_EPOCH_SALT = 1_000_003  # the permutation's seed differs from every element's


def file_index(seed: int, element: int, num_pairs: int) -> int:
    """Pair of element ``g``: position ``g % n`` of epoch ``g // n``'s seeded permutation."""
    epoch, position = divmod(int(element), int(num_pairs))
    permutation = np.random.default_rng([int(seed), _EPOCH_SALT, epoch]).permutation(num_pairs)
    return int(permutation[position])


def crop_and_augment(low: np.ndarray, high: np.ndarray, patch_size: int, rng: np.random.Generator,
                     augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One ``patch_size`` window of both images, then (``augment``) the original's 8-way
    augmentation (rot90 by k = 0..3, then an optional up-down flip), one draw for both."""
    height, width = low.shape[:2]
    top = int(rng.integers(0, height - patch_size + 1))
    left = int(rng.integers(0, width - patch_size + 1))
    mode = int(rng.integers(0, 8)) if augment else 0
    out = []
    for image in (low, high):
        patch = np.rot90(image[top:top + patch_size, left:left + patch_size], k=mode // 2)
        out.append(np.ascontiguousarray(patch[::-1] if mode % 2 else patch))
    return out[0], out[1]


def read_pair(low_path: str | os.PathLike, high_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Paths -> (low, high), float32 RGB HxWx3 in [0, 1] (8- or 16-bit files)."""
    return images_lib.read(low_path).rgb, images_lib.read(high_path).rgb


def element(pairs: Sequence[tuple[str, str]], patch_size: int, seed: int, index: int,
            augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Element ``index`` of the stream: a (low, high) patch pair, each (P, P, 3) float32."""
    low_path, high_path = pairs[file_index(seed, index, len(pairs))]
    low, high = read_pair(low_path, high_path)
    if low.shape != high.shape:
        raise ValueError(f"{low_path}: size {low.shape[:2]} differs from {high_path} {high.shape[:2]}")
    rng = np.random.default_rng([int(seed), int(index)])
    return crop_and_augment(low, high, patch_size, rng, augment)


def stream_settings(pairs: Sequence[tuple[str, str]], patch_size: int, batch_size: int, seed: int,
                    start_step: int) -> tuple[list[tuple[str, str]], int, int, int, int]:
    """A stream's settings, checked: (list of pairs, patch, batch, seed, first step) as ints.

    Raises ValueError when there are no pairs. Shared by ``PairStream`` and
    ``device_data.DeviceStream``, which must agree on them.
    """
    if not pairs:
        raise ValueError("no training pairs")
    return list(pairs), int(patch_size), int(batch_size), int(seed), int(start_step)


class PairStream:
    """Iterator over (low, high) batches of shape (B, P, P, 3), from batch ``start_step`` on.

    Decoding runs on ``workers`` threads (Pillow releases the GIL while it decodes), up to
    ``prefetch`` batches ahead; batches come out in stream order whatever the threads do.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], patch_size: int, batch_size: int, seed: int,
                 start_step: int = 0, workers: int | None = None, prefetch: int = 2):
        self.pairs, self.patch_size, self.batch_size, self.seed, self.step = stream_settings(
            pairs, patch_size, batch_size, seed, start_step)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1))
        self._pending = []
        self._prefetch = max(1, int(prefetch))

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``step`` of the stream, computed now (no threads)."""
        return self._stack([self._element(step * self.batch_size + i) for i in range(self.batch_size)])

    def _element(self, index):
        return element(self.pairs, self.patch_size, self.seed, index)

    @staticmethod
    def _stack(elements):
        return (np.stack([e[0] for e in elements]), np.stack([e[1] for e in elements]))

    def _submit(self, step):
        first = step * self.batch_size
        return [self._pool.submit(self._element, first + i) for i in range(self.batch_size)]

    def __iter__(self):
        return self

    def __next__(self):
        while len(self._pending) < self._prefetch:
            self._pending.append(self._submit(self.step + len(self._pending)))
        futures = self._pending.pop(0)
        self.step += 1
        return self._stack([f.result() for f in futures])

    def close(self) -> None:
        for futures in self._pending:
            for future in futures:
                future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
