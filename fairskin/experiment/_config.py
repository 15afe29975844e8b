"""The experiment's settings: one frozen :class:`ExperimentConfig` (every default in one place), the
built-in demo's :class:`DemoSetup`, and :func:`resolve_settings`, the one place where arguments,
a config file and the defaults are merged (arguments > file > defaults; the demo's own defaults
when no data is given)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from fairskin.errors import InputError
from fairskin.settings import config_fields, merge_settings, read_settings_file
from fairskin.train import TINY_ARCH

__all__ = ["DemoSetup", "ExperimentConfig", "ExperimentInputs", "load_config_file", "resolve_settings"]


@dataclass(frozen=True)
class ExperimentConfig:
    """Defaults of ``fairskin experiment`` (the CLI and config files use these names)."""

    arms: tuple[str, ...] = ("real", "mixed", "pretrain_finetune", "mixed_weighted", "ratio_0.25", "ratio_0.5",
                             "ratio_1.0")
    seeds: int = 3
    arch: str = "resnet18"
    pretrained: str | None = None
    image_size: int = 224
    epochs: int = 30
    pretrain_epochs: int | None = None  # synthetic-only phase of pretrain_finetune; None: epochs
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5
    balance: str = "class_weights"
    real_weight: float = 2.0  # mixed_weighted arm
    val_fraction: float = 0.2
    test_fraction: float = 0.2  # only when no test set is given: held out from the real data by patient
    split_seed: int = 0
    n_boot: int = 1000
    threshold: float = 0.5
    min_gain: float = 0.10
    max_drop: float = 0.02
    rounds: int = 0  # hard-case loop rounds
    per_round: int = 32  # images generated per hard-case round (and per untargeted round)
    num_workers: int = 0
    device: str = "auto"
    #: the test set's skin types: its human labels, or ITA estimates from test_labels (fairskin label's
    #: labels.csv); auto: estimated when test_labels is given, else human (as fairskin audit's fst_source)
    test_fst_source: Literal["auto", "human", "estimated"] = "auto"
    #: also run every arm with hair inpainted (DullRazor) in its training and test images, as the arm
    #: "ARM+hair_removal", compared with the baseline like any arm
    hair_removal: bool = False

    def train_options(self, seed: int) -> dict[str, Any]:
        """The keyword options of :func:`fairskin.train.train_classifier` shared by every run."""
        return dict(arch=self.arch, image_size=self.image_size, epochs=self.epochs, batch_size=self.batch_size,
                    lr=self.lr, patience=self.patience, balance=self.balance, num_workers=self.num_workers,
                    device=self.device, seed=seed, split_seed=self.split_seed)

    def check(self) -> None:
        """Raise :class:`InputError` for counts no run can use (arm names are checked by the arm registry)."""
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise InputError(f"seeds: expected a whole number >= 1, got {self.seeds!r}")
        if not isinstance(self.rounds, int) or self.rounds < 0:
            raise InputError(f"rounds: expected a whole number >= 0, got {self.rounds!r}")


@dataclass(frozen=True)
class DemoSetup:
    """The built-in default: phantom data with a skin-tone bias, a tiny model at low resolution.

    Training data: few dark-skin images are malignant (6% of types V-VI against 35-40% of I-IV);
    the test set has every type equally often and 40% malignant in each, so the dark-skin
    groups can be measured.

    Synthetic images (``generator``): ``"tiny-sd"`` trains the built-in tiny Stable Diffusion
    (``fairskin train-conditioning`` without a base model) on the training split alone for
    ``generator_minutes`` and generates image-to-image through the ITA gate, as ``fairskin
    balance`` does; ``"phantom"`` renders new phantoms with the demo data's own renderer
    (:class:`PhantomGenerator`), a perfect-generator stand-in whose effect is a ceiling."""

    n_train: int = 600
    n_test: int = 420
    size: int = 64
    train_fst_weights: tuple[float, ...] = (0.15, 0.25, 0.2, 0.15, 0.13, 0.12)
    train_malignant_rate: tuple[float, ...] = (0.40, 0.40, 0.40, 0.35, 0.06, 0.06)
    test_fst_weights: tuple[float, ...] = (1, 1, 1, 1, 1, 1)
    test_malignant_rate: tuple[float, ...] = (0.4,) * 6
    seed: int = 2026
    arms: tuple[str, ...] = ("real", "mixed")
    arch: str = TINY_ARCH
    image_size: int = 32
    epochs: int = 8
    patience: int = 3
    batch_size: int = 32
    n_boot: int = 1000
    generator: Literal["tiny-sd", "phantom", "ddpm"] = "tiny-sd"  # ddpm: the class-conditional DDPM, trained likewise
    generator_minutes: float = 7.0
    generator_vae_steps: int | None = None  # None: train-conditioning's default

    def config(self) -> ExperimentConfig:
        """The experiment's defaults with this demo's model and arms."""
        return replace(ExperimentConfig(), arms=self.arms, arch=self.arch, image_size=self.image_size,
                       epochs=self.epochs, patience=self.patience, batch_size=self.batch_size, n_boot=self.n_boot)


#: the data inputs a config file may name besides the settings
INPUT_KEYS = ("real", "synthetic", "test", "test_labels", "conditioning", "generator", "generator_dir")


@dataclass(frozen=True)
class ExperimentInputs:
    """The data of one experiment; none of ``real``, ``synthetic``, ``test`` means the built-in demo."""

    real: str | Path | None = None
    synthetic: str | Path | None = None
    test: str | Path | None = None
    test_labels: str | Path | None = None
    conditioning: str | Path | None = None
    #: a name in the generator registry of :mod:`fairskin.conditioning` (None: stable-diffusion)
    generator: str | None = None
    generator_dir: str | Path | None = None  # its trained folder (ddpm, a user's generator)

    @property
    def is_demo(self) -> bool:
        return self.real is None and self.synthetic is None and self.test is None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON or TOML file (flat, or its ``[experiment]`` table:
    :func:`fairskin.settings.read_settings_file`) whose keys are :class:`ExperimentConfig`'s field
    names and the data inputs ``real``, ``synthetic``, ``test``, ``test_labels``, ``conditioning``,
    ``generator``, ``generator_dir``, ``out`` (paths relative to the file's folder)."""
    doc = read_settings_file(path, stage="experiment", allowed={*config_fields(ExperimentConfig), *INPUT_KEYS, "out"})
    for k in (*INPUT_KEYS, "out"):  # a path in the file is relative to the file's folder
        if k != "generator" and isinstance(doc.get(k), str) and not Path(doc[k]).is_absolute():
            doc[k] = str(Path(path).parent / doc[k])
    if "arms" in doc:
        doc["arms"] = tuple(doc["arms"].split(",")) if isinstance(doc["arms"], str) else tuple(doc["arms"])
    return doc


def resolve_settings(inputs: ExperimentInputs = ExperimentInputs(), *,
                     config: ExperimentConfig | str | Path | None = None, demo: DemoSetup = DemoSetup(),
                     **settings: Any) -> tuple[ExperimentInputs, ExperimentConfig]:
    """The experiment's inputs and settings: ``settings`` (:class:`ExperimentConfig` field names;
    ``None`` means not given) win over ``config``, which wins over the defaults.

    ``config`` is a config file (:func:`load_config_file`; its data inputs fill the ones not given)
    or an :class:`ExperimentConfig` taken as the defaults. Without data the built-in demo's
    defaults (:meth:`DemoSetup.config`) replace the experiment's, unless ``config`` is an
    :class:`ExperimentConfig`."""
    given = {k: v for k, v in settings.items() if v is not None}
    merge_settings(ExperimentConfig(), given)  # refuses an unknown setting before any file is read
    file_doc: dict[str, Any] = {}
    if config is not None and not isinstance(config, ExperimentConfig):
        file_doc = load_config_file(config)
    inputs = replace(inputs, **{k: file_doc[k] for k in INPUT_KEYS
                                if getattr(inputs, k) is None and file_doc.get(k) is not None})
    file_doc = {k: v for k, v in file_doc.items() if k not in (*INPUT_KEYS, "out")}
    if isinstance(config, ExperimentConfig):
        base = config
    else:
        base = demo.config() if inputs.is_demo else ExperimentConfig()
    return inputs, merge_settings(base, file_doc, given)
