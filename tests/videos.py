"""Reading video files back in tests (OpenCV: the camera extra, installed by `make .venv`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of ``path`` (BGR uint8 (H, W, 3)) and its frame rate; [] when unreadable."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps
