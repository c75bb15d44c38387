"""The progress line: its text, terminal and log behaviour."""

import io

from gladnet_tf import progress as progress_lib


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_one_line_per_update_with_count_rate_status_and_name():
    stream = io.StringIO()
    progress = progress_lib.Progress(2, "img", stream)
    progress.update("a.png", "ok")
    progress.update("b.png", "FAILED")
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[" + "#" * 15 + "." * 15 + "] 1/2 img, ")
    assert " img/s, " in lines[0] and lines[0].endswith(", ok  a.png")
    assert lines[1].startswith("[" + "#" * 30 + "] 2/2 img, ") and lines[1].endswith(", FAILED  b.png")


def test_free_form_status_reads_like_running_totals():
    stream = io.StringIO()
    progress = progress_lib.Progress(82, "sources", stream, every=50)
    for done in range(1, 64):
        progress.update(f"s{done}.png", f"{3 * done} pairs, 0 failed")
    assert stream.getvalue().count("\n") == 1  # every 50th only
    progress.write("FAILED s64.png: truncated")
    progress.update("s64.png", "189 pairs, 1 failed", force=True)
    lines = stream.getvalue().splitlines()
    assert lines[1] == "FAILED s64.png: truncated"
    assert "] 64/82 sources, " in lines[2] and lines[2].endswith(" s, 189 pairs, 1 failed  s64.png")


def test_held_back_lines_are_written_by_finish():
    stream = io.StringIO()
    progress = progress_lib.Progress(None, "frames", stream, every_seconds=3600)
    for _ in range(5):
        progress.update("clip.mov")
    assert stream.getvalue() == ""
    progress.finish()
    (line,) = stream.getvalue().splitlines()
    assert line.startswith("5 frames, ") and " frames/s, " in line and line.endswith("  clip.mov")


def test_a_terminal_gets_one_rewritten_line_ended_at_the_last_item():
    stream = Terminal()
    progress = progress_lib.Progress(3, "img", stream)
    progress.update("a")
    progress.write("error: b: broken")
    progress.update("b", "FAILED")
    progress.update("c")
    progress.finish()
    text = stream.getvalue()
    assert text.endswith("  c\n") and text.count("\n") == 2  # the message and the finished bar
    assert "\r\033[Kerror: b: broken\n\r\033[K[" in text
    assert text.count("\r\033[K[") == 4  # a, a again after the message, b, c


def test_no_stream_is_silent():
    progress = progress_lib.Progress(1, "img", None)
    progress.update("a")
    progress.write("x")
    progress.finish()
    assert progress.done == 1
