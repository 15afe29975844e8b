"""Skin-tone conditioning for Stable Diffusion: ``<fst-1>``..``<fst-6>`` textual-inversion tokens,
a learned FST embedding appended to the text encoder's hidden states (which also takes the ITA
each image asks for: tone requests), optional UNet attention LoRA; training
(:func:`train_conditioning`) and loading into plain diffusers pipelines
(:class:`Conditioning`). Needs the ``generate`` extra; prompts are built here, in one place.

The generation seam lives here too: the :class:`Generator` protocol and the registry of
generators (``stable-diffusion``, ``ddpm``, ``phantom``, or a user's ``module:Class``) that
``fairskin balance`` and ``fairskin experiment`` draw images from (docs/generation.md)."""

from fairskin.conditioning._prompts import (
    FST_TOKENS, NEGATIVE_PROMPT, NULL_FST, STYLES, PromptFields, StyleMix, build_prompt, fst_token, image_styles,
    style_of,
)
from fairskin.conditioning._generators import (
    GenerationRequest, Generator, GeneratorEntry, SamplingConfig, create_generator, generator_entry, generator_names,
    register_generator,
)

__all__ = [
    "FST_TOKENS", "NEGATIVE_PROMPT", "NULL_FST", "STYLES", "PromptFields", "StyleMix", "build_prompt", "fst_token",
    "image_styles", "style_of",
    "Conditioning", "FstEmbedding", "TrainConfig", "TrainResult", "TinyModelConfig", "build_tiny_components",
    "labelled_manifest", "labels_scale", "load_base_pipeline", "train_conditioning",
    "GenerationRequest", "Generator", "GeneratorEntry", "SamplingConfig", "create_generator", "generator_entry",
    "generator_names", "register_generator",
    "StableDiffusionGenerator", "PhantomGenerator", "DdpmGenerator", "DdpmModelConfig", "DdpmTrainConfig",
    "DdpmTrainResult", "build_ddpm", "load_ddpm", "load_square", "train_ddpm",
]

_LAZY = {
    "Conditioning": "_bundle", "FstEmbedding": "_bundle", "load_base_pipeline": "_bundle",
    "TrainConfig": "_train", "TrainResult": "_train", "train_conditioning": "_train",
    "TinyModelConfig": "_tiny", "build_tiny_components": "_tiny", "labelled_manifest": "_data",
    "labels_scale": "_data", "StableDiffusionGenerator": "_sd_generator", "load_square": "_sd_generator",
    "PhantomGenerator": "_phantom_generator", "DdpmGenerator": "_ddpm", "DdpmModelConfig": "_ddpm",
    "DdpmTrainConfig": "_ddpm", "build_ddpm": "_ddpm", "load_ddpm": "_ddpm", "DdpmTrainResult": "_ddpm_train",
    "train_ddpm": "_ddpm_train",
}


def __getattr__(name):  # heavy parts import torch/diffusers only when used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"fairskin.conditioning.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'fairskin.conditioning' has no attribute {name!r}")
