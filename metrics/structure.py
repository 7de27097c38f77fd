"""Structure distance (Tumanyan et al. 2022, as used by PIE-Bench): DINO ViT-B/8 key
self-similarity.

For an image ``x``: resize so the short side is 224 (long side at most 480; antialiased or
not per the metric profile's ``dino.antialias``), normalise with the ImageNet mean/std, run
DINO ViT-B/8 and take the keys ``K`` (N tokens x 12 heads*64) of the last block's attention
(layer 11, heads concatenated, CLS token included). Then

    S(x)_ij = <K_i, K_j> / max(|K_i| |K_j|, 1e-8)          (N x N cosine self-similarity)
    structure_distance(x, y) = mean_ij (S(x)_ij - S(y)_ij)^2

Parity quirk (the reference): the images enter the ImageNet normalisation as 0..255 values, not
divided by 255. Clean mode feeds [0,1]. This is the second (and last) place where the modes
differ; the first is the region rule in ``masked.py``. For a region, parity multiplies the
images by it; clean weighs the pair (i, j) by ``w_i w_j``, with ``w`` the fraction of each
patch inside the region (1 for the CLS token).

The network is timm's ``VisionTransformer`` with DINO ViT-B/8's shape, loaded from the official
DINO state dict (same parameter names) or timm's ``vit_base_patch8_224.dino``: numerically the
torch.hub ``facebookresearch/dino:main dino_vitb8`` model at PIE-Bench's square 224 input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torchvision.transforms import functional as TF

from piebench.metrics.masked import Mode, nan_where_empty, region_mean, restrict
from piebench.metrics.weights import (
    MissingWeightsError,
    find_weights,
    read_weights,
    torch_hub_checkpoint,
)

logger = logging.getLogger(__name__)

DINO_FILE = "dino_vitbase8_pretrain.pth"
DINO_URL = f"https://dl.fbaipublicfiles.com/dino/dino_vitbase8_pretrain/{DINO_FILE}"
TIMM_HUB_ID = "timm/vit_base_patch8_224.dino"
CONFIG_KEY = "metrics.dino.weights"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Prefixes of DINO training checkpoints (DDP wrapper, teacher/student backbone).
STRIP_PREFIXES = ("module.", "backbone.")


@dataclass(frozen=True)
class DinoArch:
    """ViT shape; the default is DINO ViT-B/8 (tests pass a tiny one)."""

    patch_size: int = 8
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    img_size: int = 224


def build_dino(weights: str | Path | None = None, arch: DinoArch = DinoArch()) -> VisionTransformer:
    """DINO ViT-B/8 (or ``arch``) with weights from ``weights`` or a local cache.

    ``weights`` is a ``.pth`` with the official DINO key names (``blocks.11.attn.qkv.weight``,
    ...) or a timm ``.safetensors``; ``None`` looks in torch.hub's checkpoint cache and the
    Hugging Face cache of ``timm/vit_base_patch8_224.dino``.
    """
    network, fetch = "DINO ViT-B/8", f"{DINO_URL} (official DINO ViT-B/8 backbone)"
    configured = str(weights) if weights else None
    cached = [torch_hub_checkpoint(DINO_FILE), *_timm_cache()]
    path = find_weights(network, configured, cached, fetch, CONFIG_KEY)
    model = dino_vit(arch)
    state = dino_to_timm(read_weights(path, network, fetch, CONFIG_KEY))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # another network's keys or shapes
        detail = [line.strip() for line in str(err).splitlines()[1:2]]  # e.g. missing keys
        reason = "; ".join(["not a DINO ViT state dict", *detail])[:200]
        raise MissingWeightsError(network, fetch, CONFIG_KEY, [f"{path} ({reason})"]) from None
    return model.eval().requires_grad_(False)


def dino_vit(arch: DinoArch) -> VisionTransformer:
    """The backbone network of ``arch`` (timm's ViT, no head, any input size), not loaded."""
    return VisionTransformer(
        img_size=arch.img_size,
        patch_size=arch.patch_size,
        embed_dim=arch.embed_dim,
        depth=arch.depth,
        num_heads=arch.num_heads,
        num_classes=0,
        dynamic_img_size=True,
    )


def dino_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official DINO backbone names are timm's; drop wrapper prefixes and the DINO head."""
    out = {}
    for name, tensor in state.items():
        for prefix in STRIP_PREFIXES:
            name = name.removeprefix(prefix)
        if not name.startswith("head."):
            out[name] = tensor
    return out


def _timm_cache() -> list[Path]:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(TIMM_HUB_ID, "model.safetensors")
    return [Path(found)] if isinstance(found, str) else []


class KeySelfSimilarity:
    """Last-block key self-similarity of a ViT (DINO or timm: both expose ``blocks[-1].attn.qkv``)."""

    def __init__(self, model: torch.nn.Module, resize: int = 224, max_size: int = 480) -> None:
        self.model, self.resize, self.max_size = model, resize, max_size
        self.patch_size = model.patch_embed.patch_size[0]

    def prepare(self, images: torch.Tensor, mode: Mode, antialias: bool) -> torch.Tensor:
        """Resize + ImageNet-normalise (B,3,H,W) [0,1] images (0..255 values in parity mode).

        Inputs decode from uint8 files, so ``round(255 x)`` restores the reference's integers.
        The reference resizes with torchvision's default, antialiased since torchvision 0.17
        and not before: ``antialias`` is the profile's ``dino.antialias``, never the library's.
        """
        scaled = (images * 255).round() if mode == "parity" else images
        resized = TF.resize(scaled, [self.resize], max_size=self.max_size, antialias=antialias)
        return TF.normalize(resized, IMAGENET_MEAN, IMAGENET_STD)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B,N,N) cosine self-similarity of the last block's keys for prepared images."""
        captured: list[torch.Tensor] = []
        attn = self.model.blocks[-1].attn
        handle = attn.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            self.model(images)
        finally:
            handle.remove()
        qkv = captured[0]  # (B, N, 3 * heads * head_dim), laid out as [q | k | v]
        batch, tokens, _ = qkv.shape
        keys = qkv.reshape(batch, tokens, 3, -1)[:, :, 1]  # heads concatenated
        norms = keys.norm(dim=-1, keepdim=True)
        return (keys @ keys.transpose(1, 2)) / (norms @ norms.transpose(1, 2)).clamp(min=1e-8)

    def token_weights(self, region: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B,N) fraction of each patch inside the region for an input of ``size``; CLS = 1."""
        grid = (size[0] // self.patch_size, size[1] // self.patch_size)
        patches = F.adaptive_avg_pool2d(region.float(), grid).flatten(1)
        return torch.cat([torch.ones_like(patches[:, :1]), patches], dim=1)


def structure_distance(
    extractor: KeySelfSimilarity,
    source: torch.Tensor,
    edited: torch.Tensor,
    region: torch.Tensor,
    mode: Mode,
    *,
    antialias: bool,
) -> torch.Tensor:
    """(B,) MSE between the key self-similarity matrices of source and edited (module docs);
    ``antialias`` is the input resize's (the profile's ``dino.antialias``)."""
    x, y, weights = restrict(source, edited, region, mode)
    x, y = extractor.prepare(x, mode, antialias), extractor.prepare(y, mode, antialias)
    sq_diff = (extractor(y) - extractor(x)) ** 2
    if weights is not None:
        w = extractor.token_weights(weights, tuple(x.shape[-2:]))
        weights = w[:, :, None] * w[:, None, :]
    return nan_where_empty(region_mean(sq_diff, weights), region)
