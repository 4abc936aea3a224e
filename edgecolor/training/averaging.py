"""Weight averaging of a run's checkpoints (stochastic weight averaging, Izmailov et al. 2018).

Why: between neighbouring checkpoints of one run at a held learning rate, the colours on
strangers' photos move as much as a lever does (hue hit over all families by 0.02-0.06,
PSNR by 0.2-0.4 dB: docs/model-variants.md), so choosing one checkpoint chooses noise. The
mean of the weights along the late trajectory sits in the middle of that spread.

The batch-norm statistics are averaged with the weights: the encoder's are frozen
(identical in every checkpoint) and the decoder's move slowly at a held learning rate.

``tools/average_checkpoints.py RUN STEP... --out RUN_AVG`` writes a run folder that
``edgecolor export`` takes as any other.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgecolor.errors import UsageError
from edgecolor.training.catalogue import SPLIT_FILE
from edgecolor.training.checkpoint import (
    CONFIG_FILE,
    build_run_generator,
    checkpoint_dir,
    load_run_config,
    restore_weights,
)


def average_checkpoints(run_dir: str | Path, steps: list[int], out_dir: str | Path) -> Path:
    """Average the generator weights of ``RUN_DIR/checkpoints/ckpt-STEP`` for each step and
    write them as the one checkpoint of a new run folder ``out_dir`` (its config.json and
    split.json copied, its step the last of ``steps``).

    Returns:
        the written checkpoint's path prefix.
    Raises:
        UsageError: fewer than two steps, a missing checkpoint, or ``out_dir`` existing.
    """
    import tensorflow as tf

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if len(set(steps)) < 2:
        raise UsageError(f"steps {steps}: name at least two checkpoints to average")
    if out_dir.exists():
        raise UsageError(f"{out_dir} exists: name a new folder")
    paths = [checkpoint_dir(run_dir) / f"ckpt-{step}" for step in sorted(set(steps))]
    for path in paths:
        if not Path(f"{path}.index").is_file():
            raise UsageError(f"no checkpoint {path} (is it among the run's kept checkpoints?)")
    # One network, each checkpoint restored into it in turn, summed as they come.
    config = load_run_config(run_dir)
    generator = build_run_generator(config)
    total = None
    for path in paths:
        restore_weights(generator, config, str(path))
        weights = [np.asarray(weight, np.float64) for weight in generator.get_weights()]
        total = weights if total is None else [a + b for a, b in zip(total, weights, strict=True)]
    generator.set_weights([(weight / len(paths)).astype(np.float32) for weight in total])

    (out_dir / "checkpoints").mkdir(parents=True)
    shutil.copyfile(run_dir / CONFIG_FILE, out_dir / CONFIG_FILE)
    if (run_dir / SPLIT_FILE).is_file():
        shutil.copyfile(run_dir / SPLIT_FILE, out_dir / SPLIT_FILE)
    (out_dir / "averaged_from.json").write_text(
        json.dumps({"run": str(run_dir), "steps": sorted(set(steps))}, indent=1) + "\n"
    )
    step = tf.Variable(max(steps), dtype=tf.int64)
    return tf.train.Checkpoint(generator=generator, step=step).save(
        str(out_dir / "checkpoints" / "ckpt")
    )
