"""CLIP score of images against prompts, as PIE-Bench computes it.

    CLIP(I, T) = max(100 * cos(E_I(I), E_T(T)), 0)

with ``openai/clip-vit-large-patch14`` by default, the images fed as uint8 (0..255) exactly as
torchmetrics' ``CLIPScore`` did in the reference. Images go through ``ClipImagePreprocess``
(the transformers 4.x PIL processor's steps, done here so that the transformers version cannot
change them); prompts through the model's tokenizer with padding, cut to the text model's
positions (77) as torchmetrics does. The edited-part score is the score of ``uint8(I * M)``
with the (border-forced) edit mask ``M``: pixels outside the edited region become black.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoTokenizer, CLIPModel, PreTrainedTokenizerBase

from piebench.metrics.clip_preprocess import ClipImagePreprocess
from piebench.metrics.weights import MissingWeightsError
from piebench.models.weight_source import fetch_hint

logger = logging.getLogger(__name__)

DEFAULT_CLIP = "openai/clip-vit-large-patch14"
CONFIG_KEY = "metrics.clip.path"


class ClipScorer:
    """A CLIP model, its tokenizer and the reference's image preprocessing, scoring batches of
    (image, prompt) pairs."""

    def __init__(
        self,
        model: CLIPModel,
        tokenizer: PreTrainedTokenizerBase,
        preprocess: ClipImagePreprocess,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.preprocess = preprocess

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_CLIP,
        device: torch.device | str = "cpu",
        config_key: str = CONFIG_KEY,
    ) -> ClipScorer:
        """Load a ``CLIPModel`` folder or hub id from local files only (no download): model,
        tokenizer and image preprocessing settings.

        Missing offline raises ``MissingWeightsError`` naming the model and ``config_key``, the
        setting that chose it (``metrics.clip.path`` for scoring).
        """
        local = Path(str(path)).expanduser()
        source = str(local) if local.exists() else str(path)
        try:
            model = CLIPModel.from_pretrained(source, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            preprocess = ClipImagePreprocess.load(source)
        except OSError as err:
            command, _ = fetch_hint(str(path), DEFAULT_CLIP)
            raise MissingWeightsError(
                "CLIP", f"the CLIPModel folder (e.g. `{command}`)", config_key, [source]
            ) from err
        return cls(model.to(device), tokenizer, preprocess)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B,D) unit-norm embeddings of (B,3,H,W) uint8 images."""
        pixels = self.preprocess(images)
        return _unit(_embedding(self.model.get_image_features(pixel_values=pixels.to(self.device))))

    @torch.no_grad()
    def text_features(self, prompts: list[str]) -> torch.Tensor:
        """(B,D) unit-norm embeddings of prompts.

        Token sequences longer than the text model's positions (77) are cut to that length, as
        torchmetrics does in the reference (PIE-Bench prompts are far shorter).
        """
        tokens = self.tokenizer(prompts, return_tensors="pt", padding=True)
        limit = self.model.config.text_config.max_position_embeddings
        features = self.model.get_text_features(
            input_ids=tokens["input_ids"][:, :limit].to(self.device),
            attention_mask=tokens["attention_mask"][:, :limit].to(self.device),
        )
        return _unit(_embedding(features))

    def score(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """(B,) ``max(100 cos, 0)`` of each uint8 image against its prompt."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        cosine = (self.image_features(images) * self.text_features(prompts)).sum(-1)
        return (100.0 * cosine).clamp(min=0.0).float().cpu()


def masked_uint8(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``uint8(I * M)`` for (B,3,H,W) uint8 images and a (B,1,H,W) {0,1} mask."""
    return (images * mask.to(images.dtype)).to(torch.uint8)


def _embedding(output: torch.Tensor | object) -> torch.Tensor:
    """transformers >= 5 wraps the projected embedding in a model output (``pooler_output``)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _unit(features: torch.Tensor) -> torch.Tensor:
    return features / features.norm(p=2, dim=-1, keepdim=True)
