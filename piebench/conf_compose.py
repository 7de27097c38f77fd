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
from collections.abc import Callable, Iterator, Sequence

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import DictConfig

from piebench.cli_errors import user_message
from piebench.config_schema import ConfigError
from piebench.resources import config_dir

_NOT_OVERRIDABLE = re.compile(r"Could not override '([^']+)'")
MULTIRUN_FLAGS = {"-m", "--multirun"}


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


def composition_error(
    name: str, argv: Sequence[str], check: Callable[[DictConfig], None] | None = None
) -> str | None:
    """Why ``conf/<name>.yaml`` cannot be composed with a command line (or, composed, fails
    ``check``: a value of the wrong type or range), as one message, or None. The
    ``@hydra.main`` commands (run, bench) ask first, so a typo there reads as in the other
    commands instead of ending in Hydra's search path; a ``-m`` sweep has each swept value tried
    once (``sweep_jobs``) before any job starts, so a bad value in its last job does not stop
    the sweep after the first jobs' work; other flags (``--cfg``) are left to Hydra."""
    flags = [arg for arg in argv if arg.startswith("-")]
    if flags and set(flags) - MULTIRUN_FLAGS:
        return None
    overrides = [arg for arg in argv if not arg.startswith("-")]
    jobs = sweep_jobs(overrides) if flags else [overrides]
    for job in jobs or []:
        try:
            cfg = compose_conf(name, job)
            if check is not None:
                check(cfg)
        except (ConfigError, HydraException) as err:
            where = f"the sweep's job `{' '.join(job)}`: " if flags and len(jobs) > 1 else ""
            return where + user_message(err)
    return None


def sweep_jobs(overrides: Sequence[str]) -> list[list[str]] | None:
    """Enough jobs of a ``-m`` sweep to try every swept value once: each value of each swept key
    with the first value of the others (None when a sweep cannot be listed, e.g. an interval
    for an optimiser sweeper: then Hydra checks it)."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        values = [
            list(o.sweep_string_iterator())
            if o.is_sweep_override()
            else [o.get_value_element_as_str()]
            for o in parsed
        ]
    except (HydraException, ValueError, TypeError):
        return None
    keys = [o.get_key_element() for o in parsed]
    first = [options[0] if options else "" for options in values]
    jobs = [[f"{k}={v}" for k, v in zip(keys, first)]]
    for i, options in enumerate(values):
        for value in options[1:]:
            job = [*first[:i], value, *first[i + 1 :]]
            jobs.append([f"{k}={v}" for k, v in zip(keys, job)])
    return jobs


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
