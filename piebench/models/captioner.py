"""Image captions with BLIP through transformers, as pix2pix-zero's PIE-Bench reference makes them.

The reference captions each source image with LAVIS ``blip_caption/base_coco``: 384 x 384 bicubic
input with CLIP's normalisation, beam search with 3 beams, 10 to 30 tokens, the decoder prompted
with "a picture of " and that prefix stripped from the answer. The same recipe runs here on a
transformers ``BlipForConditionalGeneration`` checkpoint (e.g. Salesforce/blip-image-captioning-base,
BLIP base fine-tuned on COCO), loaded from a local folder or the Hugging Face cache, never
downloaded at run time. The recipe is the reference's; the weights are only as close as the
checkpoint given: the hub port may come from another BLIP checkpoint file than LAVIS's, which
could not be compared offline.
"""

from __future__ import annotations

import torch

from piebench.models.loading import ModelLoadError
from piebench.models.weight_source import fetch_hint

PROMPT = "a picture of "
DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"  # BLIP base, COCO captions


class BlipCaptioner:
    """Captions (B,3,H,W) uint8 images: beam search 3, length 10..30, prompt prefix removed."""

    def __init__(self, path: str, device: torch.device) -> None:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        try:
            self.processor = BlipProcessor.from_pretrained(path, local_files_only=True)
            self.model = BlipForConditionalGeneration.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as err:
            command, folder = fetch_hint(path, DEFAULT_CAPTIONER)
            raise ModelLoadError(
                f"cannot load the BLIP captioner from method.caption_model={path!r}: "
                f"{str(err).splitlines()[0]}\nDownload it where you have internet, e.g. "
                f"{command}, then set method.caption_model={folder} "
                "(or method.caption=source_prompt)"
            ) from None
        self.model = self.model.to(device).eval().requires_grad_(False)
        self.device = device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> list[str]:
        pictures = list(images.permute(0, 2, 3, 1).cpu().numpy())
        inputs = self.processor(
            images=pictures, text=[PROMPT.strip()] * len(pictures), return_tensors="pt"
        ).to(self.device)
        tokens = self.model.generate(**inputs, num_beams=3, max_length=30, min_length=10)
        captions = self.processor.batch_decode(tokens, skip_special_tokens=True)
        return [c.strip().removeprefix(PROMPT.strip()).strip() for c in captions]
