"""Exporting GLADNet for deployment: TF Serving SavedModel, LiteRT (TFLite) and ONNX.

    python -m gladnet_tf.export --weights FILE --format savedmodel|litert|onnx --output PATH
                                [--overwrite] [--opset 17] [--noverify]

``--weights`` takes a ``.weights.h5`` or ``.keras`` file (default: the shipped weights named in
``checkpoints/MANIFEST.json``). Every artefact is written beside ``PATH`` under a temporary
name, checked against the Keras model on a 37x53 test image (``--noverify`` skips this), and
only then renamed to ``PATH``, so a killed export never leaves a half-written model and a
failed check installs nothing. An existing ``PATH`` is refused unless ``--overwrite``.

Exit codes: 0 written; 1 conversion or parity check failed; 2 nothing could start (bad flags,
missing or unreadable weights, ``PATH`` exists, an optional package missing). Each error is
reported on one line starting with ``error:`` that names the file concerned.

Formats, all with dynamic batch (except LiteRT), height and width:

=============  ==========================================  ========================================
format         input                                       output
=============  ==========================================  ========================================
savedmodel     ``serving_default``: uint8 ``images``        uint8 ``enhanced`` (B, H, W, 3):
               (B, H, W, 3), RGB 0-255                      round(clip(model(x / 255), 0, 1) * 255)
               ``enhance_float``: float32 ``images``        float32 ``enhanced``: the raw output,
               (B, H, W, 3), RGB in [0, 1]                  [0, inf), not clipped
litert         float32 ``images`` (1, H, W, 3) in [0, 1]    float32 ``enhanced``, raw output
onnx           float32 ``images`` (B, H, W, 3) in [0, 1]    float32 ``enhanced``, raw output
=============  ==========================================  ========================================

The uint8 signature rounds exactly as ``gladnet_tf.images.quantize(output, 8)`` does (clip to
[0, 1], times 255, plus 0.5, truncate: round half up), so TF Serving answers are bit-identical
to the PNGs that ``test.py`` writes.

TF Serving
----------
TF Serving loads numbered version folders, so export to ``MODELS/gladnet/1``; a later export to
``MODELS/gladnet/2`` appears atomically and is picked up. With the stock REST API on port 8501,
``POST /v1/models/gladnet:predict`` takes a JSON body in row form, one entry of ``instances``
per image (all images of one request must have the same height and width), here a single
2x2 image as nested lists (rows of pixels of [R, G, B] values 0-255):

    {"signature_name": "serving_default", "instances": [[[[12, 30, 7], [9, 11, 40]], [[0, 0, 0], [255, 128, 64]]]]}

and answers ``{"predictions": [[[[r, g, b], [r, g, b]], [[r, g, b], [r, g, b]]]]}`` with
uint8 values. The column form is equivalent and answers ``{"outputs": [...]}``:

    {"signature_name": "serving_default", "inputs": {"images": [[[[12, 30, 7], [9, 11, 40]], [[0, 0, 0], [255, 128, 64]]]]}}

With ``"signature_name": "enhance_float"`` the values are floats in [0, 1] and the answer is the
raw float output. ``serving_default`` is also the signature used when none is named. In
Python, ``tf.saved_model.load(PATH).signatures["serving_default"](images=uint8_batch)`` returns
``{"enhanced": uint8_batch}``; nothing from this package is needed to load or run it.

LiteRT
------
Converted with ``tf.lite.TFLiteConverter`` (still part of TensorFlow 2.21, no deprecation
warning) from a concrete function of input shape (1, None, None, 3), float32, no quantisation.
TensorFlow's own ``tf.lite.Interpreter`` is deprecated in 2.21 (it warns that it is scheduled
for deletion) in favour of the ``ai-edge-litert`` package, so ``litert_interpreter`` uses
``ai_edge_litert.interpreter.Interpreter`` and falls back to ``tf.lite.Interpreter`` only where
that package is absent. Set the image size at run time (``run_litert`` does this)::

    interpreter = Interpreter(model_path="gladnet.tflite")
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [1, height, width, 3], strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, image[None])  # float32 in [0, 1]
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]

LiteRT's RESIZE_NEAREST_NEIGHBOR picks the same source pixels as TensorFlow's op (checked for
every side 1-199 and some up to 4000, to 96 and from it), so the LiteRT model keeps the op.

ONNX
----
Needs the extras of ``requirements-export.txt`` (``tf2onnx``, ``onnx``; ``onnxruntime`` to run
and check). Converted with ``tf2onnx.convert.from_function`` at opset 17 (``--opset``). tf2onnx
maps the legacy resize to ``Resize(mode="nearest", coordinate_transformation_mode="asymmetric",
nearest_mode="floor")``, the right attributes, yet ONNX Runtime then picks other pixels than
TensorFlow at some sizes: it computes the source coordinate as ``i / (out / in)`` where
TensorFlow computes ``i * (in / out)``, and the two float32 roundings disagree where
``i * in / out`` is an integer (6 of the 96 rows when a side of 80 goes to 96; also sides 20,
40, 112... going to 96 and 74, 104... coming from it). A one-pixel shift of whole rows of the
illumination map is far above float noise: with tf2onnx's ``Resize`` and the tests' random
weights, ONNX Runtime is off by 0.77 (max abs) at 64x80 and 0.57 at 20x112, while 37x53 happens
to be unaffected (4.5e-6). So the ONNX graph does not use ``Resize``: it gathers rows and
columns at indices computed exactly as TensorFlow's kernel does
(``floor(float32(i) * (float32(in) / float32(out)))``, clamped to ``in - 1``). The division
is written as ``tf.math.divide_no_nan`` (an ONNX ``Div``; ``out`` is never 0): TensorFlow's
graph optimiser, which tf2onnx runs before converting, rewrites a plain division by the
constant 96 into a multiplication by 1/96 and pushes ``i * (in / 96)`` into ``in * (i / 96)``,
both of which round differently (one index moves for sides 108, 112, 200...), and it leaves
``DivNoNan`` alone. For the same reason the SavedModel's uint8 signature turns pixels into
floats with a 256-entry table of ``v / 255`` rather than a division, which the optimiser
would turn into ``v * (1 / 255)`` (different in the last bit for 126 of the 256 values).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from gladnet_tf import images as images_lib
from gladnet_tf import model as model_lib

if TYPE_CHECKING:
    import onnx
    import onnxruntime

FORMATS = ("savedmodel", "litert", "onnx")
SERVING_SIGNATURE = "serving_default"
FLOAT_SIGNATURE = "enhance_float"
INPUT_NAME = "images"
OUTPUT_NAME = "enhanced"
DEFAULT_OPSET = 17
VERIFY_SHAPE = (1, 37, 53, 3)  # not a multiple of 96: half-pixel and legacy resizes differ
VERIFY_TOLERANCE = 1e-4

ONNX_EXTRAS_HINT = "install the export extras: pip install -r requirements-export.txt"


class MissingExtraError(ImportError):
    """An optional package needed for a format is not installed."""


class VerificationError(RuntimeError):
    """An exported model does not reproduce the Keras model."""


# ---- shared pieces ------------------------------------------------------------------------


quantize_uint8 = images_lib.quantize_tf  # the graph's output rule: see images.quantize


def uint8_to_float(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels (any shape) -> ``pixels / 255`` in float32 in [0, 1], bit for bit as NumPy
    and ``images.read`` compute it.

    A lookup table: a graph optimiser would rewrite a division by the constant 255 as a
    multiplication by its reciprocal, which rounds differently.
    """
    table = tf.constant(np.arange(256, dtype=np.float32) / np.float32(255))
    return tf.gather(table, tf.cast(pixels, tf.int32))


def _model_variables(model):
    # The tf.Variables behind the Keras variables: a trackable that holds them is all that a
    # SavedModel or the LiteRT converter needs (no Keras object is serialised).
    return [variable.value for variable in model.variables]


class ServingModule(tf.Module):
    """The SavedModel's root: the weights and the two signature functions.

    ``serve_uint8`` (signature ``serving_default``) and ``enhance_float`` (signature
    ``enhance_float``) both take ``images`` of shape (None, None, None, 3) and return
    ``{"enhanced": ...}``. The Keras model is only captured by the functions' closures.
    """

    def __init__(self, model: keras.Model) -> None:
        super().__init__(name="gladnet")
        self.model_variables = _model_variables(model)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT_NAME)])
        def serve_uint8(images):
            output = model(uint8_to_float(images), training=False)
            return {OUTPUT_NAME: quantize_uint8(output)}

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name=INPUT_NAME)])
        def enhance_float(images):
            return {OUTPUT_NAME: model(images, training=False)}

        self.serve_uint8 = serve_uint8
        self.enhance_float = enhance_float

    def signatures(self) -> dict:
        """Signature name -> concrete function, for ``tf.saved_model.save``."""
        return {
            SERVING_SIGNATURE: self.serve_uint8.get_concrete_function(),
            FLOAT_SIGNATURE: self.enhance_float.get_concrete_function(),
        }


def _verification_batch(shape=VERIFY_SHAPE, seed=0):
    """A fixed random test batch: uint8 and the same pixels as float32 (x / 255)."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    return pixels, pixels.astype(np.float32) / np.float32(255)


def _max_abs(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise VerificationError(f"output shape {a.shape} differs from the Keras model's {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


# ---- SavedModel ---------------------------------------------------------------------------


def write_savedmodel(model: keras.Model, path: str) -> str:
    """Writes the SavedModel to the (new) folder ``path``, not atomically: see ``export``."""
    module = ServingModule(model)
    tf.saved_model.save(module, path, signatures=module.signatures())
    return path


def verify_savedmodel(model: keras.Model, path: str, tolerance: float = VERIFY_TOLERANCE) -> float:
    """Loads the SavedModel and compares both signatures with ``model`` on a 37x53 image;
    returns the max abs difference of the float outputs (``VerificationError`` above
    ``tolerance``, or when uint8 is not the rounded float output)."""
    loaded = tf.saved_model.load(path)
    pixels, floats = _verification_batch()
    reference = model(floats, training=False).numpy()
    as_float = loaded.signatures[FLOAT_SIGNATURE](images=tf.constant(floats))[OUTPUT_NAME].numpy()
    as_uint8 = loaded.signatures[SERVING_SIGNATURE](images=tf.constant(pixels))[OUTPUT_NAME].numpy()
    worst = _max_abs(as_float, reference)
    if not worst <= tolerance:
        raise VerificationError(f"{path}: enhance_float differs from the Keras model by {worst:.3g}")
    if as_uint8.dtype != np.uint8 or not np.array_equal(as_uint8, images_lib.quantize(as_float, 8)):
        raise VerificationError(f"{path}: serving_default is not the rounded enhance_float output")
    return worst


# ---- LiteRT -------------------------------------------------------------------------------


def litert_bytes(model: keras.Model) -> bytes:
    """The LiteRT flatbuffer: float32 (1, H, W, 3) -> float32 raw output, H and W dynamic."""
    holder = tf.Module()
    holder.model_variables = _model_variables(model)  # frozen into constants by the converter

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name=INPUT_NAME)])
    def enhance(images):
        return {OUTPUT_NAME: model(images, training=False)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([enhance.get_concrete_function()], holder)
    return converter.convert()


def litert_interpreter(model_path: str | None = None, model_content: bytes | None = None) -> Any:
    """A LiteRT interpreter of a file or of flatbuffer bytes: ``ai_edge_litert``'s
    ``Interpreter`` where installed, else ``tf.lite.Interpreter`` (the same API)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter  # deprecated in TF 2.21 but still present
    return Interpreter(model_path=model_path, model_content=model_content)


def run_litert(interpreter: Any, image: np.ndarray) -> np.ndarray:
    """Runs one image, (H, W, 3) or (1, H, W, 3) float32 in [0, 1]; returns the raw output
    (float32 in [0, inf)) of the same rank."""
    batch = np.asarray(image, dtype=np.float32)
    single = batch.ndim == 3
    if single:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[0] != 1 or batch.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (1, H, W, 3), got shape {np.shape(image)}")
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], list(batch.shape), strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], batch)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return output[0] if single else output


def write_litert(model: keras.Model, path: str) -> str:
    """Writes the LiteRT flatbuffer (``litert_bytes``) to ``path``, not atomically: see
    ``export``."""
    _write_file(path, litert_bytes(model))
    return path


def verify_litert(model: keras.Model, path: str, tolerance: float = VERIFY_TOLERANCE) -> float:
    """Runs the LiteRT file on a 37x53 image; returns the max abs difference from ``model``
    (``VerificationError`` above ``tolerance``)."""
    interpreter = litert_interpreter(model_path=path)
    _, floats = _verification_batch()
    worst = _max_abs(run_litert(interpreter, floats), model(floats, training=False).numpy())
    if not worst <= tolerance:
        raise VerificationError(f"{path}: the LiteRT model differs from the Keras model by {worst:.3g}")
    return worst


# ---- ONNX ---------------------------------------------------------------------------------


class GatherNearestResize(model_lib.LegacyNearestResize):
    """``LegacyNearestResize`` as two gathers (same output, no ``Resize`` op). Not saved."""

    def resize(self, images: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
        """(B, h, w, C) -> (B, size[0], size[1], C), the legacy nearest indices."""
        return model_lib.gather_resize(images, size)


def portable_model(model: keras.Model) -> keras.Model:
    """A copy of ``model`` (same weights) whose resizes are ``GatherNearestResize``."""

    def clone(layer):
        if isinstance(layer, model_lib.LegacyNearestResize):
            return GatherNearestResize(layer.size, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _import_onnx_tools():
    try:
        import onnx
        import tf2onnx
    except ImportError as error:
        raise MissingExtraError(f"ONNX export needs tf2onnx and onnx ({error}); {ONNX_EXTRAS_HINT}") from None
    return tf2onnx, onnx


def _rename_value(graph, old, new):
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def onnx_model_proto(model: keras.Model, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The ONNX ModelProto: float32 (B, H, W, 3) ``images`` -> float32 ``enhanced``."""
    tf2onnx, onnx = _import_onnx_tools()
    import logging

    portable = portable_model(model)

    @tf.function
    def enhance(images):
        return portable(images, training=False)

    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.WARNING)  # it logs every step at INFO
    try:
        proto, _ = tf2onnx.convert.from_function(
            enhance,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name=INPUT_NAME)],
            opset=opset,
        )
    finally:
        logger.setLevel(level)
    if len(proto.graph.output) != 1:
        raise RuntimeError(f"expected one ONNX output, got {len(proto.graph.output)}")
    _rename_value(proto.graph, proto.graph.output[0].name, OUTPUT_NAME)
    proto.doc_string = (
        "GLADNet low-light enhancement. Input 'images': float32 (batch, height, width, 3) RGB in "
        "[0, 1], NHWC. Output 'enhanced': same shape, float32 in [0, inf), not clipped: clip to "
        "[0, 1] and round (x * 255 + 0.5, truncated) for 8-bit pixels."
    )
    onnx.checker.check_model(proto)
    return proto


def write_onnx(model: keras.Model, path: str, opset: int = DEFAULT_OPSET) -> str:
    """Writes the ONNX model (``onnx_model_proto``) to ``path``, not atomically: see
    ``export``."""
    _write_file(path, onnx_model_proto(model, opset).SerializeToString())
    return path


def onnx_session(path_or_bytes: str | bytes) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session (raises MissingExtraError without onnxruntime)."""
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(f"running ONNX needs onnxruntime ({error}); {ONNX_EXTRAS_HINT}") from None
    return onnxruntime.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])


def verify_onnx(model: keras.Model, path: str, tolerance: float = VERIFY_TOLERANCE) -> float:
    """Runs the ONNX file with onnxruntime on a 37x53 batch; returns the max abs difference
    from ``model`` (``VerificationError`` above ``tolerance``; ``MissingExtraError`` without
    onnxruntime)."""
    session = onnx_session(path)
    _, floats = _verification_batch()
    (output,) = session.run([OUTPUT_NAME], {INPUT_NAME: floats})
    worst = _max_abs(output, model(floats, training=False).numpy())
    if not worst <= tolerance:
        raise VerificationError(f"{path}: the ONNX model differs from the Keras model by {worst:.3g}")
    return worst


# ---- atomic install -----------------------------------------------------------------------


def _write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _exists_message(path):
    return f"{path}: already exists (pass --overwrite to replace it)"


def _install(staged, path, staging_dir, overwrite):
    """Renames ``staged`` (file or folder) to ``path``; an old ``path`` goes to ``staging_dir``."""
    if not os.path.lexists(path):
        if os.path.isdir(staged):
            os.rename(staged, path)
        else:
            os.link(staged, path)  # fails rather than clobbers if ``path`` appeared meanwhile
        return
    if not overwrite:
        raise FileExistsError(_exists_message(path))
    if os.path.isfile(staged) and not os.path.isdir(path):
        os.replace(staged, path)  # one atomic step for a file over a file or link
        return
    previous = os.path.join(staging_dir, "previous")
    os.rename(path, previous)
    try:
        os.rename(staged, path)
    except BaseException:
        os.rename(previous, path)
        raise


def export(model: keras.Model, fmt: str, path: str | os.PathLike, overwrite: bool = False,
           opset: int = DEFAULT_OPSET, verify: bool = True) -> float | None:
    """Exports ``model`` as ``fmt`` to ``path`` atomically; returns the verification max abs.

    The artefact is written to a hidden temporary folder beside ``path``, checked against
    ``model`` (unless ``verify`` is false; ``None`` is returned then, and also for ONNX when
    onnxruntime is absent), then renamed. Raises ``FileExistsError`` (``path`` exists and not
    ``overwrite``), ``MissingExtraError``, ``VerificationError``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    path = os.fspath(path)
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(_exists_message(path))
    if fmt == "onnx":
        _import_onnx_tools()  # fail before any work
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        staged = os.path.join(staging_dir, "new")
        worst = None
        if fmt == "savedmodel":
            write_savedmodel(model, staged)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(staged, 0o777 & ~mask)
            if verify:
                worst = verify_savedmodel(model, staged)
        elif fmt == "litert":
            write_litert(model, staged)
            if verify:
                worst = verify_litert(model, staged)
        else:
            write_onnx(model, staged, opset)
            if verify:
                try:
                    worst = verify_onnx(model, staged)
                except MissingExtraError:
                    worst = None
        _install(staged, path, staging_dir, overwrite)
        return worst
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)


# ---- command line -------------------------------------------------------------------------

USAGE = (
    "usage: python -m gladnet_tf.export [--weights FILE] --format savedmodel|litert|onnx "
    "--output PATH [--overwrite] [--opset N] [--noverify]"
)


def _flag_values():
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_string("weights", None, "A .weights.h5 or .keras file (default: the shipped weights).", flag_values=values)
    flags.DEFINE_enum("format", None, list(FORMATS), "What to write.", flag_values=values)
    flags.DEFINE_string(
        "output", None, "Where to write: a folder (savedmodel, e.g. models/gladnet/1) or a file (.tflite, .onnx).",
        flag_values=values,
    )
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output.", flag_values=values)
    flags.DEFINE_integer("opset", DEFAULT_OPSET, "ONNX opset.", lower_bound=11, flag_values=values)
    flags.DEFINE_bool("verify", True, "Check the artefact against the Keras model before installing it.", flag_values=values)
    return values


class _CommandError(Exception):
    """A one-line error of the command line and its exit code (2: nothing could start)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def _parse(values, argv: list[str]) -> None:
    """Parses ``argv`` into ``values``; checks that --format and --output are given."""
    from absl import flags

    try:
        rest = values(argv)
    except flags.Error as error:
        raise _CommandError(f"{error}\n{USAGE}") from None
    if len(rest) > 1:
        raise _CommandError(f"unexpected arguments: {' '.join(rest[1:])}\n{USAGE}")
    if values.format is None or values.output is None:
        raise _CommandError(f"--format and --output are required\n{USAGE}")


def _check_can_start(values) -> None:
    """Refuses an existing --output (without --overwrite) and ONNX without its extras."""
    if os.path.lexists(values.output) and not values.overwrite:
        raise _CommandError(_exists_message(values.output))
    if values.format == "onnx":
        try:
            _import_onnx_tools()
        except MissingExtraError as error:
            raise _CommandError(f"{values.output}: {error}") from None


def _load_model(weights: str | None) -> tuple[str, keras.Model]:
    """(the weights file, the model): --weights, else the shipped default weights."""
    try:
        if not weights:
            from gladnet_tf import checkpoints

            weights = checkpoints.default_weights()
        return weights, model_lib.load(weights)
    except (FileNotFoundError, ValueError) as error:
        raise _CommandError(str(error)) from None


def _export_or_explain(model: keras.Model, values) -> float | None:
    """``export`` with its failures as command-line errors (1: conversion or check failed)."""
    output = values.output
    try:
        return export(model, values.format, output, overwrite=values.overwrite, opset=values.opset,
                      verify=values.verify)
    except FileExistsError as error:
        raise _CommandError(str(error)) from None
    except MissingExtraError as error:
        raise _CommandError(f"{output}: {error}") from None
    except VerificationError as error:
        raise _CommandError(f"{error}; nothing was written", code=1) from None
    except Exception as error:  # converter failures come in many types
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise _CommandError(f"{output}: {values.format} export failed ({type(error).__name__}: {reason})",
                            code=1) from None


def _summary(values, weights: str, worst: float | None) -> str:
    if worst is None:
        check = "not checked" + (" (onnxruntime is not installed)" if values.verify else "")
    else:
        check = f"max abs difference from the Keras model on a {VERIFY_SHAPE[1]}x{VERIFY_SHAPE[2]} image: {worst:.2e}"
    return f"wrote {values.output} ({values.format} from {weights}); {check}"


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code (flags are parsed here, not at import)."""
    argv = list(sys.argv if argv is None else argv)
    values = _flag_values()
    if any(arg in ("-h", "--help", "-help", "--helpshort", "--helpfull") for arg in argv[1:]):
        print(f"{USAGE}\n\n{values.get_help()}")
        return 0
    try:
        _parse(values, argv)
        _check_can_start(values)
        weights, model = _load_model(values.weights)
        worst = _export_or_explain(model, values)
    except _CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    print(_summary(values, weights, worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
