"""Hold-out evaluation and the study's three-column sample grid.

The grid has one row per hold-out photo and three columns, as in the study:
grayscale input | generated colours | original. It is written with Pillow, atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecolor import color
from edgecolor.files import atomic_output


def predict_ab(generator, L_scaled: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Run the generator in inference mode (no dropout, batch-norm statistics frozen).

    Args:
        L_scaled: float32 (N, S, S, 1), L / 50 - 1.
    Returns:
        float32 (N, S, S, 2), ab / 110.
    """
    outputs = [
        np.asarray(
            generator(L_scaled[start : start + batch_size], training=False), dtype=np.float32
        )
        for start in range(0, len(L_scaled), batch_size)
    ]
    if not outputs:
        return np.zeros(L_scaled.shape[:-1] + (2,), np.float32)
    return np.concatenate(outputs)


def lab_scaled_to_rgb(L_scaled: np.ndarray, ab_scaled: np.ndarray) -> np.ndarray:
    """(…, 1) L / 50 - 1 and (…, 2) ab / 110 -> float32 (…, 3) sRGB in [0, 1]."""
    scaling = color.LAB_SCALING
    lab = np.concatenate(
        [scaling.L_from_model(L_scaled), scaling.ab_from_model(ab_scaled)], axis=-1
    )
    return color.lab_to_rgb(lab)


def evaluate(generator, rgb: np.ndarray, L_scaled: np.ndarray, ab_scaled: np.ndarray) -> dict:
    """Hold-out metrics of a generator on fixed centre crops.

    Args:
        rgb: float32 (N, S, S, 3) originals in [0, 1]; L_scaled (N, S, S, 1); ab_scaled (N, S, S, 2).
    Returns:
        {"holdout_l1": mean |ab error| in ab / 110 units, "holdout_psnr": mean RGB PSNR in dB,
        "holdout_colorfulness": mean Hasler-Suesstrunk colourfulness of the colorized
        photos, "original_colorfulness": the same for the originals}; {} when N is 0.
    """
    from skimage.metrics import peak_signal_noise_ratio

    if len(rgb) == 0:
        return {}
    predicted = predict_ab(generator, L_scaled)
    colorized = lab_scaled_to_rgb(L_scaled, predicted)
    psnr = [
        peak_signal_noise_ratio(original, generated, data_range=1.0)
        for original, generated in zip(
            rgb.astype(np.float64), colorized.astype(np.float64), strict=True
        )
    ]
    return {
        "holdout_l1": float(np.mean(np.abs(predicted - ab_scaled))),
        "holdout_psnr": float(np.mean(np.minimum(psnr, 100.0))),  # identical images give inf
        "holdout_colorfulness": float(np.mean([color.colorfulness(image) for image in colorized])),
        "original_colorfulness": float(np.mean([color.colorfulness(image) for image in rgb])),
    }


def sample_grid(rgb: np.ndarray, L_scaled: np.ndarray, predicted_ab: np.ndarray) -> np.ndarray:
    """The three-column grid: grayscale | generated | original, one row per photo.

    Args:
        rgb: float32 (N, S, S, 3) originals in [0, 1]; L_scaled (N, S, S, 1);
            predicted_ab (N, S, S, 2) generator output, ab / 110.
    Returns:
        uint8 (N * S, 3 * S, 3).
    """
    gray = lab_scaled_to_rgb(L_scaled, np.zeros_like(predicted_ab))
    generated = lab_scaled_to_rgb(L_scaled, predicted_ab)
    rows = [np.concatenate([g, c, o], axis=1) for g, c, o in zip(gray, generated, rgb, strict=True)]
    grid = np.concatenate(rows, axis=0)
    return (np.clip(grid, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_sample_grid(path: str | Path, generator, rgb, L_scaled, write: bool = True) -> Path:
    """Colorize the hold-out crops and write the grid PNG atomically (temp file + rename).

    ``write`` False only colorizes: in multi-worker training every worker must run the
    generator the same way (its variables are synchronised collectively), but only the
    chief writes files.
    """
    from PIL import Image

    path = Path(path)
    grid = sample_grid(rgb, L_scaled, predict_ab(generator, L_scaled))
    if write:
        with atomic_output(path) as temporary:
            Image.fromarray(grid).save(temporary, format="PNG")
    return path
