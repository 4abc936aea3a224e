"""`edgecolor demo`: bundled photos and clip through the device runtime, outputs and summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecolor.cli import main
from edgecolor.demo import DEMO_CLIP, demo_photos

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve").split()


def test_readme_counts_the_demo_photos_right():
    """README says how many bundled photos `edgecolor demo` colorizes: that many it finds."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    match = re.search(r"`edgecolor demo -o demo-output`: the (\w+) black-and-white photos", text)
    assert match, "README no longer describes the demo's photos"
    assert NUMBER_WORDS.index(match.group(1)) == len(demo_photos())


@pytest.mark.slow
def test_demo_writes_photos_grid_clip_and_summary(tiny_model, tmp_path, capsys):
    import av
    import cv2

    out = tmp_path / "demo-output"
    assert main(["demo", "--out", str(out), "--model", str(tiny_model)]) == 0

    photos = demo_photos()
    for path in photos:
        with (
            Image.open(path) as original,
            Image.open(out / "photos" / f"{path.stem}.jpg") as result,
        ):
            assert result.mode == "RGB" and result.size == original.size
    with Image.open(out / "before-after.png") as grid:
        assert grid.mode == "RGB" and grid.width > grid.height

    clip_out = out / DEMO_CLIP.replace(".mp4", "-colorized.mp4")
    capture = cv2.VideoCapture(str(clip_out))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames += 1
        assert frame.shape == (240, 640, 3)  # black-and-white | colorized
    capture.release()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["photos_done"] == len(photos)
    assert summary["photos_failed"] == []
    assert summary["clip"]["frames"] == frames >= 40
    assert summary["clip"]["fps"] > 0 and summary["clip"]["dropped"] == 0
    assert set(summary["clip"]["median_ms"]) == {"capture", "prepare", "invoke", "join", "encode"}
    assert summary["backend"] and summary["model"]["format"] == "int8"
    assert summary["model"]["file"] == str(tiny_model)
    assert not list(out.rglob(".*partial*")), "no temp files left behind"

    printed = capsys.readouterr().out
    assert "Look at" in printed and str(out / "before-after.png") in printed
    assert "back-end:" not in printed  # the runtime's log says it, once (issue 18)
    with av.open(str(clip_out)) as container:  # browsers play it (issue 18)
        assert container.streams.video[0].codec_context.name == "h264"


def test_the_readme_counts_the_demo_photos_right():
    """Issue 18: the README said six photos; the demo colorizes every bundled one."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    count = re.search(r"the (\w+) black-and-white photos bundled", readme).group(1)
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    assert words.index(count) + 1 == len(demo_photos())


@pytest.mark.slow
def test_demo_output_keeps_the_inputs_luminance(tiny_model, tmp_path):
    """The colorized photo's gray (lightness) matches the bundled black-and-white input."""
    from edgecolor.evaluation.metrics import to_grayscale

    out = tmp_path / "demo-output"
    assert main(["demo", "--out", str(out), "--model", str(tiny_model)]) == 0
    path = demo_photos()[0]
    original = np.asarray(Image.open(path), dtype=np.int16)
    result = np.asarray(Image.open(out / "photos" / f"{path.stem}.jpg").convert("RGB"))
    # JPEG output and 8-bit rounding allow a few levels of difference.
    assert np.abs(to_grayscale(result).astype(np.int16) - original).mean() < 3.0


def test_demo_with_a_missing_model_exits_2(tmp_path, capsys):
    assert (
        main(["demo", "--out", str(tmp_path / "out"), "--model", str(tmp_path / "none.tflite")])
        == 2
    )
    assert "none.tflite" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
