"""The one atomic-write helper: a target is the old file or the new one, never half of one."""

import json
import os
import stat

import pytest

from gladnet_tf import atomic


def leftovers(folder):
    return [n for n in os.listdir(folder) if n.startswith(atomic.PREFIX) or ".partial-" in n]


def test_writes_replace_and_leave_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    atomic.write_bytes(target, b"one")
    atomic.write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    atomic.write_json(tmp_path / "a.json", {"b": 1, "a": [2]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"a": [2], "b": 1}
    atomic.copy_file(target, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == b"two"
    mode = stat.S_IMODE(os.stat(target).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask  # not mkstemp's 0600
    assert leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.temporary_path(target) as temporary:
            with open(temporary, "w") as f:
                f.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_folders_appear_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic.temporary_folder(target) as work:
            (tmp_path / "out.x").write_text("")  # unrelated file stays
            open(os.path.join(work, "part"), "w").close()
            raise RuntimeError("killed")
    assert not target.exists() and leftovers(tmp_path) == []
    target.mkdir()  # an empty folder may be replaced
    with atomic.temporary_folder(target) as work:
        open(os.path.join(work, "done"), "w").close()
    assert os.listdir(target) == ["done"]
    with pytest.raises(OSError):  # a non-empty one never is
        with atomic.temporary_folder(target) as work:
            pass
    assert os.listdir(target) == ["done"] and leftovers(tmp_path) == []
