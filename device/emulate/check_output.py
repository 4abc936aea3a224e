"""Checks for check-arm64.sh; exit status 1 (with the reason) when a check fails.

python check_output.py compare HOST.npy ARM.npy
    the raw int8 outputs of the same invoke on x86-64 and on arm64 agree (<= 1 LSB)
python check_output.py colorized ORIGINAL OUTPUT_STEM
    exactly one colorized file OUTPUT_STEM.*, with the original's size and luminance
python check_output.py video SOURCE RECORDED FRAMES
    the recorded video reads back with OpenCV: FRAMES colour frames of SOURCE's size
python check_output.py colorized-video SOURCE OUTPUT
    `edgecolor colorize`'s output of the video SOURCE reads back with PyAV: as many
    frames as SOURCE, of its size, in colour
python check_output.py video-mode MODEL SOURCE
    the live loop's 4:2:0 join (FrameColorizer) on a frame of SOURCE: planes of
    the right sizes, the frame's luma kept, close to the exact join, JPEG from planes
"""

from __future__ import annotations

import glob
import sys

import numpy as np


def compare(host_path: str, arm_path: str) -> None:
    host = np.load(host_path).astype(np.int32)
    arm = np.load(arm_path).astype(np.int32)
    if host.shape != arm.shape:
        sys.exit(f"FAIL: output shapes differ: x86 {host.shape}, arm64 {arm.shape}")
    difference = np.abs(host - arm)
    print(
        f"raw int8 output {arm.shape}: max |arm64 - x86| = {difference.max()} LSB, "
        f"{(difference > 0).mean():.2%} of values differ"
    )
    if difference.max() > 1:
        sys.exit("FAIL: arm64 and x86 XNNPACK disagree")


def colorized(original_path: str, output_stem: str) -> None:
    from PIL import Image

    from edgecolor import color

    outputs = glob.glob(output_stem + ".*")
    if len(outputs) != 1:
        sys.exit(f"FAIL: expected one output for {output_stem}, found {outputs}")
    original = Image.open(original_path)
    result = Image.open(outputs[0])
    if result.size != original.size:
        sys.exit(f"FAIL: output size {result.size} != input size {original.size}")
    gray = np.asarray(original.convert("L"), np.float32) / 255.0
    lab = color.rgb_to_lab(np.asarray(result.convert("RGB"), np.float32) / 255.0)
    difference = np.abs(lab[..., 0] - color.gray_to_luminance(gray))
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    print(
        f"{outputs[0]}: {result.size} {result.mode}; L difference mean {difference.mean():.2f}, "
        f"p99 {np.percentile(difference, 99):.2f}; mean chroma {chroma.mean():.1f}"
    )
    # 8-bit RGB rounding (and gamut clipping of strong colours) moves L a little only.
    if difference.mean() > 1.0:
        sys.exit("FAIL: the colorized image does not keep the input's luminance")
    print("PASS: size and luminance kept")


def video(source_path: str, recorded_path: str, frames: int) -> None:
    import cv2

    source = cv2.VideoCapture(source_path)
    size = (int(source.get(cv2.CAP_PROP_FRAME_WIDTH)), int(source.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    recorded = cv2.VideoCapture(recorded_path)
    count, chroma = 0, []
    while True:
        ok, frame = recorded.read()
        if not ok:
            break
        count += 1
        if (frame.shape[1], frame.shape[0]) != size:
            sys.exit(
                f"FAIL: recorded frame {count} is {frame.shape[1]}x{frame.shape[0]}, source {size}"
            )
        lab = cv2.cvtColor(frame, cv2.COLOR_BGR2LAB).astype(np.float32)
        chroma.append(float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean()))
    print(
        f"{recorded_path}: {count} frames of {size[0]}x{size[1]} (OpenCV {cv2.__version__}); "
        f"mean chroma {np.mean(chroma) if chroma else 0:.1f} (8-bit Lab units)"
    )
    if count != frames:
        sys.exit(f"FAIL: expected {frames} frames, read {count}")
    print("PASS: the recording reads back with every frame")


def colorized_video(source_path: str, output_path: str) -> None:
    import av

    def frames_of(path: str) -> list[np.ndarray]:
        with av.open(path) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    source, output = frames_of(source_path), frames_of(output_path)
    if not output or len(output) != len(source):
        sys.exit(f"FAIL: {output_path} has {len(output)} frames, {source_path} {len(source)}")
    if output[0].shape != source[0].shape:
        sys.exit(f"FAIL: output frames are {output[0].shape}, the source's {source[0].shape}")
    # Colour: the mean spread between a pixel's channels (0 for a grey frame).
    spread = float(np.mean([np.ptp(frame.astype(np.int16), axis=-1).mean() for frame in output]))
    print(
        f"{output_path}: {len(output)} frames of {output[0].shape[1]}x{output[0].shape[0]} "
        f"(PyAV {av.__version__}); mean channel spread {spread:.1f} (8-bit)"
    )
    if spread < 1.0:
        sys.exit("FAIL: the colorized video has no colour")
    print("PASS: the colorized video reads back with every frame, in colour")


def video_mode(model_path: str, source_path: str) -> None:
    import cv2

    from edgecolor.device import Colorizer, FrameColorizer
    from edgecolor.device.frames.preview import encode_jpeg

    capture = cv2.VideoCapture(source_path)
    for _ in range(10):
        ok, frame = capture.read()
    if not ok:
        sys.exit(f"FAIL: cannot read {source_path}")
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    photo = Colorizer(model_path, "cpu", 2)
    video = FrameColorizer(photo, smoothing=0)  # tables built by its warm-up
    prepared = video.prepare(gray)
    ab = photo.predict_ab(prepared.L_scaled)
    planes = video.join(prepared, ab)
    height, width = gray.shape
    if planes.y is not gray or planes.cb.shape != (height // 2, width // 2):
        sys.exit(
            f"FAIL: not the 4:2:0 join: luma shared {planes.y is gray}, chroma {planes.cb.shape}"
        )
    fast = planes.to_rgb().astype(np.int32)
    exact = photo.join(photo.prepare(gray), ab).astype(np.int32)
    difference = np.abs(fast - exact)
    jpeg = encode_jpeg(planes.draw_label("00.0 fps"))
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    print(
        f"frame path on {width}x{height} (OpenCV {cv2.__version__}, numpy {np.__version__}): "
        f"|video - exact join| mean {difference.mean():.2f}, p99 {np.percentile(difference, 99):.0f} "
        f"(8-bit); preview JPEG {len(jpeg)} bytes, decodes to {decoded.shape}"
    )
    if difference.mean() > 3.0 or decoded.shape != (height, width, 3):
        sys.exit("FAIL: the frame path's join is off, or its JPEG does not decode")
    print("PASS: the 4:2:0 join and its preview JPEG")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "colorized":
        colorized(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "video":
        video(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "colorized-video":
        colorized_video(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "video-mode":
        video_mode(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
