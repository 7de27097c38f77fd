"""``--help`` of the commands that compose a ``conf/`` file (evaluate, table, leaderboard,
report, style): the keys they take, read from the config files themselves.

The YAML files already name every key with its default and a comment saying what it does, so
help prints them (the primary file, then the default option of each config group it names)
instead of a second list of keys that would drift from the files.
"""

from __future__ import annotations

from importlib import resources

from omegaconf import OmegaConf

GLOBAL_PACKAGE = "# @package _global_"  # a group file whose keys are written at their full path


def config_help(name: str) -> str:
    """``conf/<name>.yaml`` and, for each group in its defaults list (``data: sample``), the
    default option's file (``conf/data/sample.yaml``) under a heading naming the group's other
    options. Optional and interpolated entries (``optional model_scale: ${model}``) are left out:
    they follow another choice and take no keys of their own."""
    conf = resources.files("piebench.conf")
    text = (conf / f"{name}.yaml").read_text(encoding="utf-8")
    parts = [f"config keys (key=value overrides), conf/{name}.yaml:\n{text.rstrip()}"]
    for group, option in default_groups(text):
        folder = conf / group
        names = (p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
        choices = ", ".join(sorted(name.removesuffix(".yaml") for name in names))
        body = (folder / f"{option}.yaml").read_text(encoding="utf-8").rstrip()
        keys = "" if body.startswith(GLOBAL_PACKAGE) else f"{group}.* keys from "
        parts.append(
            f"{keys}{group}={option} (the default; choices: {choices}), "
            f"conf/{group}/{option}.yaml:\n{body}"
        )
    return "\n\n".join(parts)


def default_groups(text: str) -> list[tuple[str, str]]:
    """``(group, option)`` of the plain group entries of a config's defaults list."""
    defaults = OmegaConf.to_container(OmegaConf.create(text), resolve=False).get("defaults") or []
    return [
        (str(group), str(option))
        for entry in defaults
        if isinstance(entry, dict)
        for group, option in entry.items()
        if " " not in str(group) and "${" not in str(option)
    ]
