"""edgecolor.files: the one atomic-write helper every output goes through."""

from __future__ import annotations

import stat

import pytest

from edgecolor.files import atomic_output, atomic_write_bytes, atomic_write_text


def test_write_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "model.json"  # the folder is created
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's private 0600


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
