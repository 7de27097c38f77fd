"""The report's header facts: per run (method, model, sample counts, the versions it was made
with) and the environment the report and its scores come from."""

from __future__ import annotations

from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import piebench
from piebench.report.gather import ReportInputs

# Libraries whose versions change images or scores (the report's own environment).
LIBRARIES: tuple[str, ...] = (
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "torchmetrics",
    "open_clip_torch",
    "lpips",
    "timm",
    "numpy",
    "pillow",
    "pandas",
    "matplotlib",
)
STATUS_ORDER: tuple[str, ...] = ("ok", "failed", "error", "missing")
ERAS = {
    "parity": "the published tables' evaluation (2023 libraries)",
    "parity_current": "the reference evaluator under current libraries",
    "clean": "the clean variant (masked means)",
}


def run_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    """One row per run: names, model, where it lives, how its samples ended, its provenance."""
    rows = []
    for run in inputs.runs:
        manifest, counts = run.folder.manifest, run.scores["status"].value_counts()
        statuses = {status: int(counts.get(status, 0)) for status in STATUS_ORDER[:3]}
        statuses["missing"] = len(set(inputs.ids) - set(run.scores.index))
        versions = manifest.get("versions") or {}
        rows.append(
            {
                "run": run.key,
                "method": run.folder.method,
                "model": run.meta.get("model", "unknown"),
                "path": str(run.folder.path),
                **statuses,
                "made with": ", ".join(f"{k} {v}" for k, v in versions.items()) or "unknown",
                "git": str(manifest.get("git_hash") or "")[:10] or "unknown",
                "device": manifest.get("device", "unknown"),
                "scored by harness": run.meta.get("harness_version", "unknown"),
            }
        )
    return rows


def environment() -> dict[str, str]:
    """The report's harness version, date and library versions (installed ones only)."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "harness": piebench.__version__,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "libraries": ", ".join(f"{k} {v}" for k, v in found.items()),
    }


def header_facts(inputs: ReportInputs) -> list[tuple[str, str]]:
    """The page header: runs, models, metric profile and era, benchmark, versions, date."""
    env, profile = environment(), inputs.profile
    models = sorted({str(run.meta.get("model", "unknown")) for run in inputs.runs})
    return [
        ("runs", ", ".join(run.key for run in inputs.runs)),
        ("models", ", ".join(models)),
        ("metric profile", f"{profile.header()}: {ERAS.get(profile.name, 'a custom profile')}"),
        ("benchmark", f"{inputs.data_root} ({len(inputs.ids)} samples shown)"),
        ("harness", f"piebench {env['harness']}"),
        ("libraries", env["libraries"]),
        ("generated", env["generated"]),
    ]
