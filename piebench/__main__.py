"""``python -m piebench <command> [overrides...]``: dispatch to one command module.

Commands are looked up lazily so ``python -m piebench table`` never imports torch models.
"""

from __future__ import annotations

import difflib
import importlib
import sys

COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("piebench.cli_run", "main", "edit PIE-Bench images with a method (Hydra overrides)"),
    "evaluate": (
        "piebench.scoring.cli",
        "evaluate_main",
        "score run folders with the PIE-Bench metrics",
    ),
    "table": (
        "piebench.scoring.cli",
        "table_main",
        "print tables, a row per run (or run and edit type)",
    ),
    "leaderboard": (
        "piebench.scoring.cli",
        "leaderboard_main",
        "export the leaderboard (CSV; --format markdown|latex)",
    ),
    "style": (
        "piebench.style.cli",
        "main",
        "Diffusion in Style: fit | finetune | generate | evaluate",
    ),
    "bench": ("piebench.bench.cli", "main", "time a run against the reference's passes"),
    "report": (
        "piebench.report.cli",
        "report_main",
        "write an HTML report: tables, plots, gallery",
    ),
}


def usage() -> str:
    lines = ["usage: python -m piebench <command> [key=value ...]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # a command is required: usage on stderr, exit 2 like any usage error
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        print(f"piebench: unknown command '{command}'{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[command]
    sys.argv = [f"piebench {command}", *rest]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
