"""The demo inputs shipped in edgecolor/assets/demo: present, black-and-white, small, attributed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
from PIL import Image
from videos import read_video

from edgecolor.demo import DEMO_ASSETS, DEMO_CLIP, demo_clip, demo_photos

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "edgecolor"


def test_demo_photos_are_small_grayscale_jpegs():
    photos = demo_photos()
    assert 5 <= len(photos) <= 8
    # at least two from a source the model never saw (ATTRIBUTION.md says which)
    assert len([path for path in photos if path.name.startswith("unseen-")]) >= 2
    for path in photos:
        assert path.stat().st_size < 60 * 1024, path.name
        with Image.open(path) as image:
            assert image.format == "JPEG", path.name
            assert image.mode == "L", f"{path.name} is {image.mode}, not 8-bit grayscale"
            assert 320 <= max(image.size) <= 512, (path.name, image.size)
            pixels = np.asarray(image)
        # A real photo, not a blank: it uses most of the tonal range.
        assert np.percentile(pixels, 99) - np.percentile(pixels, 1) > 100, path.name


def test_demo_clip_is_small_grayscale_video_opencv_reads():
    import cv2  # the camera extra, installed by `make .venv`

    path = demo_clip()
    assert path.stat().st_size < 1024 * 1024
    assert cv2.VideoCapture(str(path)).isOpened()
    frames, _ = read_video(path)
    assert 40 <= len(frames) <= 60
    assert frames[0].shape == (240, 320, 3)
    # Gray content: the decoded channels agree (within codec rounding).
    spread = np.abs(frames[5].astype(int) - frames[5].mean(axis=-1, keepdims=True)).max()
    assert spread <= 3
    assert not np.array_equal(frames[0], frames[-1]), "the clip should move"


def test_demo_assets_total_under_2_mb():
    total = sum(path.stat().st_size for path in DEMO_ASSETS.rglob("*") if path.is_file())
    assert total < 2 * 1024 * 1024


def test_every_demo_input_is_attributed_with_a_public_domain_licence():
    text = (DEMO_ASSETS / "ATTRIBUTION.md").read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `([^`]+)` \|.*$", text, flags=re.MULTILINE)
    }
    for path in demo_photos():
        assert path.name in rows, f"{path.name} has no row in ATTRIBUTION.md"
        row = rows[path.name]
        assert "CC0-1.0" in row or "Public Domain" in row, row
        # the original can be found: Wikimedia Commons, Pexels, or scikit-image's data repository
        sources = ("https://commons.wikimedia.org/", "https://www.pexels.com/")
        sources += ("https://gitlab.com/scikit-image/data/",)
        assert any(source in row for source in sources), row
    assert f"`{DEMO_CLIP}`" in text and "Apache-2.0" in text


def test_package_data_ships_the_demo_inputs():
    # tomllib is Python 3.11+, and the package supports 3.10: read the one line by hand.
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1]
    patterns = ast.literal_eval(
        re.search(r"^edgecolor\s*=\s*(\[.*?\])", section, re.M | re.S).group(1)
    )
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    for path in [*demo_photos(), demo_clip(), DEMO_ASSETS / "ATTRIBUTION.md"]:
        assert path in shipped, f"{path} is not covered by package-data {patterns}"


def test_model_card_covers_data_licence_and_failure_modes():
    card = (PACKAGE / "assets" / "MODEL_CARD.md").read_text(encoding="utf-8")
    for needed in ("## Data", "## Training", "## Quality", "## Speed", "## Known failure modes"):
        assert needed in card
    assert "Sepia" in card and "Grass" in card and "CC-BY-SA" in card and "Apache-2.0" in card
    for link in re.findall(r"\]\(([^)#]+)\)", card):
        assert (PACKAGE / "assets" / link).resolve().exists(), (
            f"broken link in MODEL_CARD.md: {link}"
        )


def test_training_data_attribution_lists_every_photo_with_a_licence():
    """Every training photo is credited: a table row (gcompris, per-photo authors) or a list line
    (the other packages, photo <- original path), and the count matches the one stated."""
    text = (PACKAGE / "assets" / "TRAINING_DATA.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]*) \| ([^|]*) \|", text, flags=re.MULTILINE)
    listed = re.findall(r"^- `([^`]+)` <- `([^`]+)`", text, flags=re.MULTILINE)
    stated = int(re.search(r"trained on the (\d+) photos below", text).group(1))
    assert len(rows) + len(listed) == stated and stated > 700
    licences = {licence.strip() for _, _, licence in rows}
    assert not licences & {"unknown", "see folder README", "-"}, licences
    assert "CC-BY-SA-4.0" in licences and "CC0-1.0" in licences
    # the validation source and the evaluation-only packages are named as never trained on
    assert "## Validation source (never trained on)" in text
    for reserved in ("lomiri-wallpapers", "mate-backgrounds", "palapeli-data", "kphotoalbum"):
        assert reserved in text
