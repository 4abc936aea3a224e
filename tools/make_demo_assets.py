"""Rebuild the demo inputs bundled in ``edgecolor/assets/demo/`` from the shared sample data.

    .venv/bin/python tools/make_demo_assets.py --data ../shared/data

Writes six black-and-white JPEG photos from the training collection and two from a package
the default model was never trained on (scikit-image's coffee and cat), CC0 / public domain
only, longest side 480 px, 8-bit grayscale with each pixel at the original's CIE lightness) and a short grayscale clip
(MPEG-4 in MP4, 320x240) cut from ``video/vtest.avi``, plus ATTRIBUTION.md. The package ships
these files; this script only documents and repeats how they were made.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "edgecolor" / "assets" / "demo"
LONGEST_SIDE = 480
JPEG_QUALITY = 85
CLIP_START, CLIP_FRAMES, CLIP_SIZE = 0, 50, (320, 240)
CLIP_NAME = "street.mp4"

# (bundled name, path under photos/gcompris, author, licence, Wikimedia Commons source).
# Every entry is CC0-1.0 or public domain per the README beside the photo.
PHOTOS = (
    (
        "giraffes.jpg",
        "explore_world_animals/resource/animals/giraffe.jpg",
        "Mike and Lara Wolfe",
        "CC0-1.0",
        "https://commons.wikimedia.org/wiki/File:Giraffe_courtship_(25657342808).jpg",
    ),
    (
        "macaw.jpg",
        "explore_world_animals/resource/animals/scarlet_macaw.jpg",
        "Dcoetzee",
        "CC0-1.0",
        "https://commons.wikimedia.org/wiki/File:Scarlet_macaw_at_Cougar_Mountain_Zoological_Park.jpg",
    ),
    (
        "horses.jpg",
        "explore_farm_animals/resource/animals/horse.jpg",
        "Seth Zeigler",
        "CC0-1.0",
        "https://commons.wikimedia.org/wiki/File:Nokota_Horse_Stud_Band.jpg",
    ),
    (
        "machu-picchu.jpg",
        "explore_monuments/resource/wonders/machuPicchu.jpg",
        "Guillaume Pascal",
        "CC0-1.0",
        "https://commons.wikimedia.org/wiki/File:Yet_another_pic_of_machu_picchu.jpg",
    ),
    (
        "neuschwanstein.jpg",
        "explore_monuments/resource/germany/neuschwansteinCastle.jpg",
        "cameralends",
        "CC0-1.0",
        "https://commons.wikimedia.org/wiki/File:Neuschwanstein_Castle_(532850).jpg",
    ),
    (
        "mariachi.jpg",
        "explore_world_music/resource/music/mexico.jpg",
        "Elidealista",
        "CC0-1.0",
        "https://commons.wikimedia.org/wiki/File:Wikipedia_10_Guadalajara_-_Mariachi.jpg",
    ),
)


# (bundled name, file in scikit-image's data folder, author, licence, source): photos the
# default model was never trained on. scikit-image's photos are in the validation source
# (they took part in choosing among trained models, never in training them); their licence
# is in skimage/data/_fetchers.py. The default model before 2026-12-08 used KDE Plasma's
# avatar photos here, which the current one was trained on.
UNSEEN_PHOTOS = (
    (
        "unseen-coffee.jpg",
        "coffee.png",
        "Rachel Michetti",
        "CC0-1.0",
        "https://gitlab.com/scikit-image/data/-/raw/5c090b56df3988d988ff97928e2ef2d2cbe38e1b/coffee.png",
    ),
    (
        "unseen-cat.jpg",
        "chelsea.png",
        "Stefan van der Walt",
        "CC0-1.0",
        "https://gitlab.com/scikit-image/data/-/raw/5c090b56df3988d988ff97928e2ef2d2cbe38e1b/chelsea.png",
    ),
)


def make_photo(source: Path, target: Path) -> None:
    from PIL import Image

    from edgecolor.evaluation.metrics import to_grayscale

    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
        gray = to_grayscale(np.asarray(image, dtype=np.uint8))
    Image.fromarray(gray, mode="L").save(target, quality=JPEG_QUALITY, optimize=True)


def make_clip(source: Path, target: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise SystemExit(f"cannot open {source}")
    capture.set(cv2.CAP_PROP_POS_FRAMES, CLIP_START)
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    # MPEG-4 part 2 ("mp4v") in MP4: about 5x smaller than Motion-JPEG here, and every
    # OpenCV build with FFmpeg (pip wheels, Raspberry Pi OS) and PyAV read it back.
    writer = cv2.VideoWriter(
        str(target),
        cv2.CAP_FFMPEG,
        cv2.VideoWriter_fourcc(*"mp4v"),
        fps,
        CLIP_SIZE,
        [cv2.VIDEOWRITER_PROP_IS_COLOR, 0],
    )
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write mp4v video (needs an OpenCV build with FFmpeg)")
    written = 0
    while written < CLIP_FRAMES:
        ok, frame = capture.read()
        if not ok:
            break
        gray = cv2.cvtColor(
            cv2.resize(frame, CLIP_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        writer.write(gray)
        written += 1
    writer.release()
    capture.release()
    return written


ATTRIBUTION_HEAD = """# Demo inputs: sources and licences

The black-and-white photos and the clip that `edgecolor demo` colorizes. They were made by
`tools/make_demo_assets.py` from the project's development data (Debian packages
`gcompris-qt-data` 3.1, which ships the photos as WebP, re-encoded there as JPEG at 640 px;
and `opencv-doc` 4.6): each photo scaled to a longest side of
{longest} px and converted to 8-bit grayscale (each pixel the neutral gray of the original's
CIE L* lightness), JPEG quality {quality}. Only CC0 and public-domain photos are bundled, so no
attribution is legally required; it is given anyway.

| file | original (in gcompris-qt-data) | author | licence | source |
| --- | --- | --- | --- | --- |
"""

ATTRIBUTION_UNSEEN = """
## Photos the model was never trained on

The `unseen-*` photos come from PyPI package `scikit-image` (`skimage/data/`, each
dedicated CC0 by its photographer as `skimage/data/_fetchers.py` states). No photo of that
package was used to train the default model, so they show it on photos it has not learnt
from; they are in the validation source, which chose among trained models. The six above
are from its training collection.

| file | original (in scikit-image's data folder) | author | licence | source |
| --- | --- | --- | --- | --- |
"""

ATTRIBUTION_CLIP = """
## Clip

`{name}`: frames {first}-{last} of `vtest.avi` (a fixed outdoor camera filming
pedestrians, 768x576 at 10 fps) from Debian package `opencv-doc` 4.6
(`examples/data/vtest.avi`, OpenCV's sample data), scaled to {width}x{height}, converted to
grayscale and written as MPEG-4 part 2 video in an MP4 file. Licence: Apache-2.0 /
BSD-3-Clause, as OpenCV and its documentation package (the package does not document the
video's origin further).
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--unseen",
        type=Path,
        default=None,
        help="scikit-image's data folder (default: the installed package's)",
    )
    args = parser.parse_args()
    if args.unseen is None:
        import skimage

        args.unseen = Path(skimage.__file__).parent / "data"
    photo_root = args.data / "photos" / "gcompris"
    ASSETS.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, relative, author, licence, source in PHOTOS:
        make_photo(photo_root / relative, ASSETS / name)
        rows.append(f"| `{name}` | `{relative}` | {author} | {licence} | {source} |")
        print(f"{name}: {(ASSETS / name).stat().st_size / 1024:.0f} KB")
    unseen_rows = []
    for name, file_name, author, licence, source in UNSEEN_PHOTOS:
        make_photo(args.unseen / file_name, ASSETS / name)
        unseen_rows.append(f"| `{name}` | `{file_name}` | {author} | {licence} | {source} |")
        print(f"{name}: {(ASSETS / name).stat().st_size / 1024:.0f} KB")
    frames = make_clip(args.data / "video" / "vtest.avi", ASSETS / CLIP_NAME)
    print(f"{CLIP_NAME}: {frames} frames, {(ASSETS / CLIP_NAME).stat().st_size / 1024:.0f} KB")
    text = (
        ATTRIBUTION_HEAD.format(longest=LONGEST_SIDE, quality=JPEG_QUALITY) + "\n".join(rows) + "\n"
    )
    text += ATTRIBUTION_UNSEEN + "\n".join(unseen_rows) + "\n"
    text += ATTRIBUTION_CLIP.format(
        name=CLIP_NAME,
        first=CLIP_START,
        last=CLIP_START + frames - 1,
        width=CLIP_SIZE[0],
        height=CLIP_SIZE[1],
    )
    (ASSETS / "ATTRIBUTION.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
