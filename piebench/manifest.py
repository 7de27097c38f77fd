"""The run manifest: everything needed to know how a run's numbers were made."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("piebench", "torch", "diffusers", "transformers", "numpy", "pillow", "hydra-core")
# Config parts that change the output images; resuming into a run dir made with others is refused.
IDENTITY_KEYS = ("method", "model", "seed", "task")
IDENTITY_DATA_KEYS = ("resolution",)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_hash() -> str | None:
    """The harness checkout's commit (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            check=False,
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def config_hash(config: dict[str, Any]) -> str:
    """Hash of the config parts that determine the images (method, model, seed, task, resolution)."""
    identity = {k: config.get(k) for k in IDENTITY_KEYS}
    identity["data"] = {k: config.get("data", {}).get(k) for k in IDENTITY_DATA_KEYS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def build_manifest(
    config: dict[str, Any], device: torch.device, dtype: torch.dtype, data_root: Path
) -> dict[str, Any]:
    return {
        "method": config["method"]["name"],
        "run_name": config["run_name"],
        "config": config,
        "config_hash": config_hash(config),
        "versions": package_versions(),
        "git_hash": git_hash(),
        "device": device_name(device),
        "dtype": str(dtype).replace("torch.", ""),
        "seed": config["seed"],
        "data": {
            "root": str(data_root),
            "resolution": config["data"]["resolution"],
            "mask_border": config["data"]["mask_border"],
            "image_prep": "convert RGB, centre square crop, PIL bicubic resize",
        },
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
