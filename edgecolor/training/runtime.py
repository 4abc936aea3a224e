"""What surrounds the training loop of ``edgecolor.training.train``: the tf.distribute
strategy for the hardware, the run's result, the step meter, the divergence check and the
run's text log.

Every device setup runs the same code: ``make_strategy`` picks MirroredStrategy over all
visible GPUs (or over logical CPU devices, which is how the tests exercise the GPU code path),
MultiWorkerMirroredStrategy when ``TF_CONFIG`` describes a cluster, and the default
(one-replica) strategy on a CPU. TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from edgecolor.errors import EdgecolorError

TEXT_LOG = "logs/train.log"
# images/s in the progress bar and the log is measured over this many recent steps.
RATE_WINDOW = 50


class TrainingDivergedError(EdgecolorError):
    """A loss became NaN or infinite; the run stopped without saving the bad state."""


@dataclass
class TrainResult:
    """What a finished run reports."""

    step: int
    checkpoint: str | None
    metrics: dict = field(default_factory=dict)
    images_per_second: float = 0.0
    sample_grid: Path | None = None


def make_strategy():
    """The tf.distribute strategy for the visible hardware (one code path for all).

    * ``TF_CONFIG`` set: MultiWorkerMirroredStrategy (synchronous data parallelism
      across machines, each with its GPUs).
    * GPUs visible: MirroredStrategy over all of them.
    * Otherwise the default strategy: one replica on the CPU.
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """True on the worker that writes checkpoints, samples and logs (always, on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not os.environ.get("TF_CONFIG"):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def check_finite(losses: dict[str, float], step: int, last_checkpoint: str | None) -> None:
    """Raise TrainingDivergedError when a loss of ``step`` is NaN or infinite."""
    bad = [name for name, value in losses.items() if not math.isfinite(value)]
    if bad:
        raise TrainingDivergedError(
            f"{bad[0]} became {losses[bad[0]]} at step {step}; stopped without saving. "
            f"Last good checkpoint: {last_checkpoint or 'none'}. "
            "Lower the learning rate or disable mixed precision, then --resume."
        )


def steps_to_run(train, step: int) -> int:
    """How many steps the next call runs: ``train.steps_per_execution``, cut short so that
    every evaluation, sample, checkpoint, the phase change and the run's end fall on a call's
    last step (the loop acts on them between calls)."""
    events = [train.steps]
    if step < train.pretrain_steps:
        events.append(train.pretrain_steps)
    for every in (train.eval_every, train.sample_every, train.checkpoint_every):
        events.append((step // every + 1) * every)
    return max(1, min(train.steps_per_execution, min(events) - step))


class StepMeter:
    """Running figures of the steps since the last evaluation.

    ``take_averages`` gives the mean of each loss since the last call (and starts anew);
    ``images_per_second`` is measured over the last ``RATE_WINDOW`` steps: the first steps
    of each phase trace and compile, so a whole-run average would understate it.
    """

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.images_per_second = 0.0
        self._totals: dict[str, float] = {}
        self._counted = 0
        self._step_times: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW + 1)

    def add(self, losses: dict[str, float], steps: int = 1) -> None:
        """Count ``steps`` steps whose mean losses were ``losses``."""
        for name, value in losses.items():
            self._totals[name] = self._totals.get(name, 0.0) + value * steps
        self._counted += steps
        self._step_times.append((time.perf_counter(), steps))
        if len(self._step_times) > 1:
            elapsed = self._step_times[-1][0] - self._step_times[0][0]
            steps_done = sum(count for _, count in list(self._step_times)[1:])
            self.images_per_second = steps_done * self.batch_size / max(elapsed, 1e-9)

    def take_averages(self) -> dict[str, float]:
        averages = {name: value / self._counted for name, value in self._totals.items()}
        self._totals, self._counted = {}, 0
        return averages


def add_file_log(run_dir: Path) -> None:
    """Also log to RUN_DIR/logs/train.log (skipped files, schedule changes, results)."""
    path = run_dir / TEXT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("edgecolor")
    for handler in root.handlers:
        if (
            isinstance(handler, logging.FileHandler)
            and Path(handler.baseFilename) == path.resolve()
        ):
            return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
