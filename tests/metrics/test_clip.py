"""CLIP score against the model's own similarity; the edited-part score; the clamp at 0."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from piebench.metrics.clip_score import ClipScorer, masked_uint8
from piebench.metrics.weights import MissingWeightsError

PROMPTS = ["a cat on a mat", "a red car", "a bowl of fruit", "two dogs in the snow"] * 2


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (len(PROMPTS), 3, 40, 48), generator=g, dtype=torch.uint8)


def test_score_is_100_cosine_of_the_model(networks, images):
    scorer = networks.clip
    tokens = scorer.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = scorer.model(pixel_values=scorer.preprocess(images), **tokens).logits_per_image
    cosine = torch.diagonal(logits) / scorer.model.logit_scale.exp()
    assert torch.allclose(
        networks.clip.score(images, PROMPTS), (100 * cosine).clamp(min=0), atol=1e-4
    )


def test_negative_similarity_is_clamped_to_zero(networks, images):
    """Flipping the image projection flips every cosine: the positive scores become 0."""
    flipped = copy.deepcopy(networks.clip.model)
    with torch.no_grad():
        flipped.visual_projection.weight.neg_()
    positive = networks.clip.score(images, PROMPTS)
    assert torch.all(positive > 0)
    flipped_scorer = ClipScorer(flipped, networks.clip.tokenizer, networks.clip.preprocess)
    assert torch.all(flipped_scorer.score(images, PROMPTS) == 0)


def test_long_prompts_are_cut_to_the_text_positions_as_torchmetrics_does(networks, images):
    long_prompt = " ".join(["a red cat"] * 40)  # ~120 tokens, the text model has 77 positions
    tokens = networks.clip.tokenizer([long_prompt], return_tensors="pt")["input_ids"]
    assert tokens.shape[1] > 77
    with torch.no_grad():
        cut = networks.clip.model.get_text_features(input_ids=tokens[:, :77])
    cut = cut if isinstance(cut, torch.Tensor) else cut.pooler_output
    assert torch.allclose(
        networks.clip.text_features([long_prompt]), cut / cut.norm(dim=-1, keepdim=True)
    )


def test_edit_part_is_the_score_of_the_masked_image(networks, images):
    mask = torch.zeros(len(images), 1, 40, 48)
    mask[:, :, 5:30, 10:40] = 1
    by_hand = np.stack(
        [
            np.uint8(img.permute(1, 2, 0).numpy() * m[0, :, :, None].numpy())
            for img, m in zip(images, mask)
        ]
    )
    explicit = torch.from_numpy(by_hand).permute(0, 3, 1, 2)
    assert torch.equal(masked_uint8(images, mask), explicit)
    assert torch.allclose(
        networks.clip.score(masked_uint8(images, mask), PROMPTS),
        networks.clip.score(explicit, PROMPTS),
    )


def test_missing_clip_names_the_model_and_the_config_key(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"metrics\.clip\.path"):
        ClipScorer.load(tmp_path / "no-clip-here")
