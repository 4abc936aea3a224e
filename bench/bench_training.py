"""Training throughput on this machine: the input pipeline alone vs. full training steps.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python bench/bench_training.py [--config training/default.json] [--steps 30]

Uses the photos in /work/shared/data/photos when that folder exists, otherwise generated
colour images. Prints images/s of (1) the tf.data pipeline alone (decode cache -> crop,
jitter, flip, Lab, batch), (2) L1-only generator steps and (3) full cGAN steps, side by
side, and how many times faster the pipeline is than training (it must stay well above 1
to keep a GPU fed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from edgecolor.config import RunConfig  # noqa: E402

SHARED_PHOTOS = Path("/work/shared/data/photos")


def generated_photos(folder: Path, count: int = 64) -> Path:
    """Write ``count`` smooth random colour images (JPEG, 320x240) into ``folder``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((320, 240), Image.Resampling.BICUBIC)
        image.save(folder / f"generated_{index:03d}.jpg", quality=90)
    return folder


def images_per_second(run, batches: int, batch_size: int) -> float:
    """Images/s of ``run()`` (one batch per call), after two warm-up calls."""
    run()
    run()
    start = time.perf_counter()
    for _ in range(batches):
        run()
    return batches * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default=str(Path(__file__).parents[1] / "training" / "default.json")
    )
    parser.add_argument("--steps", type=int, default=30, help="timed batches per measurement")
    parser.add_argument("--data", help="photo folder (default: the shared photos, else generated)")
    args = parser.parse_args(argv)

    from edgecolor.training import catalogue, data
    from edgecolor.training.train import Trainer

    config = RunConfig.load(args.config)
    scratch = Path(tempfile.mkdtemp(prefix="edgecolor-bench-"))
    if args.data:
        folder = Path(args.data)
    elif SHARED_PHOTOS.is_dir():
        folder = SHARED_PHOTOS
    else:
        folder = generated_photos(scratch / "photos")
    config.train.data = [str(folder)]
    train = config.train

    start = time.perf_counter()
    prepared = catalogue.prepare_data(config, scratch)
    decode_seconds = time.perf_counter() - start

    dataset = data.training_dataset(prepared.train, train.image_size, train.batch_size, train.seed)
    iterator = iter(dataset)
    pipeline = images_per_second(lambda: next(iterator), args.steps, train.batch_size)

    trainer = Trainer(config, scratch)
    batches = iter(trainer.strategy.experimental_distribute_dataset(dataset))
    l1_only = images_per_second(
        lambda: trainer.train_step(next(batches), adversarial=False), args.steps, train.batch_size
    )
    gan = images_per_second(
        lambda: trainer.train_step(next(batches), adversarial=True), args.steps, train.batch_size
    )

    recipe_images = train.pretrain_steps * train.batch_size / l1_only + (
        train.steps - train.pretrain_steps
    ) * train.batch_size / (gan if train.gan_weight > 0 else l1_only)
    print(
        f"machine: {os.cpu_count()} CPU cores, strategy {type(trainer.strategy).__name__}, "
        f"{trainer.strategy.num_replicas_in_sync} replica(s)"
    )
    print(
        f"config: {args.config}  image {train.image_size}px, batch {train.batch_size}, "
        f"generator {config.generator.name} {list(config.generator.filters)}, "
        f"discriminator {config.discriminator.name} x{config.discriminator.base_filters}"
    )
    print(
        f"data: {len(prepared.train)} training photos from {folder}, decoded and cached in {decode_seconds:.1f} s"
    )
    print(f"{'measurement':<34}{'images/s':>10}{'pipeline / this':>18}")
    for name, value in (
        ("input pipeline alone", pipeline),
        ("train step, L1 only (pretraining)", l1_only),
        ("train step, cGAN (G + D)", gan),
    ):
        print(f"{name:<34}{value:>10.1f}{pipeline / value:>17.1f}x")
    print(
        f"projected duration of the config's {train.steps} steps "
        f"({train.pretrain_steps} L1 pretraining): {recipe_images / 60:.1f} min (+ evaluation)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
