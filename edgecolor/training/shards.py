"""``edgecolor prepare-data``: a photo collection written once into TFRecord shards.

A large collection cannot be decoded into memory at every start of a run (100,000 photos at
256 px are about 80 GB). ``prepare_shards`` decodes each photo once, shrinks it so its short
side is ``short_side`` (the training crop side times ``catalogue.CACHE_SCALE``), re-encodes
it as a JPEG and writes it into TFRecord shards that ``edgecolor train --data SHARDS/``
streams (``edgecolor.training.stream``). The folder holds:

    SHARDS/plan.json                  the settings and which photos go into which shard
    SHARDS/train-00000.tfrecord       records (``RECORD_FIELDS``), photos in a seeded order
    SHARDS/train-00000.json           the shard's counts and skipped files (written last)
    SHARDS/holdout-00000.tfrecord     the hold-out photos (a seeded split by file)
    SHARDS/manifest.json              counts, the split and every shard (written at the end)

Interrupted work resumes: a shard is finished when its ``.json`` exists (its ``.tfrecord``
is written to a temporary name and renamed first), and a second run with the same settings
skips finished shards. Near-gray photos are kept and flagged (``near_gray``, and their mean
chroma), so the training's ``min_chroma`` decides; unreadable photos are reported by name
and skipped.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.errors import UsageError
from edgecolor.files import atomic_write_text
from edgecolor.photos import ImageReadError, collect_photos, read_rgb
from edgecolor.training.catalogue import mean_chroma, split_files

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PLAN = "plan.json"
FORMAT = "edgecolor-shards-1"
DEFAULT_SHORT_SIDE = 160  # CACHE_SCALE x 128, the default training size
DEFAULT_PHOTOS_PER_SHARD = 1000  # about 10 MB at 160 px: files a worker streams in seconds
JPEG_QUALITY = 92
NEAR_GRAY_CHROMA = 4.0  # TrainConfig.min_chroma's default
# Every record: the JPEG, its size, where it came from and how colourful it is.
RECORD_FIELDS = ("jpeg", "height", "width", "source", "licence", "chroma", "near_gray")


@dataclass
class ShardReport:
    """What one ``prepare_shards`` call did."""

    written: list[str] = field(default_factory=list)  # shard names written by this call
    kept: list[str] = field(default_factory=list)  # shard names already finished
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), all shards
    manifest: dict = field(default_factory=dict)


def licence_folder(path: Path, roots: list[Path]) -> str:
    """The first folder of ``path`` under the source folder holding it (collections keep one
    folder per licence or source package); the source folder's own name for top-level files."""
    for root in roots:
        try:
            relative = path.relative_to(root)
        except ValueError:
            continue
        return relative.parts[0] if len(relative.parts) > 1 else root.name
    return ""


def make_plan(
    folders: list[Path], short_side: int, photos_per_shard: int, holdout_fraction: float, seed: int
) -> dict:
    """Which photo goes into which shard: a seeded split by file, then a seeded order.

    The training photos are shuffled before they are cut into shards, so every shard mixes
    the collection's sources and a shuffle buffer over a few interleaved shards is close to
    a shuffle of the whole collection.
    """
    roots = [folder.resolve() for folder in folders]
    paths = [path.resolve() for path in collect_photos(folders)]
    split = split_files(paths, holdout_fraction, seed)
    order = np.random.default_rng(seed).permutation(len(split["train"]))
    parts = {"train": [split["train"][index] for index in order], "holdout": split["holdout"]}
    shards = {}
    for part, files in parts.items():
        for first in range(0, len(files), photos_per_shard):
            name = f"{part}-{first // photos_per_shard:05d}"
            shards[name] = [
                {"path": item, "licence": licence_folder(Path(item), roots)}
                for item in files[first : first + photos_per_shard]
            ]
    return {
        "format": FORMAT,
        "sources": [str(root) for root in roots],
        "short_side": short_side,
        "photos_per_shard": photos_per_shard,
        "holdout_fraction": holdout_fraction,
        "seed": seed,
        "shards": shards,
    }


def load_plan(out: Path, wanted: dict) -> dict:
    """The plan of an interrupted run in ``out`` when its settings match ``wanted``.

    Raises:
        UsageError: ``out`` holds shards made with other settings.
    """
    plan = json.loads((out / PLAN).read_text())
    for key in ("sources", "short_side", "photos_per_shard", "holdout_fraction", "seed"):
        if plan.get(key) != wanted[key]:
            raise UsageError(
                f"--out {out} holds shards made with {key} {plan.get(key)!r}, not {wanted[key]!r}:"
                " choose a new --out"
            )
    return plan


def encode_photo(entry: dict, short_side: int):
    """Decode one planned photo and re-encode it for a record.

    Returns:
        (record fields dict, None) or (None, reason) when the photo cannot be read.
    """
    import simplejpeg

    try:
        rgb = read_rgb(entry["path"], short_side)
    except ImageReadError as error:
        return None, str(error)
    chroma = mean_chroma(rgb)
    jpeg = simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=JPEG_QUALITY)
    return {
        "jpeg": jpeg,
        "height": rgb.shape[0],
        "width": rgb.shape[1],
        "source": entry["path"],
        "licence": entry["licence"],
        "chroma": chroma,
        "near_gray": chroma < NEAR_GRAY_CHROMA,
    }, None


def serialize_record(record: dict) -> bytes:
    """A record as a serialized ``tf.train.Example``."""
    import tensorflow as tf

    def bytes_feature(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def int_feature(value: int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    features = {
        "jpeg": bytes_feature(record["jpeg"]),
        "height": int_feature(record["height"]),
        "width": int_feature(record["width"]),
        "source": bytes_feature(record["source"].encode()),
        "licence": bytes_feature(record["licence"].encode()),
        "chroma": tf.train.Feature(float_list=tf.train.FloatList(value=[record["chroma"]])),
        "near_gray": int_feature(record["near_gray"]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def write_shard(out: Path, name: str, entries: list[dict], short_side: int, pool, bar) -> dict:
    """Write ``name``.tfrecord (temporary name, then renamed) and then its ``.json``."""
    import tensorflow as tf

    final = out / f"{name}.tfrecord"
    partial = out / f".{name}.tfrecord.part"
    summary = {"name": name, "records": 0, "near_gray": 0, "unreadable": []}
    with tf.io.TFRecordWriter(str(partial)) as writer:
        for entry, (record, reason) in zip(
            entries, pool.map(lambda item: encode_photo(item, short_side), entries), strict=True
        ):
            bar.update(1)
            if record is None:
                summary["unreadable"].append([entry["path"], reason])
                print(f"skipped unreadable photo {entry['path']} ({reason})", file=sys.stderr)
                continue
            writer.write(serialize_record(record))
            summary["records"] += 1
            summary["near_gray"] += int(record["near_gray"])
    os.replace(partial, final)
    atomic_write_text(out / f"{name}.json", json.dumps(summary, indent=1) + "\n")
    return summary


def prepare_shards(
    folders: list[str | Path],
    out: str | Path,
    short_side: int = DEFAULT_SHORT_SIDE,
    photos_per_shard: int = DEFAULT_PHOTOS_PER_SHARD,
    holdout_fraction: float = 0.0,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    on_shard=None,
) -> ShardReport:
    """Write the photos under ``folders`` into shards in ``out``, resuming finished shards.

    Args:
        folders: photo folders (searched recursively).
        out: the shard folder (created).
        short_side: each photo's short side in the shards, in pixels.
        photos_per_shard: photos per shard file.
        holdout_fraction: share of the photos (by file, seeded) in ``holdout-*`` shards.
        workers: decoding threads (Pillow and simplejpeg release the GIL).
        on_shard: called with each shard's name after it is finished (progress hooks).
    Returns:
        A ShardReport; ``manifest`` is what ``manifest.json`` holds.
    Raises:
        UsageError: bad folders or settings that differ from the shards already in ``out``.
    """
    from tqdm import tqdm

    out = Path(out)
    folders = [Path(folder) for folder in folders]
    plan = make_plan(folders, short_side, photos_per_shard, holdout_fraction, seed)
    out.mkdir(parents=True, exist_ok=True)
    if (out / PLAN).exists():
        plan = load_plan(out, plan)
    else:
        atomic_write_text(out / PLAN, json.dumps(plan) + "\n")
    report = ShardReport()
    summaries = {}
    for name in plan["shards"]:
        sidecar = out / f"{name}.json"
        if sidecar.exists() and (out / f"{name}.tfrecord").exists():
            summaries[name] = json.loads(sidecar.read_text())
            report.kept.append(name)
    total = sum(len(entries) for entries in plan["shards"].values())
    done = sum(len(plan["shards"][name]) for name in report.kept)
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    bar = tqdm(total=total, initial=done, unit="photo", desc="prepare-data", disable=not progress)
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for name, entries in plan["shards"].items():
            if name in summaries:
                continue
            summaries[name] = write_shard(out, name, entries, short_side, pool, bar)
            report.written.append(name)
            if on_shard is not None:
                on_shard(name)
    finally:
        # Interrupted: drop the shard's queued photos instead of decoding them first.
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    report.manifest = write_manifest(out, plan, summaries)
    report.unreadable = [tuple(item) for item in report.manifest["unreadable"]]
    return report


def write_manifest(out: Path, plan: dict, summaries: dict) -> dict:
    """Write ``manifest.json``: counts, the split and the shards of each part."""
    parts = {"train": [], "holdout": []}
    for name in plan["shards"]:
        parts[name.split("-")[0]].append(name)
    counts = {
        "photos": sum(len(entries) for entries in plan["shards"].values()),
        "records": sum(summary["records"] for summary in summaries.values()),
        "near_gray": sum(summary["near_gray"] for summary in summaries.values()),
        "unreadable": sum(len(summary["unreadable"]) for summary in summaries.values()),
    }
    for part, names in parts.items():
        counts[f"{part}_records"] = sum(summaries[name]["records"] for name in names)
    manifest = {
        "format": FORMAT,
        "sources": plan["sources"],
        "short_side": plan["short_side"],
        "split": {"holdout_fraction": plan["holdout_fraction"], "seed": plan["seed"]},
        "counts": counts,
        "shards": {
            part: [
                {"file": f"{name}.tfrecord", "records": summaries[name]["records"]}
                for name in names
            ]
            for part, names in parts.items()
        },
        "unreadable": [item for name in plan["shards"] for item in summaries[name]["unreadable"]],
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return manifest
