"""Which generator ``fairskin balance`` draws from: given (a trained folder), or trained here into
OUT (``OUT/conditioning`` for Stable Diffusion, ``OUT/ddpm`` for the DDPM), or a user's class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fairskin.balance._gated import GenerateConfig, generator_label
from fairskin.conditioning import create_generator, generator_entry
from fairskin.errors import InputError
from fairskin.outputs import interruptible

__all__ = ["DEFAULT_GENERATOR", "TrainBudget", "open_generator"]

DEFAULT_GENERATOR = "stable-diffusion"


@dataclass(frozen=True)
class TrainBudget:
    """How long ``fairskin balance`` trains the generator it trains itself (no ``--conditioning`` /
    ``--generator-dir`` given); ``balance --train-steps`` and ``--train-minutes`` take their defaults
    from these fields, so a call from Python trains the same model as the same command.

    A step count by default, so the same call trains the same model on any machine however busy.
    ``max_minutes`` is an optional cap on the generator's training (None: none); a minute budget
    makes the model depend on how fast, and how busy, the machine is."""

    #: optimizer steps of the generator's training (the UNet's, for the built-in tiny model)
    steps: int = 3000
    #: stop training after this many minutes even if ``steps`` is not reached (None: no cap)
    max_minutes: float | None = None

    def config(self, entry, *, seed: int):
        """The training config of registered generator ``entry`` for this budget."""
        return entry.train_config(steps=self.steps, max_minutes=self.max_minutes, seed=seed)


def open_generator(frame: pd.DataFrame, *, name: str, out: Path, conditioning, generator_dir, base_model,
                   base_config, train_config, generate: GenerateConfig, device, world: int,
                   train_budget: TrainBudget = TrainBudget()):
    """(ready generator, its identity for ``run.json``). Trains the generator into OUT when it is
    trainable and no folder is given; a rerun finds it there. It trains with ``train_config`` when
    given, else with the generator's own config for ``train_budget`` and ``generate.seed``."""
    entry = generator_entry(name)
    sd = entry.name == DEFAULT_GENERATOR
    if not sd:
        for opt, value in (("conditioning", conditioning), ("base_model", base_model),
                           ("base_config", base_config)):
            if value is not None:
                raise InputError(f"{opt}: belongs to the stable-diffusion generator; generator={name!r} takes "
                                 "generator_dir=DIR")
        path = generator_dir
    else:
        if generator_dir is not None:
            raise InputError("generator_dir: the stable-diffusion generator takes conditioning=DIR (fairskin "
                             "train-conditioning)")
        if conditioning is not None and base_model is not None:
            raise InputError("base_model: give it to train-conditioning; a trained conditioning folder records its "
                             "base model")
        if conditioning is not None and base_config is not None:
            raise InputError("base_config: give it to train-conditioning; a trained conditioning folder records its "
                             "base model's configs")
        path = conditioning
    if path is None and entry.train is not None:
        path = out / entry.default_dir
        if not (path / entry.trained_file).is_file():
            if world > 1:
                opt = "conditioning" if sd else "generator_dir"
                cmd = "train-conditioning" if sd else "train-ddpm"
                raise InputError(f"{opt}: {world} processes would each train their own generator into {path}; train it "
                                 f"once first (`fairskin {cmd} DATA --out DIR`, or `fairskin balance` in one process) "
                                 f"and pass {opt}=DIR")
            config = train_config if train_config is not None else train_budget.config(entry, seed=generate.seed)
            with interruptible(lambda: f"the plan is in {out / 'plan.json'}; training the generator stopped (its "
                                       "checkpoints, if any, are kept); run the same command again to go on"):
                entry.train(frame, out=path, config=config, device=device, base_model=base_model,
                            base_config=base_config)
    gen = create_generator(name, path, sampling=generate.sampling, device=device)
    fingerprint = gen.fingerprint() if hasattr(gen, "fingerprint") else {}
    identity = dict(fingerprint) if sd else {"generator": generator_label(gen), **fingerprint}
    return gen, identity
