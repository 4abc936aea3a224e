"""The one photo reader and folder walker (edgecolor.photos) every stage reads through."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps
from training_photos import colour_photos, write_corrupt_files

from edgecolor import photos
from edgecolor.errors import UsageError


def _touch(root, names):
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- walking


def test_collect_photos_recursive_and_case_insensitive(tmp_path):
    wanted = _touch(
        tmp_path,
        [
            "a/one.JPG",
            "a/b/two.png",
            "three.jpeg",
            "a/four.WebP",
            "five.tif",
            "six.TIFF",
            "seven.bmp",
        ],
    )
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / "a" / "folder.jpg").mkdir()  # a folder with an image-like name is not a file
    expected = sorted(path.resolve() for path in wanted)
    assert photos.collect_photos([tmp_path]) == expected
    # a folder given twice (or nested) lists each file once
    assert photos.collect_photos([tmp_path, tmp_path / "a"]) == expected


def test_collect_photos_missing_or_empty_folder(tmp_path):
    with pytest.raises(UsageError, match="not found: .*nowhere"):
        photos.collect_photos([tmp_path / "nowhere"])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    with pytest.raises(UsageError, match="empty.* has no images"):
        photos.collect_photos([empty])
    with pytest.raises(UsageError, match="no data folder"):
        photos.collect_photos([])
    a_file = _touch(tmp_path, ["single.jpg"])[0]
    with pytest.raises(UsageError, match="not a folder: .*single.jpg"):
        photos.collect_photos([a_file])


def test_walk_files_order_hidden_and_skipped_trees(tmp_path):
    _touch(
        tmp_path,
        [
            "b.jpg",
            "a.jpg",
            "sub/c.jpg",
            "sub/deeper/d.jpg",
            ".hidden.jpg",  # editors' and edgecolor's own temporary files are hidden
            ".cache/e.jpg",
            "out/f.jpg",
            "sub/out2/g.jpg",
        ],
    )
    found = photos.walk_files(tmp_path, skip=[tmp_path / "out", tmp_path / "sub" / "out2"])
    # each folder's files (sorted), then its sub-folders (sorted) one by one
    assert [path.relative_to(tmp_path).as_posix() for path in found] == [
        "a.jpg",
        "b.jpg",
        "sub/c.jpg",
        "sub/deeper/d.jpg",
    ]
    assert len(photos.walk_files(tmp_path)) == 6  # nothing skipped but the hidden ones


def test_find_photos_sorted_and_excluding_an_output_folder_inside(tmp_path):
    _touch(tmp_path, ["z.png", "a/y.jpg", "a.jpg", "notes.txt", "eval-out/grid.png"])
    (tmp_path / "link").symlink_to(tmp_path / "eval-out")  # a link into the excluded tree
    found = photos.find_photos(tmp_path, exclude=[tmp_path / "eval-out"])
    assert found == sorted([tmp_path / "a.jpg", tmp_path / "a" / "y.jpg", tmp_path / "z.png"])


# --------------------------------------------------------------------------- reading


def _rotated_jpeg(path):
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, :40, 0] = 255  # left half red
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(path, exif=exif, quality=95)
    return path


def test_read_rgb_applies_exif_orientation_and_shrinks(tmp_path):
    path = _rotated_jpeg(tmp_path / "rotated.jpg")
    loaded = photos.read_rgb(path)
    assert loaded.shape == (80, 40, 3) and loaded.dtype == np.uint8
    assert loaded[5, 20, 0] > 200 and loaded[75, 20, 0] < 60  # red half now on top
    small = photos.read_rgb(path, short_side=20)
    assert small.shape == (40, 20, 3)
    assert photos.read_rgb(path, short_side=500).shape == (80, 40, 3)  # never enlarged


def test_read_rgb_is_pillows_own_decode(tmp_path):
    """For an ordinary JPEG, the shared reader gives exactly the pixels of Pillow's direct
    path (draft, exif_transpose, RGB, Lanczos): training data did not change."""
    big = np.asarray(
        Image.fromarray(colour_photos()[0]).resize((400, 300), Image.Resampling.BICUBIC)
    )
    path = tmp_path / "photo.jpg"
    image = Image.fromarray(big)
    exif = image.getexif()
    exif[0x0112] = 8
    image.save(path, exif=exif, quality=90)
    with Image.open(path) as direct:
        direct.draft("RGB", (64, 64))
        direct = ImageOps.exif_transpose(direct).convert("RGB")
        width, height = direct.size
        factor = 64 / min(width, height)
        direct = direct.resize(
            (max(64, round(width * factor)), max(64, round(height * factor))),
            Image.Resampling.LANCZOS,
            reducing_gap=3.0,
        )
    np.testing.assert_array_equal(photos.read_rgb(path, short_side=64), np.asarray(direct))


def test_read_rgb_and_gray_of_gray_and_sixteen_bit_files(tmp_path):
    ramp = np.linspace(0, 65535, 30 * 40).reshape(30, 40).astype(np.uint16)
    sixteen = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(sixteen)
    rgb = photos.read_rgb(sixteen)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    expected = np.round(ramp / 257.0).astype(np.uint8)  # scaled, not clipped at 255
    np.testing.assert_array_equal(rgb[..., 1], expected)
    np.testing.assert_array_equal(photos.read_gray(sixteen), expected)
    colour = tmp_path / "colour.png"
    Image.fromarray(colour_photos()[1]).save(colour)
    np.testing.assert_array_equal(
        photos.read_gray(colour), np.asarray(Image.open(colour).convert("L"))
    )


def test_unreadable_files_raise_a_reason(tmp_path):
    truncated, garbage = write_corrupt_files(tmp_path)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    reasons = {}
    for path in (truncated, garbage, empty, tmp_path / "gone.jpg"):
        with pytest.raises(photos.ImageReadError) as caught:
            photos.read_rgb(path)
        reasons[path.name] = str(caught.value)
    assert "truncated or corrupt" in reasons["truncated.jpg"]
    assert "not an image" in reasons["garbage.png"]
    assert "empty file" in reasons["empty.jpg"]
    assert "not found" in reasons["gone.jpg"]
    # the reason leaves the path to the caller, which names it
    assert all(str(tmp_path) not in reason for reason in reasons.values())


def test_read_preview_fits_upright_eight_bit_rgb_and_names_bad_files(tmp_path):
    from edgecolor.photos import ImageReadError, read_preview

    # A 16-bit gray scan stored on its side: 200 wide and 300 high on disk, with an EXIF
    # orientation that turns it upright to 300 wide and 200 high.
    levels = np.tile(np.linspace(0, 65535, 300, dtype=np.uint16)[:, None], (1, 200))
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(levels).save(tmp_path / "scan.tiff", exif=exif)
    upright = photos.read_rgb(tmp_path / "scan.tiff")
    assert upright.shape[:2] == (200, 300)
    preview = read_preview(tmp_path / "scan.tiff", 60)
    assert preview.mode == "RGB" and preview.size == (60, 40)  # upright, fits, aspect kept
    pixels = np.asarray(preview, dtype=int)
    assert pixels.max() >= 240 and pixels.min() <= 15  # the 16-bit range, in 8 bits
    # transparency is laid over white
    Image.fromarray(np.zeros((40, 40, 4), np.uint8)).save(tmp_path / "clear.png")
    assert np.asarray(read_preview(tmp_path / "clear.png", 100)).min() == 255
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="not a readable picture"):
        read_preview(tmp_path / "broken.jpg", 100)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_preview_turns_every_orientation_as_read_rgb_does(tmp_path, orientation):
    from edgecolor.photos import read_preview

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:20, :30] = (255, 0, 0)  # a red quarter marks the stored top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "photo.png", exif=exif)
    upright = photos.read_rgb(tmp_path / "photo.png")
    preview = np.asarray(read_preview(tmp_path / "photo.png", 30))
    assert preview.shape[:2] == (upright.shape[0] // 2, upright.shape[1] // 2)

    def red_corner(rgb):
        height, width = rgb.shape[:2]
        red = rgb[..., 0].astype(int) - rgb[..., 1]
        quarters = [red[: height // 2, : width // 2], red[: height // 2, width // 2 :],
                    red[height // 2 :, : width // 2], red[height // 2 :, width // 2 :]]
        return int(np.argmax([quarter.mean() for quarter in quarters]))

    assert red_corner(preview) == red_corner(upright)
