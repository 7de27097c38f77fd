"""Files shipped inside the package: the Hydra configs (``conf/`` of the source tree) and the
published tables (``results/paper/``). Found through the import system, so an editable checkout
and an installed wheel behave the same from any working directory."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def config_dir() -> str:
    """The folder holding ``config.yaml`` and the config groups."""
    return str(resources.files("piebench.conf"))


def paper_table(name: str = "table1.csv") -> Path:
    """A published table shipped with the package (``results/paper/<name>`` in the source tree)."""
    return Path(str(resources.files("piebench.paper"))) / name
