"""Training pairs kept in the accelerator's memory (JAX): decoded once, cropped there.

``numpy_data.PairStream`` decodes two image files on the host for every patch and sends
float32 patches to the device. That is enough for a CPU, not for a GPU: an H200 trains
GLADNet on tens of gigapixels a second at a good fraction of its bfloat16 rate, while Pillow
decodes a few hundred megapixels a second on 16 cores and float32 patches over PCIe stop
near 2 gigapixels a second. ``DeviceStream`` decodes every distinct pair once (threads),
stores the images as integers (uint8, or uint16 when a file is 16-bit) in one padded array on
the device, and makes each batch with one jitted gather.

The stream is the same as ``PairStream``'s: element ``g`` is pair ``file_index(seed, g, n)``,
its crop window and its 8-way flip/rotation are the draws ``numpy_data.element`` makes from
seed ``(seed, g)`` (computed on the host, a few microseconds per element, a batch ahead), so it
is a pure function of the seed and the step, a resumed run continues it exactly, and a run
may switch between the two streams when it resumes. The pixel values are those of
``PairStream``'s, bit for bit (the integer over 255, or 65535, as ``images.read`` computes it,
from a table); a test compares the two streams.

Memory: distinct pairs x 2 x (largest height) x (largest width) x 3 bytes (twice that for
16-bit files), on the device and, while loading, on the host: 2,000 pairs of 600x512 take
3.7 GB. Pairs listed several times (a mix's repeats) are stored once.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import TYPE_CHECKING, Sequence

import numpy as np

from gladnet_tf import images as images_lib
from gladnet_tf import numpy_data

if TYPE_CHECKING:  # for annotations only
    import jax


def _load(path_pair):
    """(low, high) of one pair as integers: uint8 when both files are 8-bit, else uint16
    (the values ``numpy_data.read_pair`` reads, times 255 or 65535)."""
    low, high = (images_lib.read(path) for path in path_pair)
    if low.rgb.shape != high.rgb.shape:
        raise ValueError(f"{path_pair[0]}: size {low.rgb.shape[:2]} differs from {path_pair[1]} "
                         f"{high.rgb.shape[:2]}")
    dtype = np.uint16 if max(low.bit_depth, high.bit_depth) > 8 else np.uint8
    scale = np.float32(255.0 if dtype == np.uint8 else 65535.0)
    return tuple(np.rint(image.rgb * scale).astype(dtype) for image in (low, high))


class DeviceStream:
    """Iterator over (low, high) batches of shape (B, P, P, 3), float32 JAX arrays on the
    default device, from batch ``start_step`` on; the interface of ``numpy_data.PairStream``.

    ``workers`` threads decode the files once; ``prefetch`` batches of draws are computed
    ahead on one host thread while the device trains.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], patch_size: int, batch_size: int, seed: int,
                 start_step: int = 0, workers: int | None = None, prefetch: int = 2):
        import jax

        self.pairs, self.patch_size, self.batch_size, self.seed, self.step = numpy_data.stream_settings(
            pairs, patch_size, batch_size, seed, start_step)
        slots, self._slot_of_pair = {}, []
        for low, high in self.pairs:
            key = (os.path.realpath(low), os.path.realpath(high))
            self._slot_of_pair.append(slots.setdefault(key, len(slots)))
        distinct = list(slots)
        with concurrent.futures.ThreadPoolExecutor(workers or min(16, os.cpu_count() or 1)) as pool:
            decoded = list(pool.map(_load, distinct))
        dtype = np.uint16 if any(low.dtype == np.uint16 for low, _ in decoded) else np.uint8
        self._sizes = np.array([low.shape[:2] for low, _ in decoded], dtype=np.int64)
        if (self._sizes < self.patch_size).any():
            small = distinct[int(np.argmin(self._sizes.min(axis=1)))][0]
            raise ValueError(f"{small}: smaller than the patch size {self.patch_size}")
        height, width = self._sizes.max(axis=0)
        arrays = []
        for side in (0, 1):
            host = np.zeros((len(decoded), height, width, 3), dtype)
            for i, pair in enumerate(decoded):
                image = pair[side]
                if image.dtype != dtype:  # an 8-bit pair among 16-bit ones: v * 257 = v / 255 * 65535
                    image = image.astype(dtype) * dtype(257)
                host[i, :image.shape[0], :image.shape[1]] = image
            arrays.append(jax.device_put(host))
            del host
        del decoded
        self._low, self._high = arrays
        # The float32 value of each integer, computed as images.read computes it, so that the
        # batches equal PairStream's bit for bit (XLA may divide by multiplying by 1/255).
        levels = np.iinfo(dtype).max
        self._values = jax.device_put(np.arange(levels + 1, dtype=np.float32) / np.float32(levels))
        self._gather = _make_gather(self.patch_size)
        self._permutations = {}
        self._draw_pool = concurrent.futures.ThreadPoolExecutor(1)
        self._pending = []
        self._prefetch = max(1, int(prefetch))
        self.bytes_on_device = int(self._low.nbytes + self._high.nbytes)

    def _pair_index(self, element):
        """``numpy_data.file_index`` with each epoch's permutation drawn once."""
        n = len(self.pairs)
        epoch, position = divmod(int(element), n)
        permutation = self._permutations.get(epoch)
        if permutation is None:
            permutation = np.random.default_rng(
                [self.seed, numpy_data._EPOCH_SALT, epoch]).permutation(n)
            self._permutations = {epoch: permutation}  # steps move forward: keep one epoch
        return int(permutation[position])

    def draws(self, step: int) -> np.ndarray:
        """Host side of batch ``step``: (slots, tops, lefts, modes), int32 arrays of length B,
        the draws ``numpy_data.element`` makes for the batch's elements."""
        out = np.zeros((4, self.batch_size), np.int32)
        for i in range(self.batch_size):
            element = step * self.batch_size + i
            pair = self._pair_index(element)
            slot = self._slot_of_pair[pair]
            height, width = self._sizes[slot]
            rng = np.random.default_rng([self.seed, int(element)])  # as numpy_data.element
            top = int(rng.integers(0, height - self.patch_size + 1))
            left = int(rng.integers(0, width - self.patch_size + 1))
            out[:, i] = (slot, top, left, int(rng.integers(0, 8)))
        return out

    def batch(self, step: int) -> tuple[jax.Array, jax.Array]:
        """Batch ``step`` of the stream, computed now."""
        return self._gather(self._low, self._high, self._values, *self.draws(step))

    def __iter__(self):
        return self

    def __next__(self):
        while len(self._pending) < self._prefetch:
            self._pending.append(self._draw_pool.submit(self.draws, self.step + len(self._pending)))
        draws = self._pending.pop(0).result()
        self.step += 1
        return self._gather(self._low, self._high, self._values, *draws)

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._draw_pool.shutdown(wait=False, cancel_futures=True)
        self._low = self._high = self._values = None


def _make_gather(patch_size):
    """A jitted ``(lows, highs, values, slots, tops, lefts, modes) -> (low, high)`` batch:
    crop, then ``numpy_data.crop_and_augment``'s augmentation (rot90 by mode // 2, then an
    up-down flip when mode is odd), then each integer's float32 value from ``values``."""
    import jax
    import jax.numpy as jnp

    rotations = [lambda x, k=k: jnp.rot90(x, k) for k in range(4)]

    def augment(patch, mode):
        patch = jax.lax.switch(mode // 2, rotations, patch)
        return jnp.where(mode % 2 == 1, patch[::-1], patch)

    def one(lows, highs, slot, top, left, mode):
        start = (slot, top, left, 0)
        size = (1, patch_size, patch_size, 3)
        low = jax.lax.dynamic_slice(lows, start, size)[0]
        high = jax.lax.dynamic_slice(highs, start, size)[0]
        return augment(low, mode), augment(high, mode)

    @jax.jit
    def gather(lows, highs, values, slots, tops, lefts, modes):
        low, high = jax.vmap(one, in_axes=(None, None, 0, 0, 0, 0))(lows, highs, slots, tops, lefts, modes)
        return values[low.astype(jnp.int32)], values[high.astype(jnp.int32)]

    return gather
