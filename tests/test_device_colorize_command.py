"""`edgecolor colorize`: folders and files in, outputs beside each other, nothing lost."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageSequence
from skimage import data
from videos import read_video

from edgecolor.cli import main
from edgecolor.device.runtime import pixels


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's signature)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    content = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(content[24:29])
    content[12:29] = header
    content[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(content)


@pytest.fixture
def archive(tmp_path) -> Path:
    """A folder of good and broken files, with a subfolder, like a real scan archive."""
    folder = tmp_path / "archive"
    (folder / "1950s" / "summer").mkdir(parents=True)
    gray = np.asarray(Image.fromarray(data.astronaut()).convert("L").resize((64, 48)))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate it 90 degrees clockwise
    exif[0x010F] = "Old Camera Co."
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(gray).save(
        folder / "portrait.jpg", quality=95, exif=exif.tobytes(), icc_profile=srgb, dpi=(600, 600)
    )
    cut_out = np.asarray(Image.fromarray(data.coffee()[::8, ::8]).convert("L").convert("RGB"))
    rgba = np.dstack([cut_out, np.linspace(0, 255, 75, dtype=np.uint8)[None, :].repeat(50, 0)])
    Image.fromarray(rgba).save(folder / "1950s" / "cutout.png")
    sixteen = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "1950s" / "scan16.png")
    frames = [Image.fromarray(np.roll(gray, shift, axis=1)).convert("P") for shift in (0, 8, 16)]
    frames[0].save(
        folder / "1950s" / "summer" / "wave.gif",
        save_all=True,
        append_images=frames[1:],
        duration=[80, 90, 100],
        loop=0,
    )
    Image.new("L", (1, 1), 77).save(folder / "1950s" / "dot.png")
    Image.fromarray(data.camera()[::8, ::8]).convert("CMYK").save(folder / "print.tif")
    # broken ones
    good = (folder / "portrait.jpg").read_bytes()
    (folder / "torn.jpg").write_bytes(good[: len(good) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "1950s" / "notes.jpg").write_text("these are my notes, not a photo")
    (folder / "bomb.png").write_bytes(_png_with_size(60000, 60000))
    (folder / "readme.txt").write_text("not an image suffix: ignored")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file() and ".edgecolor" not in path.parts
    }


def test_batch_names_broken_files_colorizes_the_rest_and_reruns_write_nothing(
    archive, tmp_path, tiny_model, capsys
):
    out = tmp_path / "out"
    originals = _snapshot(archive)
    code = main(["colorize", str(archive), "-o", str(out), "--model", str(tiny_model)])
    assert code == 1
    stderr = capsys.readouterr().err
    for name, reason in [
        ("torn.jpg", "truncated"),
        ("empty.png", "empty file"),
        ("notes.jpg", "not an image"),
        ("bomb.png", "decompression bomb"),
    ]:
        line = next(line for line in stderr.splitlines() if name in line)
        assert line.startswith("failed ") and reason in line
    assert "6 colorized, 0 already done, 4 failed, 1 other file ignored" in stderr
    assert _snapshot(archive) == originals  # byte-identical, nothing added or removed

    written = sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if ".edgecolor" not in p.parts and p.is_file()
    )
    assert written == sorted(
        [
            "portrait.jpg",
            "print.tif",
            "1950s/cutout.png",
            "1950s/scan16.png",
            "1950s/dot.png",
            "1950s/summer/wave.gif",
        ]
    )
    log = (out / ".edgecolor" / "log.txt").read_text()
    assert "torn.jpg" in log and "bomb.png" in log
    assert len((out / ".edgecolor" / "manifest.jsonl").read_text().splitlines()) == 6

    # re-run: nothing rewritten (same inode and modification time), still exit 1
    before = _stats(out)
    assert main(["colorize", str(archive), "-o", str(out), "--model", str(tiny_model)]) == 1
    assert "0 colorized, 6 already done, 4 failed" in capsys.readouterr().err
    assert _stats(out) == before

    # --overwrite redoes them; a changed source is redone without it
    assert (
        main(
            [
                "colorize",
                str(archive / "portrait.jpg"),
                "-o",
                str(out),
                "--model",
                str(tiny_model),
                "--overwrite",
            ]
        )
        == 0
    )
    assert _stats(out)["portrait.jpg"] != before["portrait.jpg"]
    Image.new("L", (2, 2), 200).save(archive / "1950s" / "dot.png")
    assert main(["colorize", str(archive), "-o", str(out), "--model", str(tiny_model)]) == 1
    assert "1 colorized, 5 already done" in capsys.readouterr().err
    assert Image.open(out / "1950s" / "dot.png").size == (2, 2)


def test_outputs_keep_orientation_luminance_alpha_and_metadata(archive, tmp_path, tiny_model):
    out = tmp_path / "out"
    main(["colorize", str(archive), "-o", str(out), "--model", str(tiny_model)])

    with Image.open(out / "portrait.jpg") as colour, Image.open(archive / "portrait.jpg") as source:
        upright = np.asarray(
            source.transpose(Image.Transpose.ROTATE_270)
        )  # what orientation 6 means
        assert colour.size == (48, 64) and colour.mode == "RGB"
        assert colour.getexif().get(0x0112) is None  # pixels are upright, no tag needed
        assert colour.getexif().get(0x010F) == "Old Camera Co."
        assert colour.info["dpi"] == pytest.approx((600, 600))
        assert ImageCms.getProfileName(
            ImageCms.ImageCmsProfile(io.BytesIO(colour.info["icc_profile"]))
        )
        L_difference = pixels.luminance(np.asarray(colour)) - pixels.luminance(upright)
        assert np.abs(L_difference).mean() < 1.5  # JPEG's own loss only

    with Image.open(out / "1950s" / "cutout.png") as cutout:
        source = np.asarray(Image.open(archive / "1950s" / "cutout.png"))
        colour = np.asarray(cutout)
        assert colour.shape == source.shape
        np.testing.assert_array_equal(colour[..., 3], source[..., 3])
        assert np.abs(pixels.luminance(colour) - pixels.luminance(source)).max() < 0.6

    cv2 = pytest.importorskip("cv2")
    scan = cv2.imread(str(out / "1950s" / "scan16.png"), cv2.IMREAD_UNCHANGED)
    assert scan.dtype == np.uint16 and scan.shape == (30, 40, 3)
    source16 = np.asarray(Image.open(archive / "1950s" / "scan16.png")).astype(np.uint16)
    L_colour = pixels.luminance(cv2.cvtColor(scan, cv2.COLOR_BGR2RGB))
    assert np.abs(L_colour - pixels.luminance(source16)).max() < 0.01

    with Image.open(out / "1950s" / "summer" / "wave.gif") as wave:
        assert wave.n_frames == 3
        assert [frame.info["duration"] for frame in ImageSequence.Iterator(wave)] == [80, 90, 100]
    assert Image.open(out / "1950s" / "dot.png").size == (1, 1)
    assert Image.open(out / "print.tif").mode == "RGB"


def test_video_in_gives_video_out_with_every_frame_and_the_audio(tmp_path, tiny_model, capsys):
    av = pytest.importorskip("av")
    pytest.importorskip("cv2")  # read_video decodes with OpenCV
    source = tmp_path / "home movie.mp4"
    frame_count, fps = 24, 12
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        for index in range(frame_count):
            image = np.full((48, 64, 3), index * 10, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        tone = (0.2 * np.sin(np.arange(16000 * 2) / 16000 * 2 * np.pi * 330)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="fltp", layout="mono"
            )
            chunk.sample_rate = 16000
            for packet in audio.encode(chunk):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)

    out = tmp_path / "out"
    assert main(["colorize", str(source), "-o", str(out), "--model", str(tiny_model)]) == 0
    result = out / "home movie.mp4"
    frames, result_fps = read_video(result)
    assert len(frames) == frame_count
    assert result_fps == pytest.approx(fps)
    assert frames[0].shape == (48, 64, 3)
    with av.open(str(result)) as container:
        assert len(container.streams.audio) == 1


def test_usage_errors_exit_2(archive, tmp_path, tiny_model, capsys):
    assert main(["colorize", str(archive), "-o", str(archive), "--model", str(tiny_model)]) == 2
    assert "is the input folder itself" in capsys.readouterr().err
    assert (
        main(
            [
                "colorize",
                str(tmp_path / "missing"),
                "-o",
                str(tmp_path / "o"),
                "--model",
                str(tiny_model),
            ]
        )
        == 2
    )
    assert "input not found" in capsys.readouterr().err
    assert (
        main(
            [
                "colorize",
                str(archive),
                "-o",
                str(tmp_path / "o"),
                "--model",
                str(tmp_path / "none.tflite"),
            ]
        )
        == 2
    )
    assert "model file not found" in capsys.readouterr().err
    assert (
        main(
            [
                "colorize",
                str(archive),
                "-o",
                str(tmp_path / "o"),
                "--model",
                str(tiny_model),
                "--saturation",
                "-1",
            ]
        )
        == 2
    )
    assert not (tmp_path / "o").exists()  # nothing written for a usage error


def test_tiff_tags_transparent_gif_and_animated_webp(tmp_path, tiny_model):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    rgb = data.chelsea()[::6, ::6]  # (50, 76, 3)
    Image.fromarray(rgb).save(
        folder / "print.tif",
        dpi=(1200, 1200),
        tiffinfo={315: "A. Photographer", 270: "Grandma, 1952"},
    )
    rgba = np.dstack(
        [rgb, np.where(np.arange(76) < 30, 0, 255).astype(np.uint8)[None, :].repeat(50, 0)]
    )
    Image.fromarray(rgba).save(folder / "sticker.gif")
    frames = [Image.fromarray(np.roll(rgb, shift, axis=1)) for shift in (0, 10)]
    frames[0].save(
        folder / "loop.webp", save_all=True, append_images=frames[1:], duration=120, loop=0
    )
    code = main(["colorize", str(folder), "-o", str(out), "--model", str(tiny_model), "--recolor"])
    assert code == 0

    with Image.open(out / "print.tif") as tiff:
        assert tiff.size == (76, 50) and tiff.mode == "RGB"
        assert tiff.info["dpi"] == pytest.approx((1200, 1200))
        assert tiff.getexif().get(315) == "A. Photographer"
        assert tiff.getexif().get(270) == "Grandma, 1952"
    with Image.open(out / "sticker.gif") as sticker:
        alpha = np.asarray(sticker.convert("RGBA"))[..., 3]
        assert (alpha[:, :30] == 0).all() and (alpha[:, 30:] == 255).all()
    with Image.open(out / "loop.webp") as webp:
        assert webp.n_frames == 2 and webp.size == (76, 50)


def test_two_inputs_with_one_output_name_do_not_overwrite_each_other(tmp_path, tiny_model, capsys):
    first, second, out = tmp_path / "box1", tmp_path / "box2", tmp_path / "out"
    first.mkdir()
    second.mkdir()
    Image.new("L", (8, 8), 30).save(first / "photo.png")
    Image.new("L", (8, 8), 220).save(second / "photo.png")
    code = main(["colorize", str(first), str(second), "-o", str(out), "--model", str(tiny_model)])
    assert code == 1
    assert "box2/photo.png: its output" in capsys.readouterr().err
    assert np.asarray(Image.open(out / "photo.png")).mean() < 100  # the first one's, untouched


def _one_line_exit_2(code: int, stderr: str, *names: str) -> None:
    """Exit 2 with one stderr line that names each of ``names`` (no traceback)."""
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert all(name in lines[0] for name in names), lines[0]


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_2(tmp_path, tiny_model, capsys):
    """Issue 17 item 14: -o under a regular file (root cannot write there either)."""
    photo = tmp_path / "photo.png"
    Image.new("L", (8, 8), 90).save(photo)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    for out in (blocker / "sub", blocker):
        code = main(["colorize", str(photo), "-o", str(out), "--model", str(tiny_model)])
        _one_line_exit_2(code, capsys.readouterr().err, str(out))
    assert blocker.read_text() == "a file, not a folder"


def test_a_read_only_output_folder_is_one_line_and_exit_2(tmp_path, tiny_model, capsys):
    """Issue 17 item 14: a folder without write permission (not testable as root)."""
    photo, out = tmp_path / "photo.png", tmp_path / "locked"
    Image.new("L", (8, 8), 90).save(photo)
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running as root: chmod does not stop writing")
        code = main(["colorize", str(photo), "-o", str(out), "--model", str(tiny_model)])
        _one_line_exit_2(code, capsys.readouterr().err, str(out))
    finally:
        out.chmod(0o755)


def test_output_folder_of_a_file_input_is_refused_not_skipped(tmp_path, tiny_model, capsys):
    """Issue 17 item 15: `colorize photos/a.png -o photos` said "1 already done", exit 0."""
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "a.png"
    Image.new("L", (8, 8), 90).save(photo)
    original = photo.read_bytes()
    code = main(["colorize", str(photo), "-o", str(photos), "--model", str(tiny_model)])
    _one_line_exit_2(code, capsys.readouterr().err, str(photos), str(photo))
    assert photo.read_bytes() == original
    code = main(["colorize", str(photos), "-o", str(photos), "--model", str(tiny_model)])
    _one_line_exit_2(code, capsys.readouterr().err, str(photos))


def _toned(gray: np.ndarray, tone=(1.0, 0.86, 0.68)) -> np.ndarray:
    """A sepia-like print: the gray photo in one warm hue (plenty of colour, one per lightness)."""
    return np.clip(gray[..., None] * np.array(tone), 0, 255).astype(np.uint8)


def test_a_colour_photo_is_kept_as_it_is_unless_recolor(tmp_path, tiny_model, capsys):
    """Issue 17 item 16: a colour photo's real colours were replaced by the model's guess."""
    folder, out = tmp_path / "photos", tmp_path / "out"
    folder.mkdir()
    gray = np.asarray(Image.fromarray(data.camera()[::8, ::8]))
    Image.fromarray(data.chelsea()[::6, ::6]).save(folder / "cat.jpg", quality=90)
    Image.fromarray(_toned(gray)).save(folder / "sepia.jpg", quality=75)
    cyanotype = _toned(gray, (0.35, 0.65, 0.95))
    Image.fromarray(cyanotype).save(folder / "cyanotype.png")
    Image.fromarray(gray).save(folder / "gray.png")
    run = ["colorize", str(folder), "-o", str(out), "--model", str(tiny_model)]

    assert main(run) == 0
    stderr = capsys.readouterr().err
    assert f"kept {folder / 'cat.jpg'}: already in colour" in stderr
    assert "3 colorized, 0 already done, 0 failed, 1 kept: already in colour" in stderr
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "cyanotype.png",
        "gray.png",
        "sepia.jpg",
    ]
    assert "KEPT" in (out / ".edgecolor" / "log.txt").read_text()

    assert main(run) == 0  # a re-run says so again, and still writes nothing for it
    assert "0 colorized, 3 already done, 0 failed, 1 kept" in capsys.readouterr().err
    assert not (out / "cat.jpg").exists()

    assert main([*run, "--recolor"]) == 0
    assert "1 colorized, 3 already done, 0 failed ->" in capsys.readouterr().err
    assert Image.open(out / "cat.jpg").size == Image.open(folder / "cat.jpg").size

    single = tmp_path / "single"  # a file named on the command line, with alpha
    rgba16 = np.dstack([data.chelsea()[::6, ::6], np.full((50, 76), 255, np.uint8)])
    Image.fromarray(rgba16).save(folder / "sticker.png")
    assert main(["colorize", str(folder / "sticker.png"), "-o", str(single)]) == 0
    assert "1 kept" in capsys.readouterr().err and not (single / "sticker.png").exists()


def test_colour_photos_are_told_from_gray_and_toned_black_and_white():
    """Toned prints (sepia, cyanotype, a print scanned in colour) are colorized; photos with
    colours of their own are not (issue 17 item 16)."""
    from edgecolor.device.files.batch import is_colour_photo

    gray = data.camera()
    noise = np.random.default_rng(0).normal(0, 3, (*gray.shape, 3))
    scanned = np.clip(_toned(gray, (1.0, 0.95, 0.85)) + noise, 0, 255).astype(np.uint8)
    for monochrome in (gray, np.dstack([gray] * 3), _toned(gray), scanned, gray.astype(np.uint16)):
        assert not is_colour_photo(monochrome)
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        photo = getattr(data, name)()
        assert is_colour_photo(photo), name
        assert is_colour_photo(photo.astype(np.uint16) * 257), name  # 16-bit scans
