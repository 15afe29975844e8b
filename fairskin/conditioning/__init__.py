"""Skin-tone conditioning for Stable Diffusion: ``<fst-1>``..``<fst-6>`` textual-inversion tokens,
a learned FST embedding appended to the text encoder's hidden states (which also takes the ITA
each image asks for: tone requests), optional UNet attention LoRA; training
(:func:`train_conditioning`) and loading into plain diffusers pipelines
(:class:`Conditioning`). Needs the ``generate`` extra; prompts are built here, in one place."""

from fairskin.conditioning._prompts import (
    FST_TOKENS, NEGATIVE_PROMPT, NULL_FST, STYLES, PromptFields, StyleMix, build_prompt, fst_token, image_styles,
    style_of,
)

__all__ = [
    "FST_TOKENS", "NEGATIVE_PROMPT", "NULL_FST", "STYLES", "PromptFields", "StyleMix", "build_prompt", "fst_token",
    "image_styles", "style_of",
    "Conditioning", "FstEmbedding", "TrainConfig", "TrainResult", "TinyModelConfig", "build_tiny_components",
    "labelled_manifest", "load_base_pipeline", "train_conditioning",
]

_LAZY = {
    "Conditioning": "_bundle", "FstEmbedding": "_bundle", "load_base_pipeline": "_bundle",
    "TrainConfig": "_train", "TrainResult": "_train", "train_conditioning": "_train",
    "TinyModelConfig": "_tiny", "build_tiny_components": "_tiny", "labelled_manifest": "_data",
}


def __getattr__(name):  # heavy parts import torch/diffusers only when used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"fairskin.conditioning.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'fairskin.conditioning' has no attribute {name!r}")
