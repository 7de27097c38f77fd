"""Compose a ``conf/`` config for the commands that use Hydra's compose API (evaluate, table,
leaderboard, report, style), turning a mistyped key into one line with a suggestion.

Hydra answers ``rescor=true`` with "Could not override 'rescor'. To append to your config use
+rescor=true", which steers a user with a typo towards adding a key nothing reads. Here the
error names the unknown key and the closest existing ones instead (nothing reads a key added
with ``+``, so that advice is left out).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import DictConfig

from piebench.cli_errors import user_message
from piebench.config_schema import ConfigError
from piebench.resources import config_dir

_NOT_OVERRIDABLE = re.compile(r"Could not override '([^']+)'")


def compose_conf(name: str, overrides: Sequence[str]) -> DictConfig:
    """``conf/<name>.yaml`` with ``key=value`` overrides; an unknown key raises ``ConfigError``."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        try:
            return compose(name, overrides=list(overrides))
        except ConfigCompositionException as err:
            match = _NOT_OVERRIDABLE.match(str(err))
            if not match:
                raise
            key = match.group(1)
            others = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
            try:
                known = list(dotted_keys(compose(name, overrides=others)))
            except ConfigCompositionException:
                known = list(dotted_keys(compose(name)))
            raise ConfigError(unknown_key_message(key, known)) from None


def composition_error(name: str, argv: Sequence[str]) -> str | None:
    """Why ``conf/<name>.yaml`` cannot be composed with a single run's command line, as one
    message, or None. The ``@hydra.main`` commands (run, bench) ask first, so a typo there reads
    as in the other commands instead of ending in Hydra's search path; command lines with flags
    (``-m`` sweeps, ``--cfg``) are left to Hydra."""
    if any(arg.startswith("-") for arg in argv):
        return None
    try:
        compose_conf(name, argv)
    except (ConfigError, HydraException) as err:
        return user_message(err)
    return None


def dotted_keys(cfg: DictConfig, prefix: str = "") -> Iterator[str]:
    """Every key of ``cfg`` as a dotted path (``metrics.dino.resize``), sections included."""
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, DictConfig):
            yield from dotted_keys(value, f"{path}.")


def unknown_key_message(key: str, known: Sequence[str]) -> str:
    """The one-line error for a key the config does not have, with up to two close keys."""
    close = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown config key '{key}'{hint}"
