"""The metric networks of one evaluation, each loaded on first use and then kept.

Built from the ``metrics`` config group (``conf/metrics/parity.yaml``): ``clip.path``,
``dino.weights`` / ``dino.arch``, ``lpips.backbone_weights``, ``fid.inception_weights`` and
``device``. One ``MetricNetworks`` is shared by every run scored in a command, so each network
loads once. The networks carry no library-era behaviour (SSIM border, DINO resize antialias):
that is the metric profile's (``profiles.py``), passed at compute time, so one set of networks
serves every profile. Tests inject tiny random networks through the same keys (or by assigning
the attribute directly).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import lpips
import torch

from piebench.device import resolve_device
from piebench.metrics.clip_score import DEFAULT_CLIP, ClipScorer
from piebench.metrics.fid import NETWORK as FID_NETWORK
from piebench.metrics.fid import RESIZE_MODES, InceptionFeatures, build_inception
from piebench.metrics.lpips_metric import build_lpips
from piebench.metrics.structure import DinoArch, KeySelfSimilarity, build_dino
from piebench.metrics.weights import MissingWeightsError, SeveralMissingWeightsError

logger = logging.getLogger(__name__)

CLIP_PREPROCESS = "PIL short-side resize + centre crop (transformers 4.x CLIPImageProcessor)"


class MetricNetworks:
    """Lazy, load-once holder of the LPIPS, CLIP, DINO and Inception networks."""

    def __init__(self, cfg: Mapping[str, Any] | None = None) -> None:
        self.cfg: Mapping[str, Any] = cfg or {}
        self.device = resolve_device(str(self.cfg.get("device", "auto")), "metrics.device")

    def _section(self, name: str) -> Mapping[str, Any]:
        return self.cfg.get(name) or {}

    @functools.cached_property
    def lpips(self) -> lpips.LPIPS:
        return build_lpips(self._section("lpips").get("backbone_weights")).to(self.device)

    @functools.cached_property
    def clip(self) -> ClipScorer:
        return ClipScorer.load(self._section("clip").get("path") or DEFAULT_CLIP, self.device)

    @functools.cached_property
    def dino(self) -> KeySelfSimilarity:
        section = self._section("dino")
        arch = DinoArch(**dict(section.get("arch") or {}))
        return KeySelfSimilarity(
            self._dino_backbone(section.get("weights"), arch).to(self.device),
            resize=int(section.get("resize", 224)),
            max_size=int(section.get("max_size", 480)),
        )

    def _dino_backbone(self, weights: str | None, arch: DinoArch) -> torch.nn.Module:
        return build_dino(weights, arch)

    @functools.cached_property
    def inception(self) -> InceptionFeatures:
        section = self._section("fid")
        return build_inception(section.get("inception_weights"), self.fid_resize).to(self.device)

    @property
    def fid_resize(self) -> str:
        """``metrics.fid.resize``: how images reach the FID Inception's 299 x 299 input."""
        return str(self._section("fid").get("resize") or "tf_bilinear")

    def require(self, names: Iterable[str]) -> None:
        """Load the named networks (``lpips``, ``clip``, ``dino``, ``inception``) now, before
        any scoring: every missing one is named in one ``MissingWeightsError``."""
        missing = []
        for name in sorted(set(names)):
            try:
                getattr(self, name)
            except MissingWeightsError as err:
                missing.append(err)
        if len(missing) > 1:
            raise SeveralMissingWeightsError(missing)
        if missing:
            raise missing[0]

    @property
    def fid_resize_text(self) -> str:
        """``metrics.fid.resize`` with what it means, for tables and metadata."""
        return f"{self.fid_resize}: {RESIZE_MODES.get(self.fid_resize, '?')}"

    def loaded(self, name: str) -> bool:
        """Whether the network ``name`` (``lpips``, ``clip``, ``dino``, ``inception``) is loaded."""
        return name in vars(self)

    def sources(self) -> dict[str, dict[str, str]]:
        """Per network, the metadata entries saying where its weights come from."""
        return {
            "clip": {
                "clip": str(self._section("clip").get("path") or DEFAULT_CLIP),
                "clip_image_preprocess": CLIP_PREPROCESS,
            },
            "dino": {"dino": _or_cache(self._section("dino").get("weights"))},
            "lpips": {"lpips_backbone": _or_cache(self._section("lpips").get("backbone_weights"))},
            "inception": {
                "inception": _or_cache(self._section("fid").get("inception_weights")),
                "fid_network": FID_NETWORK,
                "fid_resize": self.fid_resize_text,
            },
        }

    def describe(self) -> dict[str, str]:
        """Where each network this evaluation used comes from, for the scores' metadata; the
        networks it never loaded are left out."""
        described = {
            key: value
            for name, entries in self.sources().items()
            if self.loaded(name)
            for key, value in entries.items()
        }
        return {**described, "device": str(self.device)}


def _or_cache(value: object) -> str:
    return str(value) if value else "(found in the local torch.hub / Hugging Face cache)"
