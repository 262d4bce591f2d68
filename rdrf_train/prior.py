"""The generative prior of stage II: Stable Diffusion 2.1-base (UNet, VAE, text encoder), frozen.

`load_prior(spec)` takes

- a local folder in diffusers layout (`unet/`, `vae/`, `text_encoder/`, `tokenizer/`), e.g. a copy of
  stabilityai/stable-diffusion-2-1-base; nothing is ever downloaded (`local_files_only`);
- a single-file checkpoint (`.safetensors` / `.ckpt`), laid out by the shipped SD 2.1-base config;
- `"tiny"`: small, randomly initialised models of the same diffusers classes, built from a seed so
  every process and every later `rdrf restore` gets the same weights. **It knows nothing about
  images: what it samples is meaningless.** It exists to test and demo the whole pipeline on a CPU;
- `"sd21-base-config"`: the real SD 2.1-base architecture from its shipped config
  (`rdrf_train/prior_configs/sd21-base`), without weights - for counting parameters
  (`rdrf info model`); built on the meta device unless asked otherwise.

What the UNet predicts is read from the folder's `scheduler/scheduler_config.json` (`prediction_type`:
epsilon for SD 2.1-base, v_prediction for the 768-v models; `Prior.prediction_type`): stage II trains
towards it and samples with it; any other type is refused by name.

The prompt is always empty (DiffBIR, DiffUR3): its embedding is computed once at load time and kept
(`Prior.empty_embedding`); the text encoder is then dropped unless `keep_text_encoder`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from schemas.errors import RdrfError

SD21_BASE_CONFIG = Path(__file__).parent / "prior_configs" / "sd21-base"
TINY = "tiny"
SD21_CONFIG_SPEC = "sd21-base-config"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
PARTS = ("unet", "vae", "text_encoder")
PREDICTION_TYPES = ("epsilon", "v_prediction")  # what stage II trains towards and samples with

# Small configurations of the same classes. The UNet keeps SD's shape where the control branch
# depends on it: four levels with two layers each (so 12 skips + the middle = 13 control residuals)
# and an 8x VAE. Its first and last levels skip attention so a 512x512 sample stays quick on a CPU.
TINY_UNET = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 32, 64, 64),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(2, 2, 4, 4),
    cross_attention_dim=32,
    norm_num_groups=8,
    use_linear_projection=True,
)
TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(16, 32, 32, 32),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    norm_num_groups=8,
    sample_size=64,
    scaling_factor=0.18215,
)
TINY_TEXT = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=77,
    vocab_size=514,
    bos_token_id=512,
    eos_token_id=513,
    pad_token_id=513,
)


@dataclass
class Prior:
    """The frozen parts of stage II and the cached empty-prompt embedding."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    empty_embedding: torch.Tensor  # (1, 77, cross_attention_dim)
    source: str
    text_encoder: Optional[CLIPTextModel] = None
    tokenizer: Optional[CLIPTokenizer] = None
    prediction_type: str = "epsilon"  # from the prior's scheduler config: what its UNet predicts
    fp32_weights: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # by part, kept by `to` when it casts down
    fp32_embedding: Optional[torch.Tensor] = None

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    def to(self, device, dtype: Optional[torch.dtype] = None, parts: tuple[str, ...] = PARTS) -> "Prior":
        """Move `parts` (and the prompt embedding) to `device`, cast to `dtype` when given. Weights
        cast down from fp32 are kept (on the CPU) for `full_precision`."""
        for name in parts:
            module = getattr(self, name)
            if module is None:
                continue
            if dtype is not None and dtype != torch.float32 and module.dtype == torch.float32:
                self.fp32_weights[name] = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
            module.to(device)
            if dtype is not None and module.dtype != dtype:
                module.to(dtype)
        if dtype is not None and dtype != torch.float32 and self.empty_embedding.dtype == torch.float32:
            self.fp32_embedding = self.empty_embedding.detach().cpu().clone()
        self.empty_embedding = self.empty_embedding.to(device=device, dtype=dtype or self.empty_embedding.dtype)
        return self

    @contextlib.contextmanager
    def full_precision(self) -> Iterator["Prior"]:
        """Within: the parts `to` cast down hold their original fp32 weights again, so validation
        computes what `rdrf restore` (fp32) computes; cast back on exit."""
        cast = {name: getattr(self, name).dtype for name in self.fp32_weights}
        embedding = self.empty_embedding
        for name, state in self.fp32_weights.items():
            module = getattr(self, name).to(torch.float32)
            module.load_state_dict(state)
        if self.fp32_embedding is not None:
            self.empty_embedding = self.fp32_embedding.to(embedding.device)
        try:
            yield self
        finally:
            for name, dtype in cast.items():
                getattr(self, name).to(dtype)
            self.empty_embedding = embedding

    def prompt_embedding(self, batch: int) -> torch.Tensor:
        return self.empty_embedding.expand(batch, -1, -1)

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B, 3, H, W), H and W multiples of 8 -> scaled latent (posterior mode, as DiffBIR)."""
        x = image.to(self.vae.dtype) * 2 - 1
        return (self.vae.encode(x).latent_dist.mode() * self.scaling_factor).float()

    def save(self, folder: Path) -> None:
        """Write diffusers layout (loadable by `load_prior(folder)`); needs the text encoder kept."""
        if self.text_encoder is None or self.tokenizer is None:
            raise RdrfError("cannot save a prior whose text encoder was dropped; load it with keep_text_encoder=True")
        folder = Path(folder)
        self.unet.save_pretrained(folder / "unet")
        self.vae.save_pretrained(folder / "vae")
        self.text_encoder.save_pretrained(folder / "text_encoder")
        self.tokenizer.save_pretrained(folder / "tokenizer")
        from rdrf_train.sampling import make_noise_scheduler

        make_noise_scheduler(self.prediction_type).save_pretrained(folder / "scheduler")


def freeze(*modules: torch.nn.Module) -> None:
    for m in modules:
        m.eval()
        m.requires_grad_(False)


def byte_level_tokenizer(max_length: int = 77) -> CLIPTokenizer:
    """A CLIP BPE tokenizer with no merges: every byte is a token. Built offline for the tiny prior."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for b in range(256):  # GPT-2's byte -> unicode table, as the byte-level pre-tokenizer expects
        if b not in printable:
            codes.append(256 + extra)
            extra += 1
    chars = [chr(c) for c in codes]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


@torch.no_grad()
def empty_prompt_embedding(text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer) -> torch.Tensor:
    ids = tokenizer("", padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device))[0].detach()


def build_tiny(seed: int = 0) -> tuple[UNet2DConditionModel, AutoencoderKL, CLIPTextModel, CLIPTokenizer]:
    """The tiny prior's models; the same seed gives the same weights (on the same torch build)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**TINY_UNET)
        vae = AutoencoderKL(**TINY_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_TEXT))
    return unet, vae, text_encoder, byte_level_tokenizer()


def build_from_config(config_dir: Path = SD21_BASE_CONFIG, meta: bool = True) -> tuple[UNet2DConditionModel, AutoencoderKL, CLIPTextModel]:
    """The architecture of a diffusers-layout config folder, without weights (meta tensors by default)."""
    from accelerate import init_empty_weights

    context = init_empty_weights() if meta else contextlib.nullcontext()
    with context:
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config_dir / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(config_dir / "vae"))
        text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(config_dir / "text_encoder"))
    return unet, vae, text_encoder


def _load_folder(folder: Path):
    missing = [sub for sub in ("unet", "vae", "text_encoder", "tokenizer") if not (folder / sub).is_dir()]
    if missing:
        raise RdrfError(
            f"pretrained prior {folder} is not a Stable Diffusion folder in diffusers layout: "
            f"missing {', '.join(s + '/' for s in missing)} (expected a local copy of stable-diffusion-2-1-base)"
        )
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True)
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", local_files_only=True)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise RdrfError(f"cannot load the pretrained prior from {folder}: {exc}") from None
    return unet, vae, text_encoder, tokenizer, _folder_prediction_type(folder)


def _folder_prediction_type(folder: Path) -> str:
    """The `prediction_type` of the folder's `scheduler/scheduler_config.json`; epsilon (SD 2.1-base's)
    when the folder has no scheduler config."""
    import json

    path = folder / "scheduler" / "scheduler_config.json"
    if not path.exists():
        return "epsilon"
    try:
        return str(json.loads(path.read_text()).get("prediction_type", "epsilon"))
    except json.JSONDecodeError as exc:
        raise RdrfError(f"pretrained prior {folder}: {path} is not valid JSON ({exc})") from None


def check_prediction_type(prediction_type: str, source: str) -> str:
    if prediction_type not in PREDICTION_TYPES:
        raise RdrfError(
            f"pretrained prior {source}: its scheduler's prediction_type is {prediction_type!r}; stage II trains and "
            f"samples only {' or '.join(PREDICTION_TYPES)} priors"
        )
    return prediction_type


def _load_single_file(path: Path):
    """An original-layout SD 2.x checkpoint, converted by diffusers with the shipped config (offline).

    The tokenizer is not in such a file: the SD 2.x one must sit in the shipped config folder's
    `tokenizer/` or next to the checkpoint (`<stem>-tokenizer/`); without it we say so.
    """
    from diffusers import StableDiffusionPipeline

    tokenizer_dirs = [path.with_name(path.stem + "-tokenizer"), SD21_BASE_CONFIG / "tokenizer"]
    tokenizer_dir = next((d for d in tokenizer_dirs if d.is_dir()), None)
    if tokenizer_dir is None:
        raise RdrfError(
            f"single-file checkpoint {path}: the SD 2.x tokenizer is needed and not in the file; put its "
            f"vocab/merges (a diffusers tokenizer/ folder) at {tokenizer_dirs[0]}, or pass a diffusers folder instead"
        )
    try:
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
        pipe = StableDiffusionPipeline.from_single_file(
            str(path), config=str(SD21_BASE_CONFIG), tokenizer=tokenizer, local_files_only=True,
            safety_checker=None, requires_safety_checker=False,
        )
    except (OSError, ValueError, KeyError, EnvironmentError) as exc:
        raise RdrfError(f"cannot load single-file checkpoint {path}: {exc}") from None
    return pipe.unet, pipe.vae, pipe.text_encoder, tokenizer, str(pipe.scheduler.config.get("prediction_type", "epsilon"))


def load_prior(spec: str | Path, *, keep_text_encoder: bool = False, seed: int = 0) -> Prior:
    """Load (or build) the frozen prior on the CPU in fp32; move it with `Prior.to`."""
    spec_str = str(spec)
    prediction_type = "epsilon"
    if spec_str == TINY:
        unet, vae, text_encoder, tokenizer = build_tiny(seed)
    elif spec_str == SD21_CONFIG_SPEC:
        unet, vae, text_encoder = build_from_config(SD21_BASE_CONFIG, meta=True)
        freeze(unet, vae, text_encoder)
        dim = unet.config.cross_attention_dim
        return Prior(unet, vae, torch.empty(1, 77, dim, device="meta"), SD21_CONFIG_SPEC, text_encoder, None)
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            unet, vae, text_encoder, tokenizer, prediction_type = _load_folder(path)
        elif path.is_file() and path.suffix in SINGLE_FILE_SUFFIXES:
            unet, vae, text_encoder, tokenizer, prediction_type = _load_single_file(path)
        elif path.exists():
            raise RdrfError(f"pretrained prior {path}: expected a diffusers folder or a {'/'.join(SINGLE_FILE_SUFFIXES)} checkpoint")
        else:
            raise RdrfError(
                f"pretrained prior {spec_str!r} not found: give a local stable-diffusion-2-1-base folder (diffusers layout), "
                f"a single-file checkpoint, {TINY!r} (random tiny models, meaningless images) or {SD21_CONFIG_SPEC!r}"
            )
    freeze(unet, vae, text_encoder)
    embedding = empty_prompt_embedding(text_encoder, tokenizer)
    prior = Prior(unet, vae, embedding, spec_str, prediction_type=check_prediction_type(prediction_type, spec_str))
    if keep_text_encoder:
        prior.text_encoder, prior.tokenizer = text_encoder, tokenizer
    return prior
