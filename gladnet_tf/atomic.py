"""Writing files atomically: a temporary file beside the target, then one rename.

Every file the package writes (images, videos, weights, checkpoint records, JSON logs,
manifests, evaluation reports) and every data folder a recipe builds goes through here
(exports stage their artefacts in a folder and swap them in, see ``export``), so a killed process leaves either the old file or the new one
under the target's name, never half of one. Temporary files are named ``.tmp-*`` (with a
suffix, ``.part`` unless the writer needs an extension), in the target's folder (a rename
never crosses file systems), and get the usual permissions (0666 minus the umask), not
``mkstemp``'s private 0600. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

PREFIX = ".tmp-"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_temporary(path: str | os.PathLike, suffix: str = ".part") -> str:
    """Creates an empty temporary file beside ``path``; returns its name."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    fd, temporary = tempfile.mkstemp(prefix=PREFIX, suffix=suffix, dir=folder)
    os.close(fd)
    try:
        os.chmod(temporary, 0o666 & ~_umask())
    except OSError:
        os.remove(temporary)
        raise
    return temporary


def commit(temporary: str | os.PathLike, path: str | os.PathLike) -> None:
    """Flushes ``temporary`` to disk and renames it onto ``path`` (replacing any file)."""
    with open(temporary, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temporary, path)


@contextlib.contextmanager
def temporary_path(path: str | os.PathLike, suffix: str = ".part") -> Iterator[str]:
    """``with temporary_path(p) as tmp: write(tmp)``: on success ``tmp`` becomes ``p``; on
    any error it is removed and ``p`` is left as it was."""
    temporary = new_temporary(path, suffix)
    try:
        yield temporary
        commit(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` (bytes) to ``path`` atomically."""
    with temporary_path(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Writes ``payload`` (a str as it is, anything else as indented, key-sorted JSON)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, sort_keys=True)
    write_bytes(path, text.encode())


def copy_file(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copies ``source`` to ``path`` atomically."""
    with temporary_path(path) as temporary:
        shutil.copyfile(source, temporary)


@contextlib.contextmanager
def temporary_folder(path: str | os.PathLike) -> Iterator[str]:
    """``with temporary_folder(p) as work: fill(work)``: a new folder ``P.partial-*`` beside
    ``p``, renamed to ``p`` on success (``p`` must be absent or an empty folder), deleted
    with its contents on any error."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=os.path.basename(path) + ".partial-", dir=parent)
    try:
        yield work
        if os.path.isdir(path):
            os.rmdir(path)  # only an empty one: anything else raises and keeps it
        os.rename(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
