"""Make a large synthetic photo collection from real photos, for bench/bench_shards.py.

    .venv/bin/python bench/make_collection.py --out /work/tmp50k/photos --count 50000 \
        /work/shared/data/photos /work/data/train-photos

Each output photo is a random crop (40-100 % of the source's side, any aspect between 3:4
and 4:3) of a source photo, resized so its long side is 400-800 px, saved as a JPEG at
quality 90 under ``OUT/<licence folder of its source>/``. Resumable: existing outputs are
kept. Never commit the output (it is tens of thousands of derived photos).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from edgecolor.photos import ImageReadError, collect_photos, read_rgb
from edgecolor.training.shards import licence_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="folders of real photos")
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    roots = [Path(source).resolve() for source in args.sources]
    sources = [path.resolve() for path in collect_photos(roots)]
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    per_source = -(-args.count // len(sources))
    made = 0
    for source_index, source in enumerate(sources):
        first = source_index * per_source
        if first >= args.count:
            break
        wanted = range(first, min(first + per_source, args.count))
        folder = out / licence_folder(source, roots)
        names = [folder / f"{index:06d}.jpg" for index in wanted]
        # Draw the random numbers even for photos that exist, so a resumed run makes the same.
        draws = rng.uniform(size=(len(names), 5))
        if all(name.exists() for name in names):
            made += len(names)
            continue
        try:
            rgb = read_rgb(source, 1200)
        except ImageReadError as error:
            print(f"skipped {source}: {error}", file=sys.stderr)
            continue
        height, width = rgb.shape[:2]
        folder.mkdir(parents=True, exist_ok=True)
        for name, (side, aspect, top, left, longest) in zip(names, draws, strict=True):
            if name.exists():
                made += 1
                continue
            crop_h = max(16, int(min(height, width) * (0.4 + 0.6 * side)))
            crop_w = min(width, max(16, int(crop_h * (0.75 + 0.58 * aspect))))
            y = int(top * (height - crop_h + 1))
            x = int(left * (width - crop_w + 1))
            crop = Image.fromarray(rgb[y : y + crop_h, x : x + crop_w])
            long_side = int(400 + 400 * longest)
            scale = long_side / max(crop_h, crop_w)
            size = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
            crop = crop.resize(size, Image.Resampling.BILINEAR)
            partial = name.with_suffix(".part")
            crop.save(partial, format="JPEG", quality=90)
            partial.rename(name)
            made += 1
        if source_index % 50 == 0:
            print(f"{made} photos", flush=True)
    print(f"{made} photos in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
