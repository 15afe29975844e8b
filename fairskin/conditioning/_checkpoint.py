"""Training checkpoints of skin-tone conditioning: what was learned so far (safetensors), the
optimizer, the EMA of the weights and the random state, written to a temporary folder and
renamed, so that ``train-conditioning --resume`` continues a run exactly where it stopped.
Only tensors and numbers are read back (``fairskin.weights.load_weights``): nothing in a
checkpoint can run code."""

from __future__ import annotations

import json
from pathlib import Path

from fairskin.conditioning._tone import LEGACY_TONE_FREQUENCIES
from fairskin.errors import InputError
from fairskin.weights import load_weights

__all__ = ["trainable_state", "save_checkpoint", "find_checkpoint", "load_checkpoint"]


def trainable_state(unet, text_encoder, fst_emb, token_ids, *, from_scratch: bool, lora: bool) -> dict:
    state = {"fst_embedding": fst_emb.embedding.weight.detach().cpu().contiguous(),
             **{f"fst_tone.{k}": v.detach().cpu().contiguous() for k, v in
                (fst_emb.tone.state_dict().items() if fst_emb.tone is not None else ())},
             "tokens": text_encoder.get_input_embeddings().weight[token_ids].detach().cpu().contiguous()}
    if from_scratch:
        state.update({f"unet.{k}": v.detach().cpu().contiguous() for k, v in unet.state_dict().items()})
    elif lora:
        from peft.utils import get_peft_model_state_dict

        state.update({f"lora.{k}": v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(unet).items()})
    return state


def save_checkpoint(folder: Path, *, step, unet, vae, text_encoder, fst_emb, token_ids, optimizer, gen,
                    from_scratch, lora, ema=None, elapsed=0.0) -> None:
    import torch
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(unet, text_encoder, fst_emb, token_ids, from_scratch=from_scratch, lora=lora),
              str(tmp / "trainable.safetensors"))
    if from_scratch:
        save_file({k: v.detach().cpu().contiguous() for k, v in vae.state_dict().items()},
                  str(tmp / "vae.safetensors"))
        (tmp / "vae_config.json").write_text(json.dumps(dict(vae.config), default=str))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if ema is not None:
        torch.save(ema.state_dict(), tmp / "ema.pt")
    torch.save({"step": step, "generator": gen.get_state(), "elapsed_seconds": float(elapsed),
                "tone_frequencies": list(fst_emb.tone_frequencies)}, tmp / "state.pt")
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)


def find_checkpoint(ckpt_dir: Path, resume) -> Path:
    if str(resume) == "latest":
        found = sorted(p for p in ckpt_dir.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
        if not found:
            raise InputError(f"resume='latest': no checkpoint in {ckpt_dir}")
        return found[-1]
    p = Path(resume)
    if not (p / "state.pt").is_file():
        raise InputError(f"resume={p}: not a checkpoint folder (no state.pt)")
    return p


def load_checkpoint(folder: Path, resume_state: dict, *, unet, text_encoder, fst_emb, token_ids, optimizer, gen,
                    from_scratch, lora, ema=None):
    import torch
    from safetensors.torch import load_file

    state = load_file(str(folder / "trainable.safetensors"))
    with torch.no_grad():
        fst_emb.embedding.weight.copy_(state["fst_embedding"])
        tone = {k[len("fst_tone."):]: v for k, v in state.items() if k.startswith("fst_tone.")}
        if (fst_emb.tone is not None) != bool(tone):
            raise InputError(f"resume={folder}: the checkpoint was written with{'' if tone else 'out'} tone requests; "
                             f"resume with{'' if tone else 'out'} them ({'tone=True' if tone else 'tone=False'})")
        if tone:
            fst_emb.tone.load_state_dict(tone)
            fst_emb.tone_frequencies = tuple(resume_state.get("tone_frequencies", LEGACY_TONE_FREQUENCIES))
        text_encoder.get_input_embeddings().weight[token_ids] = state["tokens"].to(text_encoder.dtype)
        if from_scratch:
            unet.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("unet.")})
        elif lora:
            from peft.utils import set_peft_model_state_dict

            set_peft_model_state_dict(unet, {k[5:]: v for k, v in state.items() if k.startswith("lora.")})
    optimizer.load_state_dict(load_weights(folder / "optimizer.pt", arg="resume"))
    gen.set_state(resume_state["generator"])
    if ema is not None:
        if not (folder / "ema.pt").is_file():
            raise InputError(f"resume={folder}: this run keeps an EMA of the weights but the checkpoint has no "
                             f"ema.pt (it was written with ema_decay=0); resume with ema_decay=0")
        ema.load_state_dict(load_weights(folder / "ema.pt", arg="resume"))
