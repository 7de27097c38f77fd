"""FID and KID between two image sets, from the standard FID Inception's pool features.

    FID = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))        (Heusel et al. 2017)
    KID = MMD^2 with the kernel k(a, b) = (a.b / d + 1)^3, mean (std) over random subsets
                                                                    (Binkowski et al. 2018)

The maths is torchmetrics' (``FrechetInceptionDistance`` / ``KernelInceptionDistance``) fed
precomputed features, so a set's images go through the network once and any grouping (per edit
type, per guidance weight) is cheap. The feature network is the one published FIDs use: the
TensorFlow Inception (2015-12-05 graph) ported to PyTorch (torch-fidelity's
``FeatureExtractorInceptionV3``, through torchmetrics' ``NoTrainInceptionV3`` wrapper, as
torchmetrics' FID does; the same weights as pytorch-fid and clean-fid), 2048-d pool features.
Images enter as uint8 and are resized to 299 x 299 inside the network; the resize changes the
score, so it is a setting (``metrics.fid.resize``) recorded with every result:

- ``tf_bilinear`` (default): TensorFlow-1.x-compatible bilinear, no antialiasing, as the
  original TF FID code and torch-fidelity compute it;
- ``antialias_bilinear``: torch bilinear with antialiasing, torchmetrics' default today.

clean-fid's PIL-bicubic "clean" resize is not implemented. The weights
(``pt_inception-2015-12-05-6726825d.pth`` of pytorch-fid; torch-fidelity saves the same weights
as ``weights-inception-2015-12-05-6726825d.pth``) are read from a local file only. Any module
mapping (B,3,H,W) [0,1] images to (B,D) features can stand in (tests inject one).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.kid import KernelInceptionDistance

from piebench.config_schema import ConfigError
from piebench.metrics.weights import (
    MissingWeightsError,
    find_weights,
    read_weights,
    torch_hub_checkpoint,
)

logger = logging.getLogger(__name__)

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
)
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's cache name
CONFIG_KEY = "metrics.fid.inception_weights"
NETWORK = "FID Inception-v3 (TF 2015-12-05 graph, torch-fidelity port), 2048-d pool features"
RESIZE_MODES = {
    "tf_bilinear": "uint8 -> 299x299 TF1.x bilinear, no antialias (TF FID, torch-fidelity)",
    "antialias_bilinear": "uint8 -> 299x299 torch bilinear with antialias (torchmetrics default)",
}
FID_CLASSES = 1008  # the TF graph's classifier; torchvision's ImageNet Inception has 1000


class InceptionFeatures(nn.Module):
    """(B,3,H,W) [0,1] images -> (B,2048) pool features of the standard FID Inception.

    Images are rounded to uint8 first (the network's input type; torchmetrics' ``normalize=True``
    truncates instead, which can turn an image read as uint8 / 255 into other bytes).
    """

    def __init__(self, network: NoTrainInceptionV3, resize: str) -> None:
        super().__init__()
        self.network = network
        self.resize = resize

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network((images.clamp(0, 1) * 255).round().to(torch.uint8))


def fid_weights_found(weights: str | Path | None = None) -> bool:
    """Whether ``build_inception`` would find a weights file (configured or in the torch.hub
    cache), without reading it: ``metrics.fid.enabled=auto`` scores FID/KID only then."""
    if weights:
        return Path(weights).expanduser().is_file()
    return any(torch_hub_checkpoint(n).is_file() for n in (INCEPTION_FILE, TORCH_FIDELITY_FILE))


def check_resize(resize: str) -> None:
    """``metrics.fid.resize`` must be one of ``RESIZE_MODES`` (``ConfigError`` naming them)."""
    if resize not in RESIZE_MODES:
        raise ConfigError(
            f"config key metrics.fid.resize={resize!r}: valid values {', '.join(RESIZE_MODES)}"
        )


def build_inception(
    weights: str | Path | None = None, resize: str = "tf_bilinear"
) -> InceptionFeatures:
    """The FID Inception from ``metrics.fid.inception_weights`` or the torch.hub cache.

    Raises ``MissingWeightsError`` naming the file and where to get it when it is absent or is
    another network's (e.g. torchvision's ImageNet Inception-v3), ``ConfigError`` for an
    unknown ``metrics.fid.resize``.
    """
    check_resize(resize)
    network_name = "FID Inception-v3 (FID/KID)"
    fetch = f"{INCEPTION_URL} (or torch-fidelity's {TORCH_FIDELITY_FILE}, the same weights)"
    path = find_weights(
        network_name,
        str(weights) if weights else None,
        [torch_hub_checkpoint(name) for name in (INCEPTION_FILE, TORCH_FIDELITY_FILE)],
        fetch,
        CONFIG_KEY,
    )
    # Read as tensors only first: this checks the file is the FID network's state dict before
    # torch-fidelity reads it again (with weights_only=False).
    classifier = read_weights(path, network_name, fetch, CONFIG_KEY).get("fc.weight")
    if classifier is None or tuple(classifier.shape) != (FID_CLASSES, 2048):
        raise MissingWeightsError(
            network_name, fetch, CONFIG_KEY, [f"{path} (not the FID Inception: no 1008-way fc)"]
        )
    network = NoTrainInceptionV3(
        "inception-v3-compat",
        ["2048"],
        feature_extractor_weights_path=str(path),
        antialias=resize == "antialias_bilinear",
    )
    return InceptionFeatures(network, resize).eval().requires_grad_(False)


class _Precomputed(nn.Module):
    """Identity 'feature extractor' so torchmetrics' FID/KID accept stored features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between (N,D) and (M,D) feature sets; NaN with fewer than 2 samples on a side.

    With fewer samples than feature dimensions (a few hundred images, 2048-d features) the
    trace term is computed exactly from the samples: with S_r = A A^T and S_f = B B^T
    (A = centred real features^T / sqrt(N - 1), likewise B), the eigenvalues of S_r S_f are the
    squared singular values of A^T B, so Tr((S_r S_f)^(1/2)) = sum of singular values of the
    (N,M) matrix A^T B: seconds become milliseconds. Otherwise torchmetrics' computation.
    """
    if len(real) < 2 or len(fake) < 2:
        return float("nan")
    if min(len(real), len(fake)) < real.shape[1]:
        a = (real.double() - real.double().mean(0)) / (len(real) - 1) ** 0.5
        b = (fake.double() - fake.double().mean(0)) / (len(fake) - 1) ** 0.5
        mean_term = (real.double().mean(0) - fake.double().mean(0)).square().sum()
        cross = torch.linalg.svdvals(a @ b.T).sum()
        return float(mean_term + a.square().sum() + b.square().sum() - 2 * cross)
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
