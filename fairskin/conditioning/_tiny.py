"""The built-in tiny Stable Diffusion: the same classes as SD 1.5, built from small configs with
seeded weights, so the whole loop runs without hub weights (trained from scratch on phantoms).
"""

from __future__ import annotations

from dataclasses import dataclass

from fairskin.conditioning._prompts import NEGATIVE_PROMPT, PROMPT_WORDS
from fairskin.data import DEMO_DIAGNOSES

__all__ = ["TinyModelConfig", "build_tiny_components", "tiny_tokenizer"]


@dataclass(frozen=True)
class TinyModelConfig:
    resolution: int = 64
    unet_channels: tuple[int, ...] = (32, 64, 64)
    vae_channels: tuple[int, ...] = (16, 32, 32)  # 3 levels: latents are resolution / 4
    text_hidden: int = 64
    text_layers: int = 2
    max_tokens: int = 24
    seed: int = 0


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny_tokenizer(max_tokens: int = TinyModelConfig.max_tokens):
    """A CLIP BPE tokenizer built without files: byte-level characters plus whole-word merges for
    the words prompts use (any other text falls back to characters)."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    words = list(PROMPT_WORDS) + [w for d in DEMO_DIAGNOSES for w in d.split("-")] + NEGATIVE_PROMPT.replace(",", "").split()
    merges: list[tuple[str, str]] = []
    for w in dict.fromkeys(words):
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        cur = parts[0]
        for p in parts[1:]:
            if (cur, p) not in merges:
                merges.append((cur, p))
            cur = cur + p
            vocab.setdefault(cur, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_tokens)


def build_tiny_components(config: TinyModelConfig = TinyModelConfig()) -> dict:
    """Untrained tiny UNet, VAE, text encoder, tokenizer and scheduler, seeded by ``config.seed``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = tiny_tokenizer(config.max_tokens)
    torch.manual_seed(config.seed)  # module constructors draw from the global generator
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=config.text_hidden, intermediate_size=2 * config.text_hidden,
        num_hidden_layers=config.text_layers, num_attention_heads=4, max_position_embeddings=config.max_tokens,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        projection_dim=config.text_hidden,
    ))
    n = len(config.vae_channels)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=config.vae_channels, latent_channels=4,
        layers_per_block=1, norm_num_groups=8, sample_size=config.resolution, scaling_factor=1.0,
    )
    m = len(config.unet_channels)
    unet = UNet2DConditionModel(
        sample_size=config.resolution // 2 ** (n - 1), in_channels=4, out_channels=4,
        block_out_channels=config.unet_channels, layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (m - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (m - 1) + ("UpBlock2D",),
        cross_attention_dim=config.text_hidden, attention_head_dim=8,
    )
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tok, "scheduler": scheduler}
