"""`edgecolor colorize --ray` against plain `edgecolor colorize` on the same photos.

    .venv/bin/python bench/bench_ray.py [--photos DIR] [--count 200] [--runs 3] [--min-side PX]

Needs the ``ray`` extra (``pip install '.[ray]'``); without it, says so and exits 0.

The photos: every image under ``--photos`` (default: scikit-image's bundled photos),
turned gray (black-and-white photos are what edgecolor colorizes; a colour photo would be
kept as it is) and repeated with different crops until there are ``--count``, written
once to a temporary folder. Each run colorizes all of them into a fresh folder with the
bundled model, one command after the other, never two at once:

* ``colorize``: the plain command, one process, LiteRT on every core;
* ``colorize --ray``: the command starting its own local Ray (one actor per core, one
  thread each), Ray's start-up and shutdown included, as a user would run it;
* ``colorize --ray ADDRESS``: joining a local Ray that this script started beforehand
  (as on a cluster that is already up): the driver's connection and the actors' start-up
  included, the cluster's start not.

Each figure is the end-to-end time of the command (process start to exit); photos/s =
photos / that time; "once running" counts from the first output written to the last
(their modification times), leaving start-up and shutdown out. Medians over ``--runs``,
the three commands interleaved in each run.
The outputs of the runs are checked to be the same pixels.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown CPU"
    fields = dict(line.partition(":")[::2] for line in lscpu.splitlines())
    model = fields.get("Model name", "unknown CPU").strip()
    vnni = "avx512_vnni" in fields.get("Flags", "")
    return f"{model}, {os.cpu_count()} logical CPUs, AVX-512 VNNI: {'yes' if vnni else 'no'}"


def source_photos(folder: Path | None) -> list[Image.Image]:
    if folder is None:
        from skimage import data

        return [
            Image.fromarray(getattr(data, name)())
            for name in (
                "camera",
                "astronaut",
                "coffee",
                "chelsea",
                "rocket",
                "immunohistochemistry",
                "hubble_deep_field",
            )
        ]
    suffixes = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
    photos = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in suffixes:
            try:
                with Image.open(path) as image:
                    photos.append(image.convert("RGB"))
            except OSError:
                continue
    if not photos:
        raise SystemExit(f"--photos {folder}: no photos there")
    return photos


def make_photos(
    sources: list[Image.Image], count: int, folder: Path, min_side: int = 0
) -> list[tuple[int, int]]:
    """``count`` gray JPEGs in ``folder``: the sources, then crops of them (70-100% of each
    side, seeded), in turn; enlarged to a short side of ``min_side`` where smaller (scans
    are larger than web photos). Returns their sizes."""
    random = np.random.default_rng(0)
    sizes = []
    for index in range(count):
        photo = sources[index % len(sources)].convert("L")
        if index >= len(sources):
            width, height = photo.size
            w, h = (int(side * random.uniform(0.7, 1.0)) for side in (width, height))
            left, top = random.integers(0, width - w + 1), random.integers(0, height - h + 1)
            photo = photo.crop((left, top, left + w, top + h))
        if min(photo.size) < min_side:
            scale = min_side / min(photo.size)
            size = (round(photo.width * scale), round(photo.height * scale))
            photo = photo.resize(size, Image.Resampling.BICUBIC)
        photo.save(folder / f"photo{index:04d}.jpg", quality=90)
        sizes.append(photo.size)
    return sizes


def timed_colorize(source: Path, out: Path, *ray: str) -> float:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "edgecolor.cli", "colorize", str(source), "-o", str(out)]
    start = time.perf_counter()
    finished = subprocess.run(
        [*command, *ray], capture_output=True, text=True, env=environment, cwd=REPO
    )
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command + list(ray))} failed:\n{finished.stderr}")
    return seconds


def steady_rate(out: Path) -> float:
    """Photos/s once running: outputs between the first and the last one written (their
    modification times), over the time between them; start-up and shutdown left out."""
    times = sorted(path.stat().st_mtime for path in out.glob("*.jpg"))
    return (len(times) - 1) / (times[-1] - times[0])


def same_pixels(first: Path, second: Path) -> bool:
    names = sorted(path.name for path in first.glob("*.jpg"))
    if names != sorted(path.name for path in second.glob("*.jpg")):
        return False
    for name in names:
        with Image.open(first / name) as a, Image.open(second / name) as b:
            if not np.array_equal(np.asarray(a), np.asarray(b)):
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, help="a folder of photos (default: scikit-image's)")
    parser.add_argument("--count", type=int, default=200, help="photos to colorize (200)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (3)")
    parser.add_argument(
        "--min-side", type=int, default=0, help="enlarge photos to this short side (px)"
    )
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        print("ray is not installed (pip install '.[ray]'): nothing measured")
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as temporary:
        work = Path(temporary)
        source = work / "photos"
        source.mkdir()
        sizes = make_photos(source_photos(args.photos), args.count, source, args.min_side)
        megapixels = statistics.median(w * h for w, h in sizes) / 1e6
        ray.init(
            address="local",
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            object_store_memory=128 * 2**20,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        address = ray.get_runtime_context().gcs_address
        commands = {
            "`colorize`": (),
            "`colorize --ray` (starts its own local Ray)": ("--ray",),
            "`colorize --ray ADDRESS` (joins a running local Ray)": ("--ray", address),
        }
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        steady: dict[str, list[float]] = {name: [] for name in commands}
        for run in range(args.runs):
            for index, (name, options) in enumerate(commands.items()):
                out = work / f"out{index}-{run}"
                seconds[name].append(timed_colorize(source, out, *options))
                steady[name].append(steady_rate(out))
        ray.shutdown()
        identical = all(
            same_pixels(work / "out0-0", work / f"out{index}-{run}")
            for index in range(len(commands))
            for run in range(args.runs)
        )

    print(
        f"# colorize vs colorize --ray: {args.count} gray photos ({len(set(sizes))} sizes, "
        f"median {megapixels:.2f} MP), bundled model"
    )
    print()
    print(
        f"{cpu_model()}; medians of {args.runs} runs, the commands interleaved; "
        f"the same pixels from every run: {'yes' if identical else 'NO'}"
    )
    print()
    print(
        "| command | seconds (median) | photos/s | runs (s) | vs `colorize` | photos/s once running |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    plain = statistics.median(seconds["`colorize`"])
    for name, values in seconds.items():
        median = statistics.median(values)
        runs = ", ".join(f"{value:.1f}" for value in values)
        print(
            f"| {name} | {median:.1f} | {args.count / median:.1f} | {runs} | "
            f"{plain / median:.2f}x | {statistics.median(steady[name]):.1f} |"
        )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
