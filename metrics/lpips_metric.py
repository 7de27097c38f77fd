"""LPIPS (Zhang et al. 2018) with the SqueezeNet backbone, over a region.

    LPIPS(x, y) = sum_l mean_hw || w_l * (phi_l(x) - phi_l(y)) ||^2

with ``phi_l`` the unit-normalised SqueezeNet activations of layer ``l`` and ``w_l`` the learned
linear weights that ship in the ``lpips`` package (so only the torchvision ``squeezenet1_1``
backbone needs weights). Inputs go in as ``2 x - 1`` (the reference feeds [-1,1]).

Parity: both images multiplied by the region, the package's own spatial average (exactly the
reference's torchmetrics ``LearnedPerceptualImagePatchSimilarity(net_type='squeeze')``).
Clean: the package's spatial map (every layer upsampled to the input size) averaged over the
region.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import lpips
import torch

from piebench.metrics.masked import Mode, nan_where_empty, region_mean, restrict
from piebench.metrics.weights import (
    MissingWeightsError,
    find_weights,
    read_weights,
    torch_hub_checkpoint,
)

logger = logging.getLogger(__name__)

SQUEEZENET_FILE = "squeezenet1_1-b8a52dc0.pth"
SQUEEZENET_URL = f"https://download.pytorch.org/models/{SQUEEZENET_FILE}"
CONFIG_KEY = "metrics.lpips.backbone_weights"


def build_lpips(backbone_weights: str | Path | None = None) -> lpips.LPIPS:
    """The LPIPS-SqueezeNet network with a torchvision ``squeezenet1_1`` state dict loaded.

    ``backbone_weights=None`` looks in torch.hub's checkpoint cache; missing weights raise
    ``MissingWeightsError`` naming the file and ``metrics.lpips.backbone_weights``.
    """
    network, fetch = (
        "LPIPS SqueezeNet backbone",
        f"{SQUEEZENET_URL} (torchvision squeezenet1_1 state dict)",
    )
    configured = str(backbone_weights) if backbone_weights else None
    path = find_weights(
        network, configured, [torch_hub_checkpoint(SQUEEZENET_FILE)], fetch, CONFIG_KEY
    )
    model = lpips_squeeze()
    try:
        load_backbone(model, read_weights(path, network, fetch, CONFIG_KEY), path)
    except ValueError as err:  # another network's state dict
        raise MissingWeightsError(network, fetch, CONFIG_KEY, [str(err)]) from None
    return model.eval().requires_grad_(False)


def lpips_squeeze() -> lpips.LPIPS:
    """LPIPS-SqueezeNet with the package's linear heads and a randomly initialised backbone."""
    # The package prints its setup and calls torchvision's deprecated ``pretrained=`` API.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return lpips.LPIPS(net="squeeze", pretrained=True, pnet_rand=True, spatial=False)


def load_backbone(model: lpips.LPIPS, state: dict[str, torch.Tensor], origin: Path) -> None:
    """Copy torchvision ``features.<i>.*`` tensors into the package's ``slice<k>.<i>.*`` layout."""
    targets = dict(model.net.named_parameters())
    by_torchvision_name = {"features." + name.split(".", 1)[1]: name for name in targets}
    missing = sorted(set(by_torchvision_name) - set(state))
    if missing:
        raise ValueError(
            f"{origin} (not a torchvision squeezenet1_1 state dict: missing {missing[:3]})"
        )
    with torch.no_grad():
        for tv_name, name in by_torchvision_name.items():
            targets[name].copy_(state[tv_name])


@torch.no_grad()
def lpips_distance(
    model: lpips.LPIPS,
    source: torch.Tensor,
    edited: torch.Tensor,
    region: torch.Tensor,
    mode: Mode,
) -> torch.Tensor:
    """(B,) LPIPS between [0,1] images over the region (see module docstring)."""
    x, y, weights = restrict(source, edited, region, mode)
    model.spatial = weights is not None
    distance = model(x * 2 - 1, y * 2 - 1)
    return nan_where_empty(region_mean(distance, weights), region)
