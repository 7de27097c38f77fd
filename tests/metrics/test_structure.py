"""Structure distance on a tiny random ViT with DINO's hook point, against the reference recipe."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torchvision import transforms

from piebench.metrics.masked import region
from piebench.metrics.structure import KeySelfSimilarity, build_dino, structure_distance
from piebench.metrics.weights import MissingWeightsError
from tests.metrics.tiny_networks import TINY_DINO_ARCH, tiny_dino


def reference_self_similarity(
    model: torch.nn.Module, image: torch.Tensor, scale: float, antialias: bool
) -> torch.Tensor:
    """One image, step by step as the reference: Resize + Normalize on (scale x) values, the
    last block's qkv output split into (3, heads, tokens, head_dim), keys concatenated over heads."""
    prepare = transforms.Compose(
        [
            transforms.Resize(64, max_size=480, antialias=antialias),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    captured = []
    hook = model.blocks[-1].attn.qkv.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        model(prepare((image * scale).round() if scale == 255 else image)[None])
    hook.remove()
    heads = TINY_DINO_ARCH["num_heads"]
    qkv = captured[0][0]
    tokens = qkv.shape[0]
    keys = qkv.reshape(tokens, 3, heads, -1).permute(1, 2, 0, 3)[1]
    flat = keys.transpose(0, 1).reshape(tokens, -1)
    norm = flat.norm(dim=1, keepdim=True)
    return (flat @ flat.T) / (norm @ norm.T).clamp(min=1e-8)


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize(("mode", "scale"), [("parity", 255), ("clean", 1)])
def test_matches_reference_recipe(pair, networks, mode, scale, antialias):
    source, edited, mask = pair
    whole = region(mask, "whole")
    ours = structure_distance(networks.dino, source, edited, whole, mode, antialias=antialias)
    model = tiny_dino()
    for i in range(len(source)):
        expected = F.mse_loss(
            reference_self_similarity(model, edited[i], scale, antialias),
            reference_self_similarity(model, source[i], scale, antialias),
        )
        assert ours[i] == pytest.approx(float(expected), rel=1e-4)


def test_parity_region_variant_multiplies_the_images(pair, networks):
    source, edited, mask = pair
    unedit = region(mask, "unedit_part")
    ours = structure_distance(networks.dino, source, edited, unedit, "parity", antialias=False)
    explicit = structure_distance(
        networks.dino,
        source * unedit,
        edited * unedit,
        region(mask, "whole"),
        "parity",
        antialias=False,
    )
    assert torch.allclose(ours, explicit)


@pytest.mark.parametrize("mode", ["parity", "clean"])
def test_zero_for_identical_positive_and_symmetric_otherwise(pair, networks, mode):
    source, edited, mask = pair
    for part in ("whole", "edit_part"):
        r = region(mask, part)
        distance = functools.partial(structure_distance, networks.dino, antialias=True)
        assert torch.allclose(distance(source, source, r, mode), torch.zeros(2))
        forward = distance(source, edited, r, mode)
        backward = distance(edited, source, r, mode)
        assert torch.all(forward > 0)
        assert torch.allclose(forward, backward)


def test_clean_whole_region_equals_unweighted_and_empty_region_is_nan(pair, networks):
    source, edited, mask = pair
    ones = torch.ones_like(mask)
    weighted = structure_distance(networks.dino, source, edited, ones, "clean", antialias=True)
    x = networks.dino.prepare(source, "clean", antialias=True)
    y = networks.dino.prepare(edited, "clean", antialias=True)
    plain = ((networks.dino(x) - networks.dino(y)) ** 2).flatten(1).mean(1)
    assert torch.allclose(weighted, plain)
    empty = region(ones, "unedit_part")
    nan = structure_distance(networks.dino, source, edited, empty, "clean", antialias=True)
    assert torch.isnan(nan).all()


def test_missing_dino_names_the_file_and_the_config_key(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr("piebench.metrics.structure._timm_cache", list)
    with pytest.raises(
        MissingWeightsError, match=r"dino_vitbase8_pretrain\.pth.*metrics\.dino\.weights"
    ):
        build_dino(None)


def test_resize_antialias_is_the_profile_setting():
    extractor = KeySelfSimilarity(tiny_dino(), resize=64)
    images = torch.rand(1, 3, 96, 96)
    smooth = extractor.prepare(images, "clean", antialias=True)
    sharp = extractor.prepare(images, "clean", antialias=False)
    old_default = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(
        F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False)
    )
    torch.testing.assert_close(sharp, old_default)  # torchvision < 0.17: no antialias on tensors
    assert (smooth - sharp).abs().max() > 1e-3


def test_an_unusable_dino_file_is_named_not_a_traceback(tmp_path):
    empty, other = tmp_path / "empty.pth", tmp_path / "other.pth"
    empty.write_bytes(b"")
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(MissingWeightsError, match=r"empty\.pth \(not a readable state dict"):
        build_dino(empty)
    with pytest.raises(
        MissingWeightsError, match=r"other\.pth \(not a DINO ViT state dict; Missing key.*dino\.w"
    ):
        build_dino(other)
