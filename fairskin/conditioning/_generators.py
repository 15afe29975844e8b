"""The generation seam: what a generator is, and the registry that names them.

A generator turns structured requests (skin type, diagnosis, photo style, optionally a source
image) into RGB images, one per request, each from its own seed. Everything else -- the ITA gate,
retries with new seeds, provenance, files -- is done once, by :func:`fairskin.balance.generate_gated`,
for every generator alike.

Built-in entries (:func:`generator_names`):

* ``stable-diffusion``: Stable Diffusion with fairskin's skin-tone conditioning (the folder of
  ``fairskin train-conditioning``);
* ``ddpm``: a class-conditional pixel-space DDPM (diffusers ``UNet2DModel`` with a class embedding
  per skin type x diagnosis), trained from scratch (``fairskin train-ddpm``);
* ``phantom``: the demo data's own renderer, a known-answer stand-in, not a generative model.

A user's class is named ``module:Class`` (``fairskin balance --generator mypkg.gen:MyGen``); it
needs a ``name`` and ``generate(requests, seeds, *, root)`` (docs/generation.md).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from fairskin.conditioning._prompts import NEGATIVE_PROMPT, STYLES
from fairskin.errors import InputError

__all__ = ["GenerationRequest", "Generator", "GeneratorEntry", "SamplingConfig", "create_generator",
           "generator_entry", "generator_names", "register_generator"]


@dataclass(frozen=True)
class GenerationRequest:
    """One image asked of a generator."""

    fst: int  # Fitzpatrick type 1-6 asked for
    diagnosis: str
    malignant: bool | None = None
    source_image: str | None = None  # path relative to the data root: image-to-image source, or the row asked from
    tag: str = ""  # why it was asked for (e.g. "hard-case round 1")
    style: str = STYLES[0]  # photo style named in the prompt (dermoscopy or clinical)


@runtime_checkable
class Generator(Protocol):
    """What the gated loop needs of a generator.

    Optional methods, used when present:

    * ``ita_requested(request, seed) -> float | None``: the ITA (degrees) the image is asked to
      have (tone requests); without it the provenance column stays empty;
    * ``provenance(request, seed) -> dict``: per-image provenance columns (``prompt``,
      ``negative_prompt``, ``base_model``, ``base_model_sha256``, ``conditioning``,
      ``conditioning_sha256``, ``scheduler``, ``steps``, ``guidance``, ``strength``);
      without it ``base_model`` is the generator's ``name``;
    * ``describe() -> dict``: the generator's settings for run summaries;
    * ``fingerprint() -> dict``: what makes its images differ (a rerun with another is refused).
    """

    name: str

    def generate(self, requests: Sequence[GenerationRequest], seeds: Sequence[int], *, root: Path | None
                 ) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class SamplingConfig:
    """How a diffusion generator samples (the settings ``fairskin balance`` exposes)."""

    mode: Literal["text", "image"] = "text"  # text-to-image, or start from the request's source image
    strength: float = 0.75  # image-to-image only
    steps: int = 25
    #: classifier-free guidance; None: the generator's own default (1.0 for models trained from
    #: scratch here, whose tones are most exact without it; 7.5 for a pretrained base)
    guidance: float | None = None
    guidance_rescale: float = 0.7  # Lin et al. 2024, with zero-terminal-SNR models
    batch_size: int = 16
    negative_prompt: str = NEGATIVE_PROMPT
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"


@dataclass(frozen=True)
class GeneratorEntry:
    """A registered generator.

    ``open(path, *, sampling, device)`` returns a ready :class:`Generator` from a trained folder
    (``path``; None where the generator needs none). With ``train``, ``train(frame, *, out, config,
    device, progress)`` trains one into ``out`` from a labelled manifest (``progress``: a
    :data:`fairskin.progress.Progress`), and ``trained_file`` is the
    file whose presence means a folder holds a trained one; ``train_config(**settings)`` builds its
    training config (defaults, or e.g. ``steps``, ``max_minutes`` and ``seed``)."""

    name: str
    description: str
    open: Callable[..., Any]
    train: Callable[..., Any] | None = None
    train_config: Callable[..., Any] | None = None
    trained_file: str | None = None
    default_dir: str | None = None  # where fairskin balance trains one (OUT/<default_dir>)
    modes: tuple[str, ...] = ("text", "image")


_REGISTRY: dict[str, GeneratorEntry] = {}


def register_generator(entry: GeneratorEntry) -> GeneratorEntry:
    """Add a generator under ``entry.name`` (``fairskin balance --generator NAME``)."""
    if ":" in entry.name:
        raise InputError(f"generator name {entry.name!r}: ':' is reserved for module:Class")
    _REGISTRY[entry.name] = entry
    return entry


def generator_names() -> list[str]:
    _builtins()
    return sorted(_REGISTRY)


def _user_entry(spec: str) -> GeneratorEntry:
    module, _, cls_name = spec.partition(":")
    if not module or not cls_name:
        raise InputError(f"generator={spec!r}: a user's generator is given as module:Class (e.g. mypkg.gen:MyGen)")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise InputError(f"generator={spec!r}: cannot import module {module!r} ({e}); is it installed or on "
                         "PYTHONPATH?") from e
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise InputError(f"generator={spec!r}: module {module!r} has no {cls_name!r}")

    def open_user(path, *, sampling=SamplingConfig(), device=None):
        if hasattr(cls, "from_options"):  # the class decides what it takes
            gen = cls.from_options(path=path, sampling=sampling, device=device)
        else:
            gen = cls() if path is None else cls(path)
        missing = [a for a in ("name", "generate") if not hasattr(gen, a)]
        if missing:
            raise InputError(f"generator={spec!r}: {cls_name} has no {' or '.join(missing)}; a generator needs a "
                             "name and generate(requests, seeds, *, root) (docs/generation.md)")
        return gen

    return GeneratorEntry(name=spec, description=f"user generator {spec}", open=open_user)


def generator_entry(name: str) -> GeneratorEntry:
    """The registered generator ``name``, or a user's ``module:Class``."""
    if ":" in name:
        return _user_entry(name)
    _builtins()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"generator: unknown generator {name!r}; registered: {', '.join(generator_names())}, or "
                         f"a user's class as module:Class.{hint}")
    return _REGISTRY[name]


def create_generator(name: str, path: str | Path | None = None, *, sampling: SamplingConfig = SamplingConfig(),
                     device: str | None = None):
    """A ready generator: ``name`` from the registry (or ``module:Class``), loaded from ``path``."""
    entry = generator_entry(name)
    if sampling.mode not in entry.modes:
        raise InputError(f"mode={sampling.mode!r}: the {name} generator supports {' and '.join(entry.modes)}")
    gen = entry.open(None if path is None else Path(path), sampling=sampling, device=device)
    if getattr(gen, "registry_name", None) is None:
        try:
            gen.registry_name = name
        except AttributeError:  # a user's class with __slots__: the name stays unknown to provenance
            pass
    return gen


# -- built-in entries (their heavy modules load only when used) ----------------------------------------

def _open_sd(path, *, sampling=SamplingConfig(), device=None):
    from fairskin.conditioning._sd_generator import StableDiffusionGenerator

    if path is None:
        raise InputError("conditioning: the stable-diffusion generator needs a trained conditioning folder "
                         "(fairskin train-conditioning DATA --out DIR)")
    return StableDiffusionGenerator(path, config=sampling, device=device)


def _train_sd(frame, *, out, config, device=None, progress=None, base_model=None, base_config=None):
    from fairskin.conditioning._train import train_conditioning

    return train_conditioning(frame, out=out, base_model=base_model, base_config=base_config, config=config,
                              device=device, progress=progress)


def _sd_train_config(**settings):
    from fairskin.conditioning._train import TrainConfig

    return TrainConfig(**settings)


def _open_phantom(path, *, sampling=SamplingConfig(), device=None):
    from fairskin.conditioning._phantom_generator import PhantomGenerator

    if sampling.mode != "text":
        raise InputError("mode='image': the phantom stand-in renders new phantoms; use mode='text'")
    return PhantomGenerator()


def _open_ddpm(path, *, sampling=SamplingConfig(), device=None):
    from fairskin.conditioning._ddpm import DdpmGenerator

    if path is None:
        raise InputError("generator_dir: the ddpm generator needs a trained model folder "
                         "(fairskin train-ddpm DATA --out DIR)")
    return DdpmGenerator(path, config=sampling, device=device)


def _train_ddpm(frame, *, out, config, device=None, progress=None, **_):
    from fairskin.conditioning._ddpm_train import train_ddpm

    return train_ddpm(frame, out=out, config=config, device=device, progress=progress)


def _ddpm_train_config(**settings):
    from fairskin.conditioning._ddpm import DdpmTrainConfig

    return DdpmTrainConfig(**settings)


def _builtins() -> None:
    if _REGISTRY.get("stable-diffusion") is not None:
        return
    register_generator(GeneratorEntry(
        "stable-diffusion", "Stable Diffusion with fairskin's skin-tone conditioning (fairskin train-conditioning)",
        open=_open_sd, train=_train_sd, train_config=_sd_train_config, trained_file="conditioning.json",
        default_dir="conditioning"))
    register_generator(GeneratorEntry(
        "ddpm", "class-conditional pixel DDPM per skin type x diagnosis, trained from scratch (fairskin train-ddpm)",
        open=_open_ddpm, train=_train_ddpm, train_config=_ddpm_train_config, trained_file="ddpm.json",
        default_dir="ddpm", modes=("text",)))
    register_generator(GeneratorEntry(
        "phantom", "the demo data's phantom renderer: a known-answer stand-in, not a generative model",
        open=_open_phantom, modes=("text",)))
