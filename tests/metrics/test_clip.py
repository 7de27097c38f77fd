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
    inputs = scorer.processor(text=PROMPTS, images=list(images), return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = scorer.model(**inputs).logits_per_image
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
    assert torch.all(ClipScorer(flipped, networks.clip.processor).score(images, PROMPTS) == 0)


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
