"""edgecolor.files: the one atomic-write helper every output goes through."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from edgecolor.files import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    save_image,
    write_json,
)


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
