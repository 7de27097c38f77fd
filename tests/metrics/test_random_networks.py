"""Random metric networks for timing without weights: the published shapes, the real LPIPS heads."""

from pathlib import Path

import lpips
import torch
from torchvision.models import squeezenet1_1
from transformers import CLIPConfig, CLIPModel

from piebench.metrics.lpips_metric import load_backbone, lpips_squeeze
from piebench.metrics.random_networks import CLIP_VIT_L14, RandomMetricNetworks
from piebench.metrics.structure import DinoArch, dino_vit
from tests.metrics.tiny_networks import TINY_CLIP_CONFIG, TINY_DINO_ARCH


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_random_clip_and_dino_have_the_published_sizes():
    """Built on the meta device (no memory): CLIP ViT-L/14's 427.6 M parameters (the count of
    openai/clip-vit-large-patch14) and DINO ViT-B/8's backbone, 85.8 M (12 blocks of 7,087,872,
    patch embedding, class token, 785 positions, final norm)."""
    with torch.device("meta"):
        clip, dino = CLIPModel(CLIPConfig(**CLIP_VIT_L14)), dino_vit(DinoArch())
    assert parameters(clip) == 427_616_513
    assert parameters(dino) == 85_807_872
    assert clip.config.vision_config.patch_size == 14 and dino.patch_embed.patch_size == (8, 8)


def test_lpips_squeeze_keeps_the_package_heads_on_a_squeezenet_of_torchvision_layout():
    model = lpips_squeeze()
    shipped = Path(lpips.__file__).parent / "weights" / "v0.1" / "squeeze.pth"
    heads = torch.load(shipped, map_location="cpu", weights_only=True)
    for name, value in heads.items():
        assert torch.equal(model.state_dict()[name], value), name
    load_backbone(model, squeezenet1_1(weights=None).state_dict(), Path("squeezenet1_1"))


def test_random_networks_score_images_with_the_configured_dino_shape(monkeypatch):
    monkeypatch.setattr(RandomMetricNetworks, "clip_config", TINY_CLIP_CONFIG)
    networks = RandomMetricNetworks(
        {"device": "cpu", "dino": {"arch": TINY_DINO_ARCH, "resize": 64}}
    )
    images = torch.randint(0, 256, (2, 3, 48, 40), dtype=torch.uint8)
    scores = networks.clip.score(images, ["a cat", "a dog on a sofa"])
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    assert networks.dino.model.embed_dim == TINY_DINO_ARCH["embed_dim"]
    assert networks.describe()["clip"].startswith("random weights")
