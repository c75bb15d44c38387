"""The GLADNet network as a Keras 3 functional model.

Layout and ranges: the model takes a batch of RGB images, float32 in [0, 1], NHWC, of any
height and width >= 1, and returns the enhanced batch with the same shape. The output is the
final ReLU of the original graph: float32 in [0, inf), not clipped (values slightly above 1
occur); clip to [0, 1] when converting to 8-bit.

The graph is the one of the original ``FG()`` (weichen582/GLADNet, model.py), checked against
its saved meta graph:

    input (B, H, W, 3)
      global branch
        nearest resize -> (B, 96, 96, 3)
        6 x [conv 3x3, 64, stride 2, SAME, ReLU]   96 -> 48, 24, 12, 6, 3, 2
        5 x [nearest resize to 3, 6, 12, 24, 48 -> conv 3x3, 64, ReLU -> + encoder map]
        nearest resize -> 96 -> conv 3x3, 64, ReLU             (B, 96, 96, 64)
        nearest resize -> (B, H, W, 64)
      detail branch
        concat [illumination (64), input (3)] -> 4 x [conv 3x3, 128, ReLU]
        -> conv 3x3, 3, ReLU                                    (B, H, W, 3)

All eight resizes are TF1 ``resize_nearest_neighbor`` (``align_corners=False``,
``half_pixel_centers=False``); see ``LegacyNearestResize`` for why that matters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

_PACKAGE = "gladnet_tf"

Tensor = Any  # a tensor of the Keras backend (TensorFlow, JAX or PyTorch) or a numpy array


def legacy_source_indices(in_size: int | Tensor, out_size: int | Tensor) -> Tensor:
    """Source row (or column) of each output of TF1's nearest resize, int32 of length out_size.

    Each index is in [0, in_size - 1]; both sizes must be >= 1.

    The rule of TensorFlow's kernel: ``min(floor(float32(i) * (float32(in) / float32(out))),
    in - 1)`` (no half-pixel centres, no corner alignment). Written with ``keras.ops`` so it
    runs on every backend, with Python ints (static shapes) or TF scalars (dynamic shapes,
    the exported graphs). The division is ``divide_no_nan`` (``out`` >= 1, so the same
    value) because graph optimisers leave that op alone (see ``export``).
    """
    scale = ops.divide_no_nan(ops.cast(in_size, "float32"), ops.cast(out_size, "float32"))
    product = ops.cast(ops.arange(out_size), "float32") * scale
    return ops.minimum(ops.cast(ops.floor(product), "int32"), ops.cast(in_size, "int32") - 1)


def gather_resize(images: Tensor, size: Sequence[int] | Tensor) -> Tensor:
    """(B, h, w, C) -> (B, size[0], size[1], C) by two gathers at ``legacy_source_indices``.

    ``images`` is NHWC of any dtype and value range; the result has the same dtype and values
    (nearest neighbour picks pixels, it computes none). ``size`` is ``(height, width)``.
    """
    shape = ops.shape(images)
    rows = legacy_source_indices(shape[1], size[0])
    cols = legacy_source_indices(shape[2], size[1])
    return ops.take(ops.take(images, rows, axis=1), cols, axis=2)


def _on_tensorflow():
    return keras.backend.backend() == "tensorflow"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LegacyNearestResize(keras.layers.Layer):
    """Nearest-neighbour resize with the TF1 index rule: source = floor(i * in / out).

    Why not ``tf.image.resize(method="nearest")`` or ``keras.layers.Resizing``: in TF2 both
    use half-pixel centres (source = floor((i + 0.5) * in / out)), a different function. The
    original GLADNet graph was built with TF 1.10's ``tf.image.resize_nearest_neighbor``,
    whose only behaviour was ``align_corners=False, half_pixel_centers=False``; with the
    half-pixel rule 72-82 % of the output pixels of the original weights change. On the
    TensorFlow backend this layer calls TensorFlow's ``ResizeNearestNeighbor`` op with both
    flags off, which is exactly the op in the original graph (fast, with a registered
    gradient, and LiteRT/ONNX equivalents); on JAX and PyTorch it gathers at
    ``legacy_source_indices`` (the same pixels, so the same outputs).

    Args:
        size: ``(height, width)`` to resize to, or ``None`` to resize the first input to the
            spatial size of a second input (called as ``layer([x, reference])``).
    """

    def __init__(self, size: Sequence[int] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = None if size is None else (int(size[0]), int(size[1]))

    def call(self, inputs: Tensor | Sequence[Tensor]) -> Tensor:
        """Resizes NHWC ``inputs`` (any dtype; values kept), or ``[images, reference]``.

        With ``size`` set, ``inputs`` is one (B, h, w, C) tensor; with ``size=None`` it is a
        pair and the images are resized to the height and width of the NHWC ``reference``.
        """
        if self.size is None:
            images, reference = inputs
            if _on_tensorflow():
                import tensorflow as tf

                size = tf.shape(reference)[1:3]
            else:
                size = ops.shape(reference)[1:3]
        else:
            images = inputs
            size = self.size
        return self.resize(images, size)

    def resize(self, images: Tensor, size: Sequence[int] | Tensor) -> Tensor:
        """(B, h, w, C) -> (B, size[0], size[1], C), same dtype, legacy index rule."""
        if not _on_tensorflow():
            return gather_resize(images, size)
        import tensorflow as tf

        return tf.raw_ops.ResizeNearestNeighbor(
            images=images, size=tf.convert_to_tensor(size, dtype=tf.int32),
            align_corners=False, half_pixel_centers=False
        )

    def compute_output_shape(
        self, input_shape: tuple[int | None, ...] | Sequence[tuple[int | None, ...]]
    ) -> tuple[int | None, ...]:
        """(B, size[0], size[1], C), or (B, H_ref, W_ref, C) for ``[images, reference]``."""
        if self.size is None:
            images_shape, reference_shape = input_shape
            return (images_shape[0], reference_shape[1], reference_shape[2], images_shape[3])
        return (input_shape[0], self.size[0], self.size[1], input_shape[3])

    def get_config(self) -> dict[str, Any]:
        """The layer's config with ``size`` as ``[height, width]`` or None."""
        config = super().get_config()
        config.update({"size": None if self.size is None else list(self.size)})
        return config


def _conv(filters, strides, name):
    return keras.layers.Conv2D(
        filters,
        kernel_size=3,
        strides=strides,
        padding="same",  # TF's SAME: for stride 2 the extra padding goes bottom/right, as in TF1
        activation="relu",
        use_bias=True,
        name=name,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GLADNet(keras.Model):
    """GLobal illumination-Aware and Detail-preserving Network.

    A functional graph built in ``__init__`` (the keras-hub pattern), so the model can be
    summarised, saved as ``.keras`` and reloaded in a fresh process, and its layers read by
    name. Layer names:

    - ``global_resize_in``: input -> ``global_size`` x ``global_size``.
    - ``global_down_1`` .. ``global_down_6``: stride-2 encoder convs (FG/conv2d .. conv2d_5).
    - ``global_resize_up_1`` .. ``global_resize_up_6``, ``global_up_1`` .. ``global_up_6``:
      the decoder's resizes and convs (FG/conv2d_6 .. conv2d_11); ``global_skip_1`` ..
      ``global_skip_5`` add the encoder maps.
    - ``global_resize_out``: the illumination map back to the input's height and width.
    - ``detail_concat``, ``detail_conv_1`` .. ``detail_conv_5`` (FG/conv2d_12 .. conv2d_16).

    Args:
        global_size: side of the square the global branch works on (96 in the paper).
        global_filters: channels of the global branch (64).
        detail_filters: channels of the detail branch (128).
        global_depth: number of stride-2 encoder convs (6: 96 -> 2).
        detail_depth: number of detail convs including the 3-channel output conv (5).

    Input: ``(B, H, W, 3)`` float32 RGB in [0, 1]. Output: ``(B, H, W, 3)`` float32 in
    [0, inf) (ReLU, not clipped).
    """

    def __init__(
        self,
        global_size: int = 96,
        global_filters: int = 64,
        detail_filters: int = 128,
        global_depth: int = 6,
        detail_depth: int = 5,
        name: str = "gladnet",
        **kwargs: Any,
    ) -> None:
        if global_depth < 1 or detail_depth < 1:
            raise ValueError(
                f"global_depth and detail_depth must be >= 1, got {global_depth}, {detail_depth}"
            )
        image = keras.Input(shape=(None, None, 3), dtype="float32", name="image")

        # Global illumination branch.
        x = LegacyNearestResize((global_size, global_size), name="global_resize_in")(image)
        # (B, 96, 96, 3)
        encoder_maps = []
        for i in range(global_depth):
            x = _conv(global_filters, 2, f"global_down_{i + 1}")(x)
            encoder_maps.append(x)
        # Static sizes of the encoder maps: SAME stride 2 gives ceil(n / 2).
        sizes = [global_size]
        for _ in range(global_depth):
            sizes.append(-(-sizes[-1] // 2))
        # sizes = [96, 48, 24, 12, 6, 3, 2]; x is (B, 2, 2, 64)
        for i in range(global_depth - 1):
            target = sizes[global_depth - 1 - i]  # 3, 6, 12, 24, 48
            x = LegacyNearestResize((target, target), name=f"global_resize_up_{i + 1}")(x)
            x = _conv(global_filters, 1, f"global_up_{i + 1}")(x)
            x = keras.layers.Add(name=f"global_skip_{i + 1}")(
                [x, encoder_maps[global_depth - 2 - i]]
            )
        x = LegacyNearestResize((global_size, global_size), name=f"global_resize_up_{global_depth}")(x)
        illumination = _conv(global_filters, 1, f"global_up_{global_depth}")(x)
        # (B, 96, 96, 64): the original's p_deconv6
        illumination_full = LegacyNearestResize(None, name="global_resize_out")([illumination, image])
        # (B, H, W, 64)

        # Detail reconstruction branch.
        x = keras.layers.Concatenate(axis=-1, name="detail_concat")([illumination_full, image])
        # (B, H, W, 67): illumination first, then RGB, as in the original
        for i in range(detail_depth - 1):
            x = _conv(detail_filters, 1, f"detail_conv_{i + 1}")(x)
        # The original ends with a ReLU, not a sigmoid, and does not clip.
        output = _conv(3, 1, f"detail_conv_{detail_depth}")(x)
        # (B, H, W, 3)

        super().__init__(inputs=image, outputs=output, name=name, **kwargs)

        self.global_size = global_size
        self.global_filters = global_filters
        self.detail_filters = detail_filters
        self.global_depth = global_depth
        self.detail_depth = detail_depth

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, plus ``name`` and ``trainable``: JSON-serialisable."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "global_size": self.global_size,
            "global_filters": self.global_filters,
            "detail_filters": self.detail_filters,
            "global_depth": self.global_depth,
            "detail_depth": self.detail_depth,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GLADNet:
        """A new GLADNet (random weights) from what ``get_config`` returned."""
        return cls(**config)

    @classmethod
    def from_preset(cls, name: str = "default") -> GLADNet:
        """A GLADNet with shipped weights: ``GLADNet.from_preset("gladnet_backlit3_p256")``.

        ``name`` is a preset of ``gladnet_tf.presets()`` (the shipped ``checkpoints/`` files
        without their sha256 suffix) or ``"default"`` (the weights ``test.py`` uses). An
        unknown name raises ValueError listing the known ones. Nothing is downloaded: the
        weights travel with the checkout and the installed package.
        """
        from gladnet_tf import checkpoints

        return load(checkpoints.preset_path(name))

    @property
    def global_layer_names(self) -> list[str]:
        """Names of the layers that compute the 96x96 illumination map, in order."""
        return [layer.name for layer in self.layers if layer.name.startswith("global_")]

    def global_branch(self) -> keras.Model:
        """A model sharing these weights: image (B, H, W, 3) -> illumination (B, 96, 96, 64).

        Input float32 RGB in [0, 1], NHWC; output float32 in [0, inf) (the last ReLU).
        """
        return keras.Model(
            self.input, self.get_layer(f"global_up_{self.global_depth}").output, name="global_branch"
        )


def save(model: keras.Model, path: str | os.PathLike) -> str:
    """Saves weights (``*.weights.h5``) or the whole model (``*.keras``), atomically.

    Writes to a temporary file in the same folder and renames it, so a kill never leaves a
    half-written file under ``path``. Returns ``path`` as a string.
    """
    from gladnet_tf import atomic

    path = os.fspath(path)
    if path.endswith(".keras"):
        suffix = ".keras"
    elif path.endswith(".weights.h5"):
        suffix = ".weights.h5"
    else:
        raise ValueError(f"{path}: use a name ending in .weights.h5 (weights) or .keras (model)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.temporary_path(path, suffix) as temporary:
        if suffix == ".keras":
            model.save(temporary)
        else:
            model.save_weights(temporary)
    return path


def create(dtype_policy: str | keras.DTypePolicy = "float32", **config: Any) -> GLADNet:
    """``GLADNet(**config)`` whose layers use ``dtype_policy``, e.g. ``"mixed_bfloat16"``.

    With a mixed policy the layers compute in bfloat16 and keep float32 weights, so weights
    files move freely between precisions. Keras reads the global policy when a layer is
    created; it is set only for that moment and restored, so it never leaks into models
    built later in the process.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy)
    try:
        return GLADNet(**config)
    finally:
        keras.config.set_dtype_policy(previous)


def load(path: str | os.PathLike, **config: Any) -> GLADNet:
    """Returns a GLADNet from ``*.keras`` (whole model) or ``*.weights.h5`` (weights).

    ``config`` overrides the constructor arguments used for a weights-only file. Raises
    ``FileNotFoundError`` / ``ValueError`` naming the file when it cannot be used: a model is
    never silently left with random weights.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        if path.endswith(".keras"):
            model = keras.models.load_model(path)
            if not isinstance(model, GLADNet):
                raise ValueError(f"{path}: holds a {type(model).__name__}, not a GLADNet")
            return model
        if path.endswith(".weights.h5"):
            model = GLADNet(**config)
            model.load_weights(path)
            return model
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path}: cannot load GLADNet weights ({error})") from error
    raise ValueError(f"{path}: unknown weights format (expected .keras or .weights.h5)")
