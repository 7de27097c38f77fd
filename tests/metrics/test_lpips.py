"""LPIPS against the ``lpips`` package and torchmetrics (the reference's) with one random backbone."""

from __future__ import annotations

import contextlib
import io

import lpips
import pytest
import torch
from torchmetrics.functional.image.lpips import _LPIPS
from torchvision.models import squeezenet1_1

from piebench.metrics.lpips_metric import build_lpips, lpips_distance
from piebench.metrics.masked import region
from piebench.metrics.weights import MissingWeightsError


@pytest.fixture(scope="module")
def backbone(tiny_cfg) -> torch.nn.Sequential:
    net = squeezenet1_1(weights=None)
    net.load_state_dict(torch.load(tiny_cfg["lpips"]["backbone_weights"]))
    return net.features


def with_backbone(model: torch.nn.Module, features: torch.nn.Sequential) -> torch.nn.Module:
    """Put torchvision's feature modules into the LPIPS slices by index (as the packages build them)."""
    for piece in [m for m in model.net.modules() if isinstance(m, torch.nn.Sequential)]:
        for index, _ in list(piece.named_children()):
            piece._modules[index] = features[int(index)]
    return model.eval()


def test_matches_lpips_package_and_torchmetrics(pair, networks, backbone):
    source, edited, mask = pair
    with contextlib.redirect_stdout(io.StringIO()):
        package = with_backbone(lpips.LPIPS(net="squeeze", pnet_rand=True, verbose=False), backbone)
    reference = with_backbone(_LPIPS(net="squeeze", pnet_rand=True), backbone)
    for part in ("whole", "unedit_part"):
        r = region(mask, part)
        ours = lpips_distance(networks.lpips, source, edited, r, "parity")
        with torch.no_grad():
            x, y = source * r * 2 - 1, edited * r * 2 - 1
            assert torch.allclose(ours, package(x, y).flatten(), atol=1e-6)
            assert torch.allclose(ours, reference(x, y).flatten(), atol=1e-6)
        assert torch.all(ours > 0)


def test_clean_is_the_spatial_map_averaged_over_the_region(pair, networks, backbone):
    source, edited, mask = pair
    r = region(mask, "edit_part")
    with contextlib.redirect_stdout(io.StringIO()):
        spatial = with_backbone(
            lpips.LPIPS(net="squeeze", pnet_rand=True, spatial=True, verbose=False), backbone
        )
    with torch.no_grad():
        distance_map = spatial(source * 2 - 1, edited * 2 - 1)
    expected = (distance_map * r).flatten(1).sum(1) / r.flatten(1).sum(1)
    assert torch.allclose(
        lpips_distance(networks.lpips, source, edited, r, "clean"), expected, atol=1e-6
    )


@pytest.mark.parametrize("mode", ["parity", "clean"])
def test_zero_on_identical_images_and_nan_on_empty_region(pair, networks, mode):
    source, _, _ = pair
    ones = torch.ones(len(source), 1, 48, 48)
    assert torch.allclose(
        lpips_distance(networks.lpips, source, source, ones, mode), torch.zeros(2)
    )
    empty = region(ones, "unedit_part")
    assert torch.isnan(lpips_distance(networks.lpips, source, source, empty, mode)).all()


def test_missing_backbone_names_the_file_and_the_config_key(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(
        MissingWeightsError, match=r"squeezenet1_1-b8a52dc0\.pth.*metrics\.lpips\.backbone_weights"
    ):
        build_lpips(None)
    with pytest.raises(MissingWeightsError, match="metrics.lpips.backbone_weights"):
        build_lpips(tmp_path / "nope.pth")


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "not a readable state dict: EOFError"),
        (b"hello", "not a readable state dict"),
        ("other_network", r"not a torchvision squeezenet1_1 state dict: missing \['features"),
    ],
)
def test_an_unusable_backbone_file_is_named_not_a_traceback(tmp_path, content, reason):
    """An empty, text or other network's file at the configured path: the same one-line error
    as a missing one, saying what is wrong with the file."""
    path = tmp_path / "backbone.pth"
    if content == "other_network":
        torch.save({"conv.weight": torch.zeros(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(MissingWeightsError, match=rf"backbone\.pth \({reason}.*backbone_weights"):
        build_lpips(path)
