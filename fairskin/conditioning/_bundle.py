"""Learned skin-tone conditioning: what is saved, how it loads into a plain diffusers pipeline.

A conditioning folder holds only what was learned (safetensors) plus a small JSON config:

* ``tokens/fst-<k>.safetensors``: ``{"<fst-k>": tensor[hidden]}`` each, the format diffusers'
  ``pipe.load_textual_inversion(path)`` reads;
* ``fst_embedding.safetensors``: ``{"weight": tensor[7, hidden]}``, row ``k-1`` for type k and row 6
  for "no type" (classifier-free guidance); its vector is appended to the text encoder's hidden
  states as one extra conditioning token; with tone requests also ``tone.*``, the small network
  that adds the requested ITA to that token (``fairskin.conditioning._tone``);
* ``pytorch_lora_weights.safetensors`` (optional): UNet attention LoRA, loadable with
  ``pipe.load_lora_weights(folder)``;
* ``conditioning.json``: base model (a path relative to the folder for the built-in tiny model,
  which is trained whole and saved in ``base/``), its hash, the config folder a single-file base
  model needs (``base_config``), noise schedule, training settings, and ``tone``: per type, the
  ITAs tone requests are drawn from.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from fairskin.conditioning._prompts import FST_TOKENS, NULL_FST
from fairskin.conditioning._tone import LEGACY_TONE_FREQUENCIES, draw_request
from fairskin.errors import InputError

__all__ = ["FstEmbedding", "Conditioning", "sha256_files", "load_base_pipeline", "FORMAT_VERSION",
           "CONFIG_NAME", "inference_scheduler"]

FORMAT_VERSION = 1
CONFIG_NAME = "conditioning.json"
LORA_NAME = "pytorch_lora_weights.safetensors"
FST_EMBEDDING_NAME = "fst_embedding.safetensors"


def _torch():
    from fairskin.errors import require

    return require("torch", extra="generate", feature="skin-tone-conditioned generation")


def FstEmbedding(hidden: int, num_types: int = 6, tone: bool = False,  # noqa: N802 - a module factory
                 tone_frequencies: tuple[float, ...] | None = None):
    """``nn.Embedding(num_types + 1, hidden)`` wrapped so that ``module(hidden_states, fst_index)``
    returns the hidden states with one more token: the type's vector.

    With ``tone``, ``module(hidden_states, fst_index, ita)`` adds a learned function of the
    requested ITA (degrees; NaN: no request) to that vector, read through the sine / cosine
    features of ``tone_frequencies`` (None: ``TONE_FREQUENCIES``; see ``fairskin.conditioning._tone``).
    """
    torch = _torch()
    from fairskin.conditioning._tone import TONE_FEATURES, TONE_FREQUENCIES, tone_features

    frequencies = tuple(float(f) for f in (tone_frequencies or TONE_FREQUENCIES))
    if 2 * len(frequencies) + 1 != TONE_FEATURES:
        raise InputError(f"tone_frequencies: {TONE_FEATURES // 2} expected, got {list(frequencies)}")

    class _FstEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(num_types + 1, hidden)
            self.tone = None
            self.tone_frequencies = frequencies
            if tone:
                self.tone = torch.nn.Sequential(torch.nn.Linear(TONE_FEATURES, 64), torch.nn.SiLU(),
                                                torch.nn.Linear(64, hidden))
                torch.nn.init.zeros_(self.tone[2].weight)  # starts as the type embedding alone
                torch.nn.init.zeros_(self.tone[2].bias)

        def forward(self, hidden_states, fst_index, ita=None):
            extra = self.embedding(fst_index)
            if self.tone is not None and ita is not None:
                ita = ita.to(extra.device, torch.float32)
                asked = ~torch.isnan(ita)
                extra = extra + self.tone(tone_features(torch.nan_to_num(ita), self.tone_frequencies)) * asked[:, None]
            return torch.cat([hidden_states, extra[:, None, :].to(hidden_states.dtype)], dim=1)

    return _FstEmbedding()


def sha256_files(paths: list[Path]) -> str:
    """One hash over files (sorted by name relative to their common folder, names included)."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: q.as_posix()):
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def base_model_files(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    return [p for p in base.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt")
            and ".cache" not in p.parts]


def base_config_files(config: Path) -> list[Path]:
    """The files of a ``--base-config`` folder that are read: configs and tokenizer files, not weights."""
    return [p for p in config.rglob("*") if p.is_file() and p.suffix in (".json", ".txt") and ".cache" not in p.parts]


_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
#: what diffusers reads from a config folder for a single-file checkpoint (as in its hub fetch)
_CONFIG_PATTERNS = ["**/*.json", "*.json", "*.txt", "**/*.txt", "**/*.model"]
_CONFIG_HELP = ("pass base_config=FOLDER, a local diffusers folder with the configs of the same architecture "
                "(model_index.json and the unet/, vae/, text_encoder/, tokenizer/ and scheduler/ configs, e.g. those "
                "of stable-diffusion-v1-5 for an SD 1.5 checkpoint; weights are not needed)")


def load_base_pipeline(base_model: str | Path, *, config: str | Path | None = None, dtype=None,
                       img2img: bool = False):
    """A StableDiffusion(Img2Img)Pipeline from a local diffusers folder or a single .safetensors file.

    A single file in the original LDM layout (``model.diffusion_model.*``, ``first_stage_model.*``,
    ``cond_stage_model.transformer.*``, as SD 1.5's ``v1-5-pruned-emaonly.safetensors``) holds weights
    only. ``config`` is a local diffusers folder with the configs of the same architecture; diffusers
    builds each part from it and converts the file's weights into it (its weights, if any, are not read).
    Without ``config`` the configs diffusers would fetch from the hub for this kind of checkpoint are used
    when they are in the local Hugging Face cache. Nothing is downloaded.
    """
    _torch()
    from fairskin.errors import require

    diffusers = require("diffusers", extra="generate", feature="skin-tone-conditioned generation")
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() in ("1", "true", "yes"):
        diffusers.utils.logging.disable_progress_bar()  # diffusers' own bars ignore the hub's switch
    cls = diffusers.StableDiffusionImg2ImgPipeline if img2img else diffusers.StableDiffusionPipeline
    path = Path(base_model)
    kw = {"dtype": dtype} if dtype is not None else {}
    if path.is_dir():
        if config is not None:
            raise InputError(f"base_config={config}: applies to a single .safetensors base_model=...; the diffusers "
                             f"folder {path} has its own configs")
        if not (path / "model_index.json").is_file():
            raise InputError(f"base_model={path}: not a diffusers folder (no model_index.json); give a folder "
                             f"saved with save_pretrained or a single .safetensors checkpoint")
        _check_components(path)
        try:
            pipe = cls.from_pretrained(path, safety_checker=None, requires_safety_checker=False,
                                       local_files_only=True, **kw)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError, EnvironmentError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"base_model={path}: diffusers cannot load this folder: {first[:300]}") from None
    elif path.suffix == ".safetensors":
        if not path.is_file():
            raise InputError(f"base_model={path}: no such file")
        folder = _single_file_config(path, config)
        try:
            pipe = cls.from_single_file(str(path), config=str(folder), safety_checker=None,
                                        requires_safety_checker=False, local_files_only=True, **kw)
        except ValueError as e:  # weights of another shape
            raise InputError(f"base_model={path} does not fit the configs in {folder}: {e}") from e
        except OSError as e:  # not a safetensors file
            raise InputError(f"base_model={path}: {e}") from e
        except NotImplementedError as e:  # diffusers moves a UNet or VAE that has tensors with no weights
            if "meta tensor" not in str(e):
                raise
            raise InputError(f"base_model={path}: has no weights for some tensors of the UNet or VAE that the "
                             f"configs in {folder} describe; give the configs of this checkpoint's architecture") from e
        _check_filled(pipe, path, folder)
    else:
        raise InputError(f"base_model={path}: expected a local diffusers folder or a .safetensors file "
                         f"(hub names are not fetched)")
    pipe.set_progress_bar_config(disable=True)
    return pipe


#: libraries a diffusers folder's components may come from (anything else is code fairskin would import)
_COMPONENT_LIBRARIES = ("diffusers", "transformers", None)


def _check_components(path: Path) -> None:
    """Refuse a diffusers folder that names code: a component from another library or a custom
    class (loading it imports and runs Python), or Python files in the folder."""
    import json

    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"base_model={path}: model_index.json is not readable JSON ({exc})") from None
    if not isinstance(index, dict):
        raise InputError(f"base_model={path}: model_index.json must be a JSON object")
    for name, spec in index.items():
        if name.startswith("_"):
            continue
        if isinstance(spec, list) and len(spec) == 2 and spec[0] not in _COMPONENT_LIBRARIES:
            raise InputError(f"base_model={path}: component {name!r} is {spec[0]}.{spec[1]}, a custom class; "
                             "loading it would import and run code from outside diffusers and transformers, which "
                             "fairskin does not do (docs/security.md). Use a folder of standard components")
    code = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.py"))
    if code:
        raise InputError(f"base_model={path}: holds Python code ({', '.join(code[:3])}); a diffusers folder with "
                         "custom code is refused (docs/security.md)")


def _single_file_config(path: Path, config: str | Path | None) -> Path:
    """The diffusers config folder for a single-file checkpoint: the one given, else the hub's in the local cache."""
    if config is not None:
        folder = Path(config)
        if folder.suffix in (".yaml", ".yml"):
            # diffusers 0.42 builds only the UNet, VAE and scheduler from an original LDM yaml; the tokenizer and
            # text encoder config come from the hub cache (and with transformers 5 it cannot infer the tokenizer)
            raise InputError(f"base_config={folder}: an original LDM config (.yaml) does not describe the text "
                             f"encoder and tokenizer, so it cannot load {path.name} offline; {_CONFIG_HELP}")
        if not (folder / "model_index.json").is_file():
            raise InputError(f"base_config={folder}: not a diffusers folder (no model_index.json); {_CONFIG_HELP}")
        missing = [name for name in _PARTS if not (folder / name).is_dir()]
        if missing:
            raise InputError(f"base_config={folder}: no {', '.join(f'{m}/' for m in missing)} folder; {_CONFIG_HELP}")
        return folder
    from diffusers.loaders.single_file_utils import fetch_diffusers_config
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    from safetensors import SafetensorError, safe_open

    torch = _torch()
    try:  # diffusers guesses the architecture from key names and shapes: read the header only
        with safe_open(str(path), framework="pt") as f:
            shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
    except SafetensorError as e:
        raise InputError(f"base_model={path}: not a readable .safetensors file ({e})") from e
    repo = fetch_diffusers_config(shapes)["pretrained_model_name_or_path"]
    try:
        return Path(snapshot_download(repo, allow_patterns=_CONFIG_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        raise InputError(f"base_model={path}: a single .safetensors checkpoint holds weights only, and the configs "
                         f"of its architecture ({repo}, which diffusers would fetch) are not in the local Hugging Face "
                         f"cache, and nothing is downloaded: {_CONFIG_HELP}") from None


def _check_filled(pipe, path: Path, folder: Path) -> None:
    """diffusers leaves parameters the file has no weights for empty (on the meta device) without a word."""
    for name in _PARTS[:3]:
        empty = [k for k, v in getattr(pipe, name).state_dict().items() if v.is_meta]
        if empty:
            raise InputError(f"base_model={path}: has no weights for {len(empty)} tensors of the {name} that the "
                             f"configs in {folder} describe (e.g. {empty[0]}); give the configs of this checkpoint's "
                             f"architecture")


def inference_scheduler(base_config, schedule: dict):
    """A DDIM scheduler with the noise schedule the conditioning was trained under."""
    from diffusers import DDIMScheduler

    kw = {"prediction_type": schedule["prediction_type"], "rescale_betas_zero_snr": schedule["zero_terminal_snr"]}
    if schedule["zero_terminal_snr"]:
        kw["timestep_spacing"] = "trailing"
    return DDIMScheduler.from_config(base_config, **kw)


@dataclass
class Conditioning:
    """Loaded (or freshly trained) skin-tone conditioning."""

    path: Path | None
    config: dict
    token_embeddings: dict  # token -> tensor[hidden]
    fst_embedding: object  # FstEmbedding module
    lora_state: dict | None = None  # diffusers-format LoRA state dict, if any
    files: list[Path] = field(default_factory=list)

    # -- identity -------------------------------------------------------------------------
    @property
    def base_model(self) -> Path:
        base = Path(self.config["base_model"])
        if not base.is_absolute() and self.path is not None:
            base = self.path / base
        return base

    @property
    def base_config(self) -> Path | None:
        """The diffusers config folder a single-file base model was loaded with (None: none was needed)."""
        if not self.config.get("base_config"):
            return None
        config = Path(self.config["base_config"])
        if not config.is_absolute() and self.path is not None:
            config = self.path / config
        return config

    def sha256(self) -> str:
        """Hash of the learned files and the config (the conditioning's identity in provenance)."""
        return sha256_files(self.files) if self.files else ""

    # -- save / load ----------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        torch = _torch()
        from safetensors.torch import save_file

        folder = Path(folder)
        (folder / "tokens").mkdir(parents=True, exist_ok=True)
        files = []
        for token, vec in self.token_embeddings.items():
            p = folder / "tokens" / f"{token.strip('<>')}.safetensors"
            save_file({token: vec.detach().float().contiguous().cpu()}, str(p))
            files.append(p)
        p = folder / FST_EMBEDDING_NAME
        state = {"weight": self.fst_embedding.embedding.weight.detach().float().contiguous().cpu()}
        if self.fst_embedding.tone is not None:
            state.update({f"tone.{k}": v.detach().float().contiguous().cpu()
                          for k, v in self.fst_embedding.tone.state_dict().items()})
        save_file(state, str(p))
        files.append(p)
        if self.lora_state:
            from diffusers import StableDiffusionPipeline

            StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=self.lora_state, safe_serialization=True)
            files.append(folder / LORA_NAME)
        cfg = dict(self.config)
        cfg["fst_embedding"] = {**(cfg.get("fst_embedding") or {}),
                                "tone_frequencies": list(self.fst_embedding.tone_frequencies)}
        cfg["files"] = {"tokens": {t: f"tokens/{t.strip('<>')}.safetensors" for t in self.token_embeddings},
                        "fst_embedding": FST_EMBEDDING_NAME, "lora": LORA_NAME if self.lora_state else None}
        tmp = folder / (CONFIG_NAME + ".tmp")
        tmp.write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")
        tmp.replace(folder / CONFIG_NAME)
        files.append(folder / CONFIG_NAME)
        self.path, self.config, self.files = folder, cfg, files
        del torch
        return folder / CONFIG_NAME

    @classmethod
    def load(cls, path: str | Path) -> "Conditioning":
        _torch()
        from safetensors.torch import load_file

        path = Path(path)
        folder = path.parent if path.name == CONFIG_NAME else path
        cfg_path = folder / CONFIG_NAME
        if not cfg_path.is_file():
            raise InputError(f"conditioning={path}: no {CONFIG_NAME} found; give the folder that "
                             f"fairskin train-conditioning wrote")
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if cfg.get("format_version") != FORMAT_VERSION:
            raise InputError(f"conditioning={path}: format_version {cfg.get('format_version')!r} is not "
                             f"supported (expected {FORMAT_VERSION})")
        files = [cfg_path]
        tokens = {}
        for token, rel in cfg["files"]["tokens"].items():
            tokens.update(load_file(str(folder / rel)))
            files.append(folder / rel)
        state = load_file(str(folder / cfg["files"]["fst_embedding"]))
        files.append(folder / cfg["files"]["fst_embedding"])
        tone = {k[len("tone."):]: v for k, v in state.items() if k.startswith("tone.")}
        frequencies = (cfg.get("fst_embedding") or {}).get("tone_frequencies", LEGACY_TONE_FREQUENCIES)
        emb = FstEmbedding(state["weight"].shape[1], state["weight"].shape[0] - 1, tone=bool(tone),
                           tone_frequencies=frequencies)
        emb.embedding.weight.data.copy_(state["weight"])
        if tone:
            emb.tone.load_state_dict(tone)
        lora = None
        if cfg["files"].get("lora"):
            lora = load_file(str(folder / cfg["files"]["lora"]))
            files.append(folder / cfg["files"]["lora"])
        return cls(path=folder, config=cfg, token_embeddings=tokens, fst_embedding=emb, lora_state=lora, files=files)

    # -- use --------------------------------------------------------------------------------
    def attach(self, pipe):
        """Load the tokens (``load_textual_inversion``), the LoRA (``load_lora_weights``) and the
        training noise schedule into a plain diffusers pipeline; returns it."""
        vocab = pipe.tokenizer.get_vocab()
        new = [(t, v) for t, v in self.token_embeddings.items() if t not in vocab]
        if new:
            pipe.load_textual_inversion([{t: v} for t, v in new], token=[t for t, _ in new])
        if self.lora_state and self.path is not None:
            pipe.load_lora_weights(self.path, weight_name=LORA_NAME)
        pipe.scheduler = inference_scheduler(pipe.scheduler.config, self.config["schedule"])
        self.fst_embedding.to(pipe.device)
        return pipe

    def tone_request(self, fst: int | None, seed: int) -> float | None:
        """The ITA (degrees) asked of the image of type ``fst`` made with ``seed``: drawn from the
        training images of that type in its band; None without tone conditioning or type."""
        table = (self.config.get("tone") or {}).get("requests", {}).get(str(fst)) if fst else None
        return None if not table else draw_request(table, seed)

    def encode(self, pipe, prompts: list[str], fst: list[int | None], *, negative_prompt: str | None,
               guidance: float, ita: list[float | None] | None = None):
        """(prompt_embeds, negative_prompt_embeds) with the FST token appended; ``ita``: each
        image's tone request (``tone_request``; None: none)."""
        torch = _torch()
        device = pipe.device if pipe.device.type != "meta" else torch.device("cpu")
        with torch.no_grad():
            pos, neg = pipe.encode_prompt(prompts, device, 1, guidance > 1.0,
                                          negative_prompt=[negative_prompt or ""] * len(prompts))
            idx = torch.tensor([NULL_FST if f is None else int(f) - 1 for f in fst], device=device)
            emb = self.fst_embedding.to(device)
            asked = None
            if ita is not None and emb.tone is not None:
                asked = torch.tensor([math.nan if a is None else a for a in ita], dtype=torch.float32)
            pos = emb(pos, idx, asked)
            if neg is not None:
                neg = emb(neg, torch.full_like(idx, NULL_FST))
        return pos, neg


def fst_tokens() -> dict[int, str]:
    return dict(FST_TOKENS)
