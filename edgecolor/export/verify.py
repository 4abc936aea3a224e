"""Verification of an exported file through the device runtime's own ``Colorizer``.

Every export is run right after it is written, by the code users run (LiteRT, no
TensorFlow on that path), on hold-out photos, side by side with the float Keras generator
it came from:

    photo -> 8-bit gray of its own L -> Colorizer.colorize           -> PSNR / CIEDE2000
                                     -> Colorizer.prepare -> Keras -> Colorizer.join -> ...

Both go through the same resize and the same full-resolution join, so the only difference
is the model. The export is rejected when the file's PSNR is more than
``MAX_PSNR_DROP_DB`` below the float generator's.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# An exported file may lose at most this much PSNR against the float Keras generator.
MAX_PSNR_DROP_DB = 0.5
# Verification photos are shrunk to this short side: enough detail for the full-resolution
# join to matter, small enough that verification takes seconds.
VERIFY_SHORT_SIDE = 256
MAX_VERIFY_PHOTOS = 24


@dataclass
class QualityReport:
    """Quality of an exported file and of its float generator on the same photos.

    PSNR in dB over 8-bit RGB, mean CIEDE2000 and the colourfulness ratio (output /
    original, 1 = as colourful; L1-only models drift below it), each averaged over the
    photos; ``ab_error``
    compares the file's raw ab output (``Colorizer.predict_ab``) with the Keras model's on
    the same model-size L: mean and max absolute difference in ab/110 units.
    """

    photos: int
    psnr: float
    psnr_float: float
    delta_e2000: float
    delta_e2000_float: float
    colorfulness_ratio: float
    colorfulness_ratio_float: float
    ab_mean_error: float
    ab_max_error: float
    backend: str
    per_photo: list[dict] = field(default_factory=list)
    # The hue figures (``evaluation.metrics.HueCounts.figures``) of the file and of the
    # float generator, pooled over the photos: hue hit per family, sepia share, neutral chroma.
    hue: dict = field(default_factory=dict)
    hue_float: dict = field(default_factory=dict)

    @property
    def psnr_drop(self) -> float:
        """How many dB the file is below the float generator (negative when above)."""
        return self.psnr_float - self.psnr

    @property
    def accepted(self) -> bool:
        return self.psnr_drop <= MAX_PSNR_DROP_DB

    def as_dict(self) -> dict:
        values = asdict(self)
        values["psnr_drop"] = self.psnr_drop
        values["max_psnr_drop"] = MAX_PSNR_DROP_DB
        values["accepted"] = self.accepted
        return values


def load_photos(paths, short_side: int = VERIFY_SHORT_SIDE, limit: int = MAX_VERIFY_PHOTOS):
    """Decode up to ``limit`` colour photos (uint8 (H, W, 3)), skipping unreadable ones.

    Returns:
        (photos, names, skipped): the arrays, their file names, and "name: reason" lines.
    """
    from edgecolor.photos import ImageReadError, read_rgb

    photos, names, skipped = [], [], []
    for path in paths:
        if len(photos) >= limit:
            break
        try:
            photos.append(read_rgb(path, short_side))
            names.append(Path(path).name)
        except ImageReadError as error:
            skipped.append(f"{Path(path).name}: {error}")
    return photos, names, skipped


def verify_quality(
    model_path: str | Path,
    keras_model,
    photos: list[np.ndarray],
    names: list[str] | None = None,
    threads: int | None = 2,
) -> QualityReport:
    """Colorize ``photos`` with the exported file (device Colorizer) and the Keras generator.

    Args:
        model_path: the exported .tflite with its .json beside it.
        keras_model: the float generator, float32 (N, h, w, 1) L/50-1 -> (N, h, w, 2) ab/110.
        photos: uint8 (H, W, 3) sRGB originals (any size).
        names: a label per photo for the per-photo figures.
        threads: XNNPACK threads for the Colorizer.
    """
    from edgecolor.device import Colorizer
    from edgecolor.evaluation.metrics import (
        colorfulness_ratio,
        hue_counts,
        is_color_photo,
        mean_delta_e2000,
        psnr,
        sum_hue_counts,
        to_grayscale,
    )

    if not photos:
        raise ValueError("verification needs at least one photo")
    names = names or [f"photo {index}" for index in range(len(photos))]
    colorizer = Colorizer(model_path, device="cpu", threads=threads)
    rows = []
    ab_errors = []
    hues, hues_float = [], []
    for name, original in zip(names, photos, strict=True):
        gray = to_grayscale(original)  # uint8 (H, W), the photo's own L as neutral gray
        exported = colorizer.colorize(gray)
        prepared = colorizer.prepare(gray)
        ab_file = colorizer.predict_ab(prepared.L_scaled)  # (h, w, 2) ab / 110
        ab_keras = np.asarray(
            keras_model(prepared.L_scaled[None, :, :, None], training=False)[0], np.float32
        )
        floating = colorizer.join(prepared, ab_keras)
        ab_errors.append(np.abs(ab_file - ab_keras))
        hues.append(hue_counts(original, exported))
        hues_float.append(hue_counts(original, floating))
        rows.append(
            {
                "photo": name,
                "psnr": psnr(original, exported),
                "psnr_float": psnr(original, floating),
                "delta_e2000": mean_delta_e2000(original, exported),
                "delta_e2000_float": mean_delta_e2000(original, floating),
                # Undefined for a gray original (nothing to compare colour against).
                "colorfulness_ratio": colorfulness_ratio(original, exported)
                if is_color_photo(original)
                else None,
                "colorfulness_ratio_float": colorfulness_ratio(original, floating)
                if is_color_photo(original)
                else None,
            }
        )

    def mean(key: str) -> float:
        values = [row[key] for row in rows if row[key] is not None]
        return float(np.mean(values)) if values else float("nan")

    report = QualityReport(
        photos=len(rows),
        psnr=mean("psnr"),
        psnr_float=mean("psnr_float"),
        delta_e2000=mean("delta_e2000"),
        delta_e2000_float=mean("delta_e2000_float"),
        colorfulness_ratio=mean("colorfulness_ratio"),
        colorfulness_ratio_float=mean("colorfulness_ratio_float"),
        ab_mean_error=float(np.mean([error.mean() for error in ab_errors])),
        ab_max_error=float(max(error.max() for error in ab_errors)),
        backend=colorizer.backend_name,
        per_photo=rows,
        hue=sum_hue_counts(hues).figures(),
        hue_float=sum_hue_counts(hues_float).figures(),
    )
    log.info(
        "verification on %d photos (%s): PSNR %.2f dB (float %.2f dB, drop %.2f dB), "
        "CIEDE2000 %.2f (float %.2f), colourfulness ratio %.2f (float %.2f), "
        "ab error mean %.4f max %.4f; hue hit %s (float %s), sepia %s (float %s)",
        report.photos,
        report.backend,
        report.psnr,
        report.psnr_float,
        report.psnr_drop,
        report.delta_e2000,
        report.delta_e2000_float,
        report.colorfulness_ratio,
        report.colorfulness_ratio_float,
        report.ab_mean_error,
        report.ab_max_error,
        _figure(report.hue["hue_hit"]["all"]),
        _figure(report.hue_float["hue_hit"]["all"]),
        _figure(report.hue["sepia_share"]),
        _figure(report.hue_float["sepia_share"]),
    )
    return report


def _figure(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"
