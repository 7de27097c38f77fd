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
# Config parts that change the output bytes; resuming into a run dir made with others is refused.
# The selection (data.types / ids / limit) is not among them on purpose: a run may be extended
# to more samples of the same benchmark, and each sample's bytes do not depend on it.
IDENTITY_KEYS = ("method", "model", "seed", "task", "image_format", "jpeg_quality")
IDENTITY_DATA_KEYS = ("resolution", "mask_border")


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


def dataset_fingerprint(data_root: Path) -> str:
    """sha256 of the benchmark's mapping file content: the same ids in another benchmark (the
    bundled sample reuses PIE-Bench ids) or an edited mapping give another fingerprint."""
    digest = hashlib.sha256((Path(data_root) / "mapping_file.json").read_bytes())
    return digest.hexdigest()[:16]


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def run_identity(config: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """Every setting that changes a run's output bytes, as ``{dotted key: value}``."""
    identity = {k: config.get(k) for k in IDENTITY_KEYS}
    identity["data"] = {k: config.get("data", {}).get(k) for k in IDENTITY_DATA_KEYS}
    identity["data"]["fingerprint"] = fingerprint
    return _flatten(identity, "")


def identity_hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def identity_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every identity key whose value differs."""
    return [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def device_numerics(device: torch.device) -> str:
    """The library settings that decide the float arithmetic on ``device``, which move the last
    bits of every image and so belong next to any figure: the thread count on a CPU (kernels
    split reductions by it); on CUDA whether float32 matrix products and cuDNN convolutions run
    in TF32 (torch's defaults: products no, convolutions yes; a float32 run on a GPU is partly
    TF32 unless changed) and whether fp16/bf16 products may reduce in their own precision."""
    if device.type != "cuda":
        return f"cpu threads={torch.get_num_threads()}"
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    return (
        f"tf32 matmul={'on' if matmul.allow_tf32 else 'off'} "
        f"conv={'on' if cudnn.allow_tf32 else 'off'}; reduced-precision reductions "
        f"fp16={'on' if matmul.allow_fp16_reduced_precision_reduction else 'off'} "
        f"bf16={'on' if matmul.allow_bf16_reduced_precision_reduction else 'off'}"
    )


def method_label(config: dict[str, Any]) -> str:
    """The method as tables name it: a variant's ``label`` (ddim+p2p_zero), else its name, with
    ``_reconstruct`` for ``task=reconstruct`` (a reconstruction is no edit: it matches no
    published editing row)."""
    label = str(config["method"].get("label") or config["method"]["name"])
    return f"{label}_reconstruct" if config.get("task") == "reconstruct" else label


def build_manifest(
    config: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    data_root: Path,
    identity: dict[str, Any],
) -> dict[str, Any]:
    return {
        "method": method_label(config),
        "run_name": config["run_name"],
        "config": config,
        "identity": identity,
        "config_hash": identity_hash(identity),
        "versions": package_versions(),
        "git_hash": git_hash(),
        "device": device_name(device),
        "numerics": device_numerics(device),
        "dtype": str(dtype).replace("torch.", ""),
        "seed": config["seed"],
        "data": {
            "root": str(data_root),
            "fingerprint": identity["data.fingerprint"],
            "selection": {k: config["data"].get(k) for k in ("types", "ids", "limit")},
            "resolution": config["data"]["resolution"],
            "mask_border": config["data"]["mask_border"],
            "image_prep": "convert RGB, centre square crop, PIL bicubic resize",
        },
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


INVOCATION_KEYS = ("started", "finished", "device", "numerics", "dtype", "versions", "git_hash")


def previous_invocations(path: Path) -> list[dict[str, Any]]:
    """The invocations the manifest at ``path`` records (none when absent). A run resumed
    several times, maybe on other machines or library versions, keeps each one's facts; an
    interrupted invocation (no ``finished``) and a manifest from before this history count as
    one each."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    history = list(old.get("invocations") or [])
    if "invocations" not in old or "finished" not in old:  # its own (or an interrupted) one
        history.append({k: old[k] for k in (*INVOCATION_KEYS, "summary") if k in old})
    return history


def invocation(manifest: dict[str, Any], summary: dict[str, int]) -> dict[str, Any]:
    """This invocation's entry of the history: its time, machine, software and what it did."""
    return {**{k: manifest[k] for k in INVOCATION_KEYS if k in manifest}, "summary": summary}
