"""Which generator ``fairskin balance`` draws from: given (a trained folder), or trained here into
OUT (``OUT/conditioning`` for Stable Diffusion, ``OUT/ddpm`` for the DDPM), or a user's class."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairskin.balance._gated import GenerateConfig, generator_label
from fairskin.conditioning import create_generator, generator_entry
from fairskin.errors import InputError
from fairskin.outputs import interruptible

__all__ = ["DEFAULT_GENERATOR", "open_generator"]

DEFAULT_GENERATOR = "stable-diffusion"


def open_generator(frame: pd.DataFrame, *, name: str, out: Path, conditioning, generator_dir, base_model,
                   base_config, train_config, generate: GenerateConfig, device, world: int):
    """(ready generator, its identity for ``run.json``). Trains the generator into OUT when it is
    trainable and no folder is given; a rerun finds it there."""
    entry = generator_entry(name)
    sd = entry.name == DEFAULT_GENERATOR
    if not sd:
        for opt, value in (("--conditioning", conditioning), ("--base-model", base_model),
                           ("--base-config", base_config)):
            if value is not None:
                raise InputError(f"{opt}: belongs to the stable-diffusion generator; --generator {name} takes "
                                 "--generator-dir DIR")
        path = generator_dir
    else:
        if generator_dir is not None:
            raise InputError("--generator-dir: the stable-diffusion generator takes --conditioning DIR (fairskin "
                             "train-conditioning)")
        if conditioning is not None and base_model is not None:
            raise InputError("--base-model: give it to train-conditioning; a trained --conditioning records its "
                             "base model")
        if conditioning is not None and base_config is not None:
            raise InputError("--base-config: give it to train-conditioning; a trained --conditioning records its "
                             "base model's configs")
        path = conditioning
    if path is None and entry.train is not None:
        path = out / entry.default_dir
        if not (path / entry.trained_file).is_file():
            if world > 1:
                opt = "--conditioning" if sd else "--generator-dir"
                cmd = "train-conditioning" if sd else "train-ddpm"
                raise InputError(f"{opt}: {world} processes would each train their own generator into {path}; train it "
                                 f"once first (fairskin {cmd} DATA --out DIR, or fairskin balance in one process) "
                                 f"and pass {opt} DIR")
            config = train_config or entry.train_config()
            with interruptible(lambda: f"the plan is in {out / 'plan.json'}; training the generator stopped (its "
                                       "checkpoints, if any, are kept); run the same command again to go on"):
                entry.train(frame, out=path, config=config, device=device, base_model=base_model,
                            base_config=base_config)
    gen = create_generator(name, path, sampling=generate.sampling, device=device)
    fingerprint = gen.fingerprint() if hasattr(gen, "fingerprint") else {}
    identity = dict(fingerprint) if sd else {"generator": generator_label(gen), **fingerprint}
    return gen, identity
