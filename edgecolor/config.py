"""Configuration dataclasses with defaults.

The resolved config is saved as ``config.json`` in every run folder and copied into every
export's metadata, so resuming, exporting and running a model rebuild exactly the network
that was trained (nanoGPT's habit). No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgecolor import color
from edgecolor.color import LabScaling
from edgecolor.errors import UsageError
from edgecolor.files import atomic_write_text

# Random training crops cover this fraction range of the cached short side unless a run
# sets ``train.crop_scale`` (edgecolor/training/data.py).
DEFAULT_CROP_SCALE = (0.6, 1.0)


@dataclass
class GeneratorConfig:
    """The generator network. ``name`` picks it from ``edgecolor.models.GENERATORS``."""

    name: str = "edge"
    # edge U-Net: output channels of each encoder level; each level halves the resolution,
    # so the input side must be a multiple of 2 ** len(filters).
    filters: tuple[int, ...] = (16, 32, 64, 128, 256)
    # Dropout is the GAN's noise z (pix2pix): applied in the first decoder levels, training only.
    dropout: float = 0.5
    dropout_levels: int = 2
    # Fraction of each encoder level's width used in the matching decoder level (edge), or
    # of the decoder's default widths (lite0).
    decoder_width: float = 0.5
    # Start from the network's pretrained weights (lite0: EfficientNet-Lite0 on ImageNet).
    pretrained: bool = False
    # lite0/lite1/lite2: keep the stem and this many first encoder blocks as pretrained
    # (not trained, batch norm in inference mode); 0 fine-tunes the whole encoder. 5 freezes the
    # stride-2..8 features (edges, textures), which are generic, and trains 1.6x faster.
    frozen_blocks: int = 0
    # lite0: "regression" predicts ab directly (tanh); "distribution" predicts a
    # distribution over in-gamut ab bins (Zhang et al. 2016) and decodes it inside the
    # network: hue from the annealed distribution, chroma scaled by a learned gain.
    head: str = "regression"
    # The distribution head's annealing temperature (Zhang et al.'s T = 0.38): lower picks
    # the most likely colour, 1 is the distribution's mean (the sepia-prone average).
    temperature: float = 0.38
    # How the distribution head's gain reads the decoder features and the distribution's
    # weight sum: "concat" (one 1x1 convolution on both, concatenated: runs trained before
    # this option) or "add" (a 1x1 convolution on each, added: the same function, and the
    # only one that converts after QAT, where the concatenation's inputs come out with
    # scales that differ in the sixth digit and the converter refuses them).
    gain_input: str = "concat"


@dataclass
class DiscriminatorConfig:
    """The discriminator network. ``name`` picks it from ``edgecolor.models.DISCRIMINATORS``."""

    name: str = "patchgan"
    base_filters: int = 64


@dataclass
class TrainConfig:
    """The training run: data, schedule, losses and optimizer."""

    data: list[str] = field(default_factory=list)
    image_size: int = 128
    batch_size: int = 16
    steps: int = 2000
    pretrain_steps: int = 0
    # Loss = gan_weight * adversarial + l1_weight * L1 (the design's lambda = 100).
    gan_weight: float = 1.0
    l1_weight: float = 100.0
    # Class-rebalanced L1 (Zhang et al. 2016; training/rebalance.py): each pixel's L1 is
    # weighted by how rare its true colour is in the training photos, so uncertain colours
    # are not averaged to brown. 0 = plain L1; 0.5 = the paper's lambda = 0.5. In [0, 1).
    rebalance: float = 0.0
    # The distribution head's cross-entropy weight (generator.head "distribution"; its
    # restrained L1, which trains the chroma gain, keeps l1_weight). With that head,
    # ``rebalance`` weighs the cross-entropy per pixel, as in Zhang et al.
    ce_weight: float = 1.0
    # One-sided label smoothing: real images are labelled this, fakes 0.
    real_label: float = 0.9
    learning_rate: float = 2e-4
    # Learning rate at the start of the adversarial phase (after pretrain_steps); None = the
    # initial learning_rate. A smaller one makes the adversarial phase a gentle fine-tune of
    # the L1-pretrained generator (what the default recipe does: see training/README.md).
    adversarial_learning_rate: float | None = None
    beta_1: float = 0.5
    # Divide the learning rate by lr_decay_factor when the hold-out L1 has not improved
    # for plateau_patience evaluations, down to min_learning_rate.
    lr_decay_factor: float = 0.1
    plateau_patience: int = 3
    min_learning_rate: float = 1e-6
    holdout_fraction: float = 0.1
    # Folders of a validation source that is never trained on: when given, they are the
    # hold-out (evaluation, learning-rate plateau, best checkpoint, early stopping) and
    # every photo of ``data`` is trained on. A hold-out drawn from the training collection
    # flatters the model; photos from another source say how it does on a stranger's.
    validation: list[str] = field(default_factory=list)
    # Stop when the hold-out L1 has not improved for this many evaluations in a row
    # (across learning-rate decays, within a phase); 0 = never stop early.
    early_stopping_evals: int = 0
    # Photos whose mean Lab chroma sqrt(a^2 + b^2) is below this are skipped as gray or
    # near-achromatic (they teach no colour); ordinary colour photos score 10 or more.
    min_chroma: float = 4.0
    # Probability of flipping a training crop upside down. Photos have ground at the
    # bottom, and the zero padding tells the network where the bottom is, so a long run
    # learns "the bottom rows are greener": a band of colour along the bottom of a plain
    # texture. Flipped crops take that positional prior away. In [0, 1].
    vertical_flip: float = 0.0
    # Fraction range of the cached short side that a random training crop covers (scale
    # jitter). A crop that spans the whole short side has the photo's own top and bottom as
    # its border, where zero padding lets the network learn "border rows are ground or
    # sky": a colour band along the border of a plain texture. A top below 1 keeps most
    # crop borders inside the photo. 0 < low <= high <= 1.
    crop_scale: list[float] = field(default_factory=lambda: list(DEFAULT_CROP_SCALE))
    # The loss that fits the distribution head's chroma gain: "l1" (the median chroma along
    # the chosen hue) or "l2" (the mean: smaller where the hue is often wrong, which is what
    # PSNR rewards). Its weight is ``l1_weight`` either way.
    gain_loss: str = "l1"
    seed: int = 0
    eval_every: int = 200
    checkpoint_every: int = 200
    sample_every: int = 500
    keep_checkpoints: int = 3
    sample_count: int = 6
    mixed_precision: bool = False
    xla: bool = False
    # Training steps per tf.function call (Keras' steps_per_execution): on a fast GPU the
    # Python between steps would otherwise leave it idle. Evaluations, samples and
    # checkpoints still happen at their exact steps (a call is cut short before them).
    steps_per_execution: int = 1
    # Streamed shards (``--data SHARDS/``): encoded photos held in the shuffle buffer.
    shuffle_buffer: int = 2048


@dataclass
class RunConfig:
    """Everything a run folder needs to rebuild its networks and continue training."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # The Lab scaling the run trains with (edgecolor.color.LAB_SCALING); export stamps the
    # run's own into the model's metadata, whatever today's default is.
    scaling: LabScaling = field(default_factory=lambda: color.LAB_SCALING)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scaling"] = self.scaling.to_metadata()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def generator_hash(self) -> str:
        """Short hash of the generator's config: the architecture identity of a checkpoint."""
        text = json.dumps(asdict(self.generator), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], source: str = "config", missing_scaling: LabScaling | None = None
    ) -> RunConfig:
        """Build from a (possibly partial) dict; unknown keys raise UsageError naming them.

        ``missing_scaling`` is the scaling when ``data`` has none: by default today's
        (``color.LAB_SCALING``, for a recipe); ``load_run`` passes the legacy one.
        """
        if not isinstance(data, dict):
            raise UsageError(f"{source}: expected a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise UsageError(f"{source}: unknown config key {sorted(unknown)[0]!r}")
        return cls(
            generator=_section(GeneratorConfig, data.get("generator", {}), f"{source}: generator"),
            discriminator=_section(
                DiscriminatorConfig, data.get("discriminator", {}), f"{source}: discriminator"
            ),
            train=_section(TrainConfig, data.get("train", {}), f"{source}: train"),
            scaling=(
                LabScaling.from_metadata(data["scaling"], f"{source}: scaling")
                if "scaling" in data
                else missing_scaling or color.LAB_SCALING
            ),
        )

    @classmethod
    def load(cls, path: str | Path, missing_scaling: LabScaling | None = None) -> RunConfig:
        """Read a JSON config file; a missing file or bad JSON raises UsageError."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"config file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UsageError(f"config file {path} is not valid JSON: {error}") from None
        return cls.from_dict(data, source=str(path), missing_scaling=missing_scaling)

    @classmethod
    def load_run(cls, path: str | Path) -> RunConfig:
        """Read a run folder's config.json. One written before runs recorded their scaling
        has ``LEGACY_LAB_SCALING``: it was trained with it, whatever today's default is.
        """
        return cls.load(path, missing_scaling=color.LEGACY_LAB_SCALING)

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically (temp file + rename)."""
        atomic_write_text(path, self.to_json() + "\n")


def _section(cls, values: dict[str, Any], source: str):
    if not isinstance(values, dict):
        raise UsageError(f"{source}: expected a JSON object")
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise UsageError(f"{source}: unknown config key {sorted(unknown)[0]!r}")
    converted = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if isinstance(default, tuple):
            value = tuple(value)
        converted[name] = value
    return dataclasses.replace(cls(), **converted)
