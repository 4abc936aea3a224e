"""Comparison grid images: one row per photo, one labelled column per version (Pillow)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CELL_WIDTH = 256
CELL_HEIGHT = 192
HEADER_HEIGHT = 22
GAP = 4
BACKGROUND = (255, 255, 255)
LABEL_COLOR = (20, 20, 20)


def thumbnail(image: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Shrink uint8 (H, W) or (H, W, C) to fit max_width x max_height (aspect kept; never enlarged)."""
    from PIL import Image

    image = np.asarray(image, dtype=np.uint8)
    if image.shape[0] <= max_height and image.shape[1] <= max_width:
        return image
    picture = Image.fromarray(image)
    picture.thumbnail((max_width, max_height), Image.Resampling.LANCZOS)
    return np.asarray(picture, dtype=np.uint8)


def _fit(image: np.ndarray, width: int, height: int):
    """uint8 (H, W) or (H, W, 3) -> an RGB Pillow image of exactly width x height, letterboxed."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    picture.thumbnail((width, height), Image.Resampling.LANCZOS)
    cell = Image.new("RGB", (width, height), BACKGROUND)
    cell.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    return cell


def comparison_grid(
    rows: Sequence[Sequence[np.ndarray]],
    labels: Sequence[str],
    cell_width: int = CELL_WIDTH,
    cell_height: int = CELL_HEIGHT,
) -> np.ndarray:
    """Tile images into a grid with a label above each column.

    Args:
        rows: one sequence per photo, one image per column: uint8 (H, W) gray or (H, W, 3)
            RGB, any size (each is scaled to fit its cell, keeping its aspect ratio).
        labels: one column title per image in a row, e.g. ["grayscale", "int8", "original"].
    Returns:
        uint8 (H_grid, W_grid, 3) RGB.
    """
    from PIL import Image, ImageDraw, ImageFont

    if not rows:
        raise ValueError("a grid needs at least one row")
    columns = len(labels)
    for index, row in enumerate(rows):
        if len(row) != columns:
            raise ValueError(f"row {index} has {len(row)} images, expected {columns} ({labels})")
    width = columns * cell_width + (columns + 1) * GAP
    height = HEADER_HEIGHT + len(rows) * (cell_height + GAP) + GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for column, label in enumerate(labels):
        left = GAP + column * (cell_width + GAP)
        # Keep long model names inside their column.
        text = label if len(label) <= 40 else label[:37] + "..."
        draw.text((left + 2, 5), text, fill=LABEL_COLOR, font=font)
    for row_index, row in enumerate(rows):
        top = HEADER_HEIGHT + row_index * (cell_height + GAP)
        for column, image in enumerate(row):
            left = GAP + column * (cell_width + GAP)
            canvas.paste(_fit(image, cell_width, cell_height), (left, top))
    return np.asarray(canvas, dtype=np.uint8)
