"""TensorFlow's start-up lines, kept off the console (``GLADNET_VERBOSE=1`` shows them).

Why ``TF_CPP_MIN_LOG_LEVEL`` does not hide them in TensorFlow 2.21: its C++ libraries log
through Abseil, and Abseil writes every message to stderr, whatever its severity, until
``absl::InitializeLog()`` is called (its own first line says so: "All log messages before
absl::InitializeLog() is called are written to STDERR"). Nothing in TensorFlow's Python
package calls it, so the lines printed while the libraries load (oneDNN, the CUDA stubs, the
CPU feature guard) and while the devices are first listed (``failed call to cuInit`` on a
machine without an NVIDIA driver, logged at ERROR although nothing is wrong) ignore the
level; each of the two shared libraries that carry Abseil prints them again.

So TensorFlow's first import runs with file descriptor 2 pointed at a temporary file, the
devices are listed once (still inside), and then everything that was not one of those C++
log records is written back to stderr: Python warnings raised meanwhile and C++ errors other
than the failed ``cuInit`` still show. The records are kept in ``STARTUP_LINES``. Listing
the physical devices does not start the runtime, so virtual CPU devices can still be set up
afterwards (``training.configure_cpu_replicas``).

``install()`` (called by ``gladnet_tf/__init__.py``) puts a finder on ``sys.meta_path`` that
does this for the first ``import tensorflow``, wherever it happens, so the modules keep a
plain ``import tensorflow as tf`` and importing a module that needs no TensorFlow (``config``,
``recipe``, ``synthesis``) still does not load it. With ``GLADNET_VERBOSE=1`` in the
environment, TensorFlow is imported as it is, lines and all.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import types

VERBOSE_ENV = "GLADNET_VERBOSE"
# An Abseil/TSL log record: severity letter, MMDD, time, thread id, file:line].
_RECORD = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^ \]]+:\d+\] ")
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
_PYTHON_WARNING = re.compile(r"^\S.*\.py:\d+: \w*(Warning|Error)\b")
# ERROR records that say only that no GPU driver is present.
_HARMLESS_ERRORS = ("failed call to cuInit",)

STARTUP_LINES: list[str] = []  # the C++ records held back, for ``GLADNET_VERBOSE``-less debugging


def verbose() -> bool:
    """Whether ``GLADNET_VERBOSE`` is set to something other than empty, 0, false or no."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def split_startup_output(text: str) -> tuple[list[str], list[str]]:
    """Splits captured stderr text into (C++ start-up records to hold back, lines to show).

    A record is one line that starts like ``I0000 00:00:1796.0 8827 port.cc:153] ...`` plus
    the lines after it that do not start a new record or a Python warning (the CPU feature
    guard's message continues on a second line). ERROR and FATAL records are shown, except
    the failed ``cuInit`` of a machine without a GPU driver.
    """
    held, shown = [], []
    in_record = None  # None, or the list the current record's lines go to
    for line in text.splitlines(keepends=True):
        if line.startswith(_ABSL_NOTICE):
            held.append(line)
            in_record = None
            continue
        if _RECORD.match(line):
            harmless = line[0] in "IW" or any(s in line for s in _HARMLESS_ERRORS)
            in_record = held if harmless else shown
            in_record.append(line)
            continue
        if in_record is not None and not _PYTHON_WARNING.match(line) and line.strip():
            in_record.append(line)
            continue
        in_record = None
        shown.append(line)
    return held, shown


@contextlib.contextmanager
def _held_back_stderr():
    """Points file descriptor 2 at a temporary file; on exit, shows what is not C++ start-up."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield
        return
    capture = tempfile.TemporaryFile(mode="w+b")
    try:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
    finally:
        os.close(saved)
        capture.seek(0)
        held, shown = split_startup_output(capture.read().decode("utf-8", "replace"))
        capture.close()
        STARTUP_LINES.extend(held)
        if shown:
            sys.stderr.write("".join(shown))
            sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with stderr held back, then lists the devices."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _held_back_stderr():
            self._loader.exec_module(module)
            module.config.list_physical_devices()  # where cuInit is tried


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()  # once only; the real finders locate the package
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or verbose():
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _QuietTensorFlowFinder()


def install() -> None:
    """Makes the first ``import tensorflow`` of the process quiet (see the module docstring)."""
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Takes the finder of ``install`` off ``sys.meta_path`` (nothing if it is not there)."""
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def import_tensorflow() -> types.ModuleType:
    """Imports TensorFlow without its C++ start-up lines (when not imported yet); returns it."""
    install()
    import tensorflow as tf

    return tf
