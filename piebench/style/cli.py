"""``python -m piebench style fit|finetune|generate|evaluate [key=value ...]``.

Each subcommand composes ``conf/style.yaml`` with the overrides (Hydra's compose API, like
``evaluate``) and runs one step; named user errors print one line and exit 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from hydra.errors import HydraException
from omegaconf import DictConfig

from piebench.cli_errors import user_message
from piebench.conf_help import config_help
from piebench.config_schema import ConfigError
from piebench.metrics.weights import MissingWeightsError
from piebench.models.loading import ModelLoadError
from piebench.registry import Registry, UnknownNameError

logger = logging.getLogger(__name__)

USER_ERRORS = (
    ConfigError,
    MissingWeightsError,
    ModelLoadError,
    FileNotFoundError,
    HydraException,  # a mistyped key or group option
)


def _fit(cfg: DictConfig) -> object:
    from piebench.style.fit import run_fit

    return run_fit(cfg)


def _finetune(cfg: DictConfig) -> object:
    from piebench.style.finetune import run_finetune

    out = run_finetune(cfg)
    return out if out.is_dir() else "style.steps=0: training-free, nothing to fine-tune"


def _generate(cfg: DictConfig) -> object:
    from piebench.style.generate import run_generate

    return run_generate(cfg)


def _evaluate(cfg: DictConfig) -> object:
    from piebench.style.evaluate import run_evaluate

    return run_evaluate(cfg)


STEPS: Registry[tuple[Callable[[DictConfig], object], str]] = Registry("style step")
STEPS.register("fit")((_fit, "style noise (mu, sigma) from style.images -> <run>/noise.pt"))
STEPS.register("finetune")((_finetune, "fine-tune a UNet copy with the style noise (style.steps)"))
STEPS.register("generate")((_generate, "images over style.guidance for style.models"))
STEPS.register("evaluate")((_evaluate, "FID/KID vs style images, CLIP vs prompts, table + curve"))


HELP_FLAGS = ("-h", "--help")


def usage() -> str:
    lines = ["usage: python -m piebench style <step> [key=value ...]", "", "steps:"]
    return "\n".join(lines + [f"  {name:<9} {STEPS.get(name)[1]}" for name in STEPS])


def step_help(step: str) -> str:
    """``style <step> --help``: what the step does and every config key (``conf/style.yaml``);
    the flag never reaches Hydra, whose override parser cannot read it."""
    usage_line = f"usage: python -m piebench style {step} [key=value ...]"
    return f"{usage_line}\n\n{STEPS.get(step)[1]}\n\n{config_help('style')}"


def main(argv: list[str]) -> int:
    """Run one step; exit status 0 done, 1 a named user error, 2 an unknown step."""
    if not argv or argv[0] in (*HELP_FLAGS, "help"):
        print(f"{usage()}\n\n{config_help('style')}")
        return 0
    step, overrides = argv[0], argv[1:]
    try:
        run_step = STEPS.get(step)[0]
    except UnknownNameError as err:
        print(f"piebench style: {err}\n\n{usage()}", file=sys.stderr)
        return 2
    if set(HELP_FLAGS) & set(overrides):
        print(step_help(step))
        return 0
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from piebench.style.config import load_config

    try:
        result = run_step(load_config(overrides))
    except USER_ERRORS as err:
        print(f"piebench style {step}: {user_message(err)}", file=sys.stderr)
        return 1
    print(f"piebench style {step}: {result}")
    return 0
