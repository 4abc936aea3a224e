"""Subcommands of the training stage: ``edgecolor train``, ``prepare-data`` and ``summary``.

Nothing heavy is imported at module load: TensorFlow comes in inside ``run_train`` and
``run_summary``, after the cheap checks (config, run folder, data folders) have passed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edgecolor.config import RunConfig
from edgecolor.errors import UsageError

log = logging.getLogger(__name__)

# Flags that map one-to-one onto config fields: (flag attribute, section, field).
_OVERRIDES = (
    ("image_size", "train", "image_size"),
    ("steps", "train", "steps"),
    ("batch_size", "train", "batch_size"),
    ("gan_weight", "train", "gan_weight"),
    ("pretrain_steps", "train", "pretrain_steps"),
    ("generator", "generator", "name"),
    ("discriminator", "discriminator", "name"),
)


TRAIN_DESCRIPTION = """\
Train the generator (grayscale L -> ab) against a discriminator on a folder tree of
colour photos. Flags override the --config file; the resolved config is written to
RUN_DIR/config.json. --steps is the run's total: with --resume the run continues from
its last checkpoint up to it.
"""

PREPARE_DATA_DESCRIPTION = """\
Decode every photo under DIR once, shrink it to the training short side, and write it
(re-encoded JPEG, source path, licence folder, near-gray flag) into TFRecord shards with
a manifest, for `edgecolor train --data SHARDS`. An interrupted run resumes: run the
same command again. Unreadable photos are reported by name and skipped (exit 1).
"""


def register(subparsers) -> None:
    """Add ``train`` and ``summary`` to the ``edgecolor`` parser."""
    train = subparsers.add_parser(
        "train",
        help="train a colorization cGAN into a run folder",
        description=TRAIN_DESCRIPTION,
    )
    train.add_argument(
        "--data",
        nargs="+",
        metavar="DIR",
        help="folders of colour photos (searched recursively), or shard folders of prepare-data",
    )
    train.add_argument(
        "--validation",
        nargs="+",
        metavar="DIR",
        help="folders of a validation source never trained on (the hold-out; see train.validation)",
    )
    train.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created)")
    train.add_argument("--config", metavar="FILE", help="JSON config, e.g. training/default.json")
    train.add_argument("--image-size", type=int, metavar="N", help="square training crop side")
    train.add_argument("--steps", type=int, metavar="N", help="total training steps of the run")
    train.add_argument("--batch-size", type=int, metavar="N", help="global batch size")
    # Without a flag the network is the --config file's (lite0 in training/default.json);
    # only a run without --config gets the dataclass defaults.
    defaults = RunConfig()
    train.add_argument(
        "--generator",
        metavar="NAME",
        help="generator network: edge, lite0, lite1, lite2 or seed "
        f"(default: the --config file's; {defaults.generator.name} without --config)",
    )
    train.add_argument(
        "--discriminator",
        metavar="NAME",
        help="discriminator: patchgan or seed "
        f"(default: the --config file's; {defaults.discriminator.name} without --config)",
    )
    train.add_argument(
        "--gan-weight",
        type=float,
        metavar="W",
        help="weight of the adversarial loss; 0 = the L1-only baseline",
    )
    train.add_argument(
        "--pretrain-steps",
        type=int,
        metavar="N",
        help="generator-only L1 steps before the adversarial phase",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint"
    )
    train.set_defaults(func=run_train)

    prepare = subparsers.add_parser(
        "prepare-data",
        help="write photo folders once into TFRecord shards for train --data",
        description=PREPARE_DATA_DESCRIPTION,
    )
    prepare.add_argument("folders", nargs="+", metavar="DIR", help="folders of colour photos")
    prepare.add_argument("--out", required=True, metavar="SHARDS", help="shard folder (created)")
    prepare.add_argument(
        "--short-side",
        type=int,
        default=160,
        metavar="N",
        help="short side of the stored photos: 1.25 x the training size (default 160, for 128)",
    )
    prepare.add_argument(
        "--photos-per-shard", type=int, default=1000, metavar="N", help="photos per shard file"
    )
    prepare.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="share of the photos (by file, seeded) kept out of training for evaluation",
    )
    prepare.add_argument("--seed", type=int, default=0, metavar="N", help="split and order seed")
    prepare.set_defaults(func=run_prepare_data)

    summary = subparsers.add_parser(
        "summary",
        help="print the networks' parameters and MACs",
        description="Parameters and multiply-accumulates (per image) of the generator and discriminator.",
    )
    summary.add_argument("--config", metavar="FILE", help="JSON config to read the networks from")
    summary.add_argument(
        "--generator", metavar="NAME", help="generator network (default: the config's)"
    )
    summary.add_argument(
        "--discriminator", metavar="NAME", help="discriminator (default: the config's)"
    )
    summary.add_argument(
        "--image-size", type=int, metavar="N", help="input side (default: the config's)"
    )
    summary.set_defaults(func=run_summary)


# --------------------------------------------------------------------------- config


def resolve_config(args: argparse.Namespace) -> RunConfig:
    """The run's config: file (or the run folder's, on --resume) + flags, validated."""
    from edgecolor.training.checkpoint import load_run_config

    run_dir = Path(args.out)
    if args.resume:
        if args.config:
            raise UsageError(
                "--config cannot be combined with --resume: the run keeps RUN_DIR/config.json"
            )
        config = load_run_config(run_dir)
        for attribute, section, name in _OVERRIDES:
            value = getattr(args, attribute)
            saved = getattr(getattr(config, section), name)
            if value is not None and attribute != "steps" and value != saved:
                flag = "--" + attribute.replace("_", "-")
                raise UsageError(
                    f"{flag} {value} differs from the run's config.json ({saved}); a resumed run keeps its config"
                )
        if args.steps is not None:
            config.train.steps = args.steps
    else:
        config = RunConfig.load(args.config) if args.config else RunConfig()
        for attribute, section, name in _OVERRIDES:
            value = getattr(args, attribute)
            if value is not None:
                setattr(getattr(config, section), name, value)
    if args.data:
        config.train.data = [str(Path(directory)) for directory in args.data]
    if args.validation:
        config.train.validation = [str(Path(directory)) for directory in args.validation]
    validate_train_config(config)
    return config


def validate_train_config(config: RunConfig) -> None:
    """Raise UsageError naming the first out-of-range training value (no TensorFlow)."""
    from edgecolor import color

    if config.scaling != color.LAB_SCALING:
        # The input pipeline, losses and distribution head are built for LAB_SCALING.
        raise UsageError(
            f"scaling {config.scaling}: this edgecolor trains with {color.LAB_SCALING} only"
        )
    train = config.train
    positive = (
        "image_size",
        "steps",
        "batch_size",
        "eval_every",
        "checkpoint_every",
        "sample_every",
        "keep_checkpoints",
        "plateau_patience",
        "steps_per_execution",
        "shuffle_buffer",
    )
    for name in positive:
        value = getattr(train, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"train.{name} must be a positive integer, got {value!r}")
    for name in ("pretrain_steps", "sample_count", "early_stopping_evals"):
        value = getattr(train, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UsageError(f"train.{name} must be an integer >= 0, got {value!r}")
    for name in ("gan_weight", "l1_weight", "min_chroma"):
        if getattr(train, name) < 0:
            raise UsageError(f"train.{name} must be >= 0, got {getattr(train, name)!r}")
    if not 0 < train.learning_rate < 1:
        raise UsageError(f"train.learning_rate must be in (0, 1), got {train.learning_rate!r}")
    if not 0 < train.real_label <= 1:
        raise UsageError(f"train.real_label must be in (0, 1], got {train.real_label!r}")
    if not 0 <= train.vertical_flip <= 1:
        raise UsageError(f"train.vertical_flip must be in [0, 1], got {train.vertical_flip!r}")
    crop_scale = train.crop_scale
    if not (
        isinstance(crop_scale, (list, tuple))
        and len(crop_scale) == 2
        and 0 < crop_scale[0] <= crop_scale[1] <= 1
    ):
        raise UsageError(
            f"train.crop_scale must be [low, high] with 0 < low <= high <= 1, got {crop_scale!r}"
        )
    if train.gain_loss not in ("l1", "l2"):
        raise UsageError(f'train.gain_loss must be "l1" or "l2", got {train.gain_loss!r}')
    if not 0 <= train.holdout_fraction < 1:
        raise UsageError(
            f"train.holdout_fraction must be in [0, 1), got {train.holdout_fraction!r}"
        )
    if not 0 <= train.rebalance < 1:
        raise UsageError(f"train.rebalance must be in [0, 1), got {train.rebalance!r}")
    if not 0 < train.lr_decay_factor <= 1:
        raise UsageError(f"train.lr_decay_factor must be in (0, 1], got {train.lr_decay_factor!r}")
    if train.xla and train.mixed_precision:
        # XLA's HLO verifier refuses the float16/float32 mix of the loss-scaled gradients
        # ("mixed precision is disallowed", TensorFlow 2.21): a clear error, not a crash later.
        raise UsageError("train.xla and train.mixed_precision cannot both be true: choose one")
    if not train.data:
        raise UsageError("no training data: pass --data DIR (or set train.data in the config)")
    frozen = config.generator.frozen_blocks
    if not isinstance(frozen, int) or isinstance(frozen, bool) or frozen < 0:
        raise UsageError(f"generator.frozen_blocks must be an integer >= 0, got {frozen!r}")


def check_networks(config: RunConfig) -> None:
    """Unknown network names and image sizes a network cannot take raise UsageError (imports TF)."""
    from edgecolor.models import check_discriminator_size, check_image_size

    check_image_size(config.generator, config.train.image_size)
    check_discriminator_size(config.discriminator, config.train.image_size)


# --------------------------------------------------------------------------- commands


def run_train(args: argparse.Namespace) -> int:
    """``edgecolor train``: returns 0 when the run reaches its total step count."""
    from edgecolor.training.checkpoint import CONFIG_FILE, has_checkpoint

    run_dir = Path(args.out)
    if args.resume and not has_checkpoint(run_dir):
        raise UsageError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}")
    if not args.resume and has_checkpoint(run_dir):
        raise UsageError(
            f"run folder {run_dir} already has checkpoints: pass --resume to continue it, or choose a new --out"
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} exists and is not a folder")
    config = resolve_config(args)

    from edgecolor.photos import collect_photos
    from edgecolor.training.stream import is_shard_folder, load_manifest

    # Missing or empty folders and unfinished shards fail before TensorFlow loads.
    for directory in config.train.data:
        if is_shard_folder(directory):
            load_manifest(directory)
        else:
            collect_photos([directory])

    check_networks(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / CONFIG_FILE)

    from edgecolor.training.train import train

    result = train(config, run_dir, resume=args.resume, progress=True)
    metrics = result.metrics
    summary = ", ".join(
        f"{name} {metrics[name]:.4g}"
        for name in ("holdout_l1", "holdout_psnr", "holdout_colorfulness")
        if name in metrics
    )
    print(f"trained {run_dir} to step {result.step}" + (f" ({summary})" if summary else ""))
    print(f"checkpoint: {result.checkpoint}")
    if result.sample_grid:
        print(f"samples: {result.sample_grid}")
    return 0


def run_prepare_data(args: argparse.Namespace) -> int:
    """``edgecolor prepare-data``: 0 when every photo is in the shards, 1 when some were
    unreadable (named on stderr, listed in the manifest; the rest are written)."""
    out = Path(args.out)
    if args.short_side < 16:
        raise UsageError(f"--short-side must be at least 16, got {args.short_side}")
    if args.photos_per_shard < 1:
        raise UsageError(
            f"--photos-per-shard must be a positive integer, got {args.photos_per_shard}"
        )
    if not 0 <= args.holdout_fraction < 1:
        raise UsageError(f"--holdout-fraction must be in [0, 1), got {args.holdout_fraction}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    from edgecolor.photos import collect_photos

    for directory in args.folders:
        collect_photos([directory])  # missing or empty folders fail before TensorFlow loads
    from edgecolor.training.shards import prepare_shards

    report = prepare_shards(
        args.folders,
        out,
        short_side=args.short_side,
        photos_per_shard=args.photos_per_shard,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        progress=True,
    )
    counts = report.manifest["counts"]
    print(
        f"{out}: {counts['train_records']} training and {counts['holdout_records']} hold-out "
        f"photos ({counts['near_gray']} near-gray) in {len(report.manifest['shards']['train'])} + "
        f"{len(report.manifest['shards']['holdout'])} shards; {len(report.written)} shards "
        f"written now, {len(report.kept)} kept"
    )
    if report.unreadable:
        print(
            f"{len(report.unreadable)} unreadable photos skipped (listed in {out / 'manifest.json'})",
            file=sys.stderr,
        )
        return 1
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """``edgecolor summary``: parameters and MACs of both networks at one input size."""
    config = RunConfig.load(args.config) if args.config else RunConfig()
    if args.generator:
        config.generator.name = args.generator
    if args.discriminator:
        config.discriminator.name = args.discriminator
    if args.image_size is not None:
        config.train.image_size = args.image_size
    check_networks(config)

    from edgecolor.models import build_discriminator, build_generator
    from edgecolor.models.summary import summarize

    size = config.train.image_size
    rows = [
        summarize(build_generator(config.generator, size)),
        summarize(build_discriminator(config.discriminator, size)),
    ]
    out = sys.stdout
    print(f"networks at {size}x{size} (per image):", file=out)
    print(f"{'network':<22} {'parameters':>12} {'MACs':>16}  input -> output", file=out)
    for row in rows:
        print(
            f"{row['name']:<22} {row['parameters']:>12,} {row['macs']:>16,}  "
            f"{tuple(row['input_shape'][1:])} -> {tuple(row['output_shape'][1:])}",
            file=out,
        )
    return 0
