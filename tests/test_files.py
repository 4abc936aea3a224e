"""edgecolor.files: the one atomic-write helper every output goes through."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecolor.files import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    current_umask,
    save_image,
    write_json,
)


def test_write_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "model.json"  # the folder is created
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.json"]
    # not mkstemp's private 0600: what open() would give (0644 with the usual umask 022)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "photo.jpg"
    atomic_write_bytes(target, b"original")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            assert temporary.name.startswith(".") and temporary.suffix == ".jpg"
            temporary.write_bytes(b"half a fi")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_write_json_is_strict_json_with_numpy_values_and_paths(tmp_path):
    data = {
        "psnr": float("inf"),  # identical images
        "figures": [np.float32(1.5), np.int64(3), float("nan")],
        "grid": np.arange(3),
        "folder": Path("photos/a"),
    }
    path = write_json(tmp_path / "out" / "eval.json", data)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {
        "psnr": None,
        "figures": [1.5, 3, None],
        "grid": [0, 1, 2],
        "folder": "photos/a",
    }
    with pytest.raises(TypeError, match="set"):
        write_json(tmp_path / "bad.json", {"value": {1, 2}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing half-written


def test_save_image_picks_the_format_from_the_suffix(tmp_path):
    from PIL import Image

    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 200
    for name, kind in (("a.png", "PNG"), ("b.jpg", "JPEG")):
        with Image.open(save_image(tmp_path / name, image)) as written:
            assert written.format == kind and written.size == (6, 4)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_follow_the_umask_so_the_scan_service_shares_them(tmp_path, umask, mode):
    """The scan unit runs with UMask=0002 in setgid 2775 folders: what it writes is then
    group-writable, so the login user can replace or fix it (issue 17)."""
    script = (
        "import os, sys; os.umask(int(sys.argv[2], 8)); "
        "from edgecolor.files import atomic_write_text, current_umask; "
        "assert current_umask() == int(sys.argv[2], 8); "
        "atomic_write_text(sys.argv[1], 'scan')"
    )
    target = tmp_path / "colorized" / "scan.jpg.json"
    root = str(Path(__file__).resolve().parents[1])
    subprocess.run(
        [sys.executable, "-c", script, str(target), f"{umask:o}"],
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o777 & ~umask  # the folder made too


def test_a_move_across_disks_that_fails_at_the_end_leaves_the_source_the_only_copy(
    tmp_path, monkeypatch
):
    """The copy is in place but the source cannot be removed (a read-only inbox): the copy
    goes again, so the original stays where it was and is not there twice."""
    import errno

    from edgecolor.files import move_file

    source, target = tmp_path / "inbox" / "a.jpg", tmp_path / "done" / "a.jpg"
    source.parent.mkdir()
    target.parent.mkdir()
    source.write_bytes(b"the original")
    real_unlink = os.unlink

    def cross_device(*arguments, **keywords):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def read_only_inbox(path, *arguments, **keywords):
        if Path(path) == source:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_unlink(path, *arguments, **keywords)

    monkeypatch.setattr(os, "rename", cross_device)
    monkeypatch.setattr(os, "unlink", read_only_inbox)
    with pytest.raises(OSError, match="Read-only"):
        move_file(source, target)
    assert source.read_bytes() == b"the original"
    assert list(target.parent.iterdir()) == []
    monkeypatch.setattr(os, "unlink", real_unlink)
    move_file(source, target)  # across disks when nothing fails: copied, then removed
    assert target.read_bytes() == b"the original" and not source.exists()
    assert list(target.parent.iterdir()) == [target]
