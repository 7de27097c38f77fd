"""Prompts for ``style generate``: a user file (one prompt per line) or the bundled list.

The bundled ``prompts.txt`` was written for this project (64 everyday subjects: animals,
objects, people, places, food; DrawBench's prompts were not redistributed because their licence
could not be confirmed offline).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from piebench.config_schema import ConfigError


def read_prompts(path: str | Path | None) -> list[str]:
    """Non-empty, stripped lines of ``path``; None = the bundled list."""
    if path is None:
        text = resources.files("piebench.style").joinpath("prompts.txt").read_text("utf-8")
    else:
        file = Path(str(path)).expanduser()
        if not file.is_file():
            raise ConfigError(f"config key style.prompts={file}: no such file")
        text = file.read_text(encoding="utf-8")
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise ConfigError(f"config key style.prompts={path}: no prompts in the file")
    return prompts
