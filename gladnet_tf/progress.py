"""One progress line for long loops: images of a folder, frames of a video, synthesis sources.

    progress = Progress(len(jobs), "img")
    for job in jobs:
        ...
        progress.update(job.source, "ok")
    progress.finish()

prints, on a terminal, one line rewritten in place (``\\r``), and in a log one line per update
(or fewer: ``every``, ``every_seconds``):

    [#########.....................] 3/10 img, 2.05 img/s, 1 s, ok  photos/a.png

The head (bar, count, rate, seconds since the start) is always the same; ``status`` is free
text (a word such as "ok", or running totals such as "189 pairs, 0 failed") and ``name`` the
item just done. Importing this module has no side effects and needs only the standard library.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

BAR_WIDTH = 30
FALLBACK_COLUMNS = 150  # a terminal whose width cannot be read


class Progress:
    """A progress bar with a rate per second.

    Args:
        total: how many items the loop has (None when unknown: then no bar, and the count
            has no ``/total``).
        unit: the word counted, plural as it should read ("img", "frames", "sources").
        stream: where the line goes (a text stream; None: silent).
        every: in a log (not a terminal), write a line every ``every`` updates only.
        every_seconds: in a log, write a line only when at least this many seconds passed
            since the last one.
        The last update (``done == total``) and ``update(..., force=True)`` are always
        written; ``finish`` writes the last state if it was held back.
    """

    def __init__(self, total: int | None, unit: str = "img", stream: TextIO | None = sys.stderr,
                 every: int = 1, every_seconds: float = 0.0) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.total, self.unit, self.stream = total, unit, stream
        self.every, self.every_seconds = every, every_seconds
        self.done = 0
        self.tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.start = self.last_written = time.perf_counter()
        self._name, self._status = "", ""
        self._open = False  # a terminal line is drawn and not yet ended
        self._pending = False  # a log line was held back

    def line(self) -> str:
        """The current progress line, without line ending, e.g.
        ``[###...] 3/10 img, 2.05 img/s, 1 s, ok  photos/a.png``."""
        elapsed = time.perf_counter() - self.start
        rate = self.done / max(elapsed, 1e-9)
        if self.total is None:
            head = f"{self.done} {self.unit}"
        else:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * self.done / max(self.total, 1)))
            head = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total} {self.unit}"
        line = f"{head}, {rate:.2f} {self.unit}/s, {elapsed:.0f} s"
        if self._status:
            line += f", {self._status}"
        if self._name:
            line += f"  {self._name}"
        return line

    def update(self, name: str = "", status: str = "", advance: int = 1, force: bool = False) -> None:
        """Counts ``advance`` more items done (0: only show a new status) and shows the line.

        ``name``: the item just done (a path, a file name); ``status``: free text after the
        rate (a word, or running totals).
        """
        self.done += advance
        self._name, self._status = str(name), str(status)
        if self.stream is None:
            return
        last = self.done == self.total
        if self.tty:
            self._draw()
            if last:
                self._end_line()
            return
        now = time.perf_counter()
        due = self.done % self.every == 0 and now - self.last_written >= self.every_seconds
        if due or last or force:
            self._write_state()
            self.last_written = now
        else:
            self._pending = True

    def clear(self) -> None:
        """On a terminal, erases the drawn line so that other output can start there (the
        next update draws it again); nothing in a log."""
        if self.stream is not None and self._open:
            self._write_line("\r\033[K")
            self._open = False

    def write(self, text: str) -> None:
        """Writes ``text`` as a line of its own (a failure, a warning), clear of the bar."""
        if self.stream is None:
            return
        was_open = self._open
        self.clear()
        self._write_line(text + "\n")
        if was_open:
            self._draw()

    def finish(self) -> None:
        """Ends the terminal line, or writes the last state to a log if it was held back."""
        if self.stream is None:
            return
        if self._open:
            self._end_line()
        elif self._pending:
            self._write_state()

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return FALLBACK_COLUMNS

    def _draw(self) -> None:
        self._write_line("\r\033[K" + self.line()[: max(self._columns() - 1, 20)])
        self._open = True

    def _end_line(self) -> None:
        self._write_line("\n")
        self._open = False

    def _write_state(self) -> None:
        self._write_line(self.line() + "\n")
        self._pending = False

    def _write_line(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
