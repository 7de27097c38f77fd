"""FID and KID between two image sets, from Inception-v3 pool features.

    FID = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))        (Heusel et al. 2017)
    KID = MMD^2 with the kernel k(a, b) = (a.b / d + 1)^3, mean (std) over random subsets
                                                                    (Binkowski et al. 2018)

The maths is torchmetrics' (``FrechetInceptionDistance`` / ``KernelInceptionDistance``) fed
precomputed features, so a run's images go through the network once and any grouping (per edit
type, per run) is cheap. The feature network is torchvision's Inception-v3 (2048-d pool
features; inputs resized to 299 bilinear with antialiasing, ImageNet-normalised, then mapped to
the weights' [-1, 1] input range by ``transform_input`` as torchvision does): values are
comparable between runs of this harness, not with pytorch-fid / clean-fid's TF-ported Inception.
Any module mapping (B,3,H,W) [0,1] images to (B,D) features can stand in (tests inject one).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from torchvision.models import inception_v3
from torchvision.transforms import functional as TF

from piebench.metrics.structure import IMAGENET_MEAN, IMAGENET_STD
from piebench.metrics.weights import find_weights, load_state_dict, torch_hub_checkpoint

logger = logging.getLogger(__name__)

INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
INCEPTION_URL = f"https://download.pytorch.org/models/{INCEPTION_FILE}"
CONFIG_KEY = "metrics.fid.inception_weights"
INCEPTION_SIZE = 299


class InceptionFeatures(nn.Module):
    """(B,3,H,W) [0,1] images -> (B,2048) Inception-v3 pool features."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        resized = TF.resize(images, [INCEPTION_SIZE, INCEPTION_SIZE], antialias=True)
        return self.network(TF.normalize(resized, IMAGENET_MEAN, IMAGENET_STD))


def build_inception(weights: str | Path | None = None) -> InceptionFeatures:
    """torchvision Inception-v3 from a state dict (``metrics.fid.inception_weights``) or cache."""
    path = find_weights(
        "Inception-v3 (FID/KID)",
        str(weights) if weights else None,
        [torch_hub_checkpoint(INCEPTION_FILE)],
        f"{INCEPTION_URL} (torchvision inception_v3 state dict)",
        CONFIG_KEY,
    )
    # transform_input: the Google-ported weights expect [-1, 1] inputs; torchvision's builder sets
    # it for these weights so that ImageNet-normalised inputs are mapped there first.
    network = inception_v3(weights=None, aux_logits=False, transform_input=True, init_weights=False)
    state = {k: v for k, v in load_state_dict(path).items() if not k.startswith("AuxLogits.")}
    network.load_state_dict(state, strict=True)
    network.fc = nn.Identity()
    return InceptionFeatures(network).eval().requires_grad_(False)


class _Precomputed(nn.Module):
    """Identity 'feature extractor' so torchmetrics' FID/KID accept stored features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between (N,D) and (M,D) feature sets; NaN with fewer than 2 samples on a side."""
    if len(real) < 2 or len(fake) < 2:
        return float("nan")
    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid_from_features(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) KID over ``subsets`` random subsets of ``min(subset_size, N, M)`` samples.

    The subsets are drawn from a generator seeded with ``seed`` so the value is reproducible.
    """
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # "features kept in memory": that is the point here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=_Precomputed(real.shape[1]), subsets=subsets, subset_size=size
        )
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)
