"""``--help`` of the compose-API commands lists every config key they take and exits 0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from piebench.__main__ import main
from piebench.conf_compose import compose_conf, dotted_keys

COMMANDS = {  # argv -> the primary config it composes
    ("evaluate", "--help"): "evaluate",
    ("table", "--help"): "evaluate",
    ("leaderboard", "-h"): "evaluate",
    ("report", "--help"): "report",
    ("style", "--help"): "style",
    ("style", "fit", "--help"): "style",
    ("style", "evaluate", "key=1", "-h"): "style",
}


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What ``argv`` prints, asserting exit 0 (argparse's --help exits through SystemExit)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err and not captured.err.strip()
    return captured.out


@pytest.mark.parametrize("argv", list(COMMANDS), ids=" ".join)
def test_help_lists_every_config_key(argv, capsys):
    text = help_text(list(argv), capsys)
    assert text.startswith("usage: python -m piebench ")
    for key in dotted_keys(compose_conf(COMMANDS[argv], [])):
        assert f"{key.rsplit('.', 1)[-1]}:" in text, key
    assert "metrics.* keys from metrics=parity (the default; choices: clean, parity," in text


def test_scoring_help_names_the_table_keys_and_the_groups(capsys):
    text = help_text(["table", "--help"], capsys)
    assert "--format {markdown,csv,latex,reference}" in text
    for key in ("runs:", "by:", "compare:", "out:", "rescore:", "inception_weights:"):
        assert key in text
    assert "data.* keys from data=sample (the default; choices: pie_bench, sample)" in text


def test_leaderboard_help_names_its_own_default_format(capsys):
    assert "output format (default: csv)" in help_text(["leaderboard", "--help"], capsys)
    assert "output format (default: markdown)" in help_text(["table", "--help"], capsys)


def test_style_step_help_says_what_the_step_does(capsys):
    text = help_text(["style", "fit", "--help"], capsys)
    assert text.startswith("usage: python -m piebench style fit [key=value ...]\n")
    assert "style noise (mu, sigma)" in text and "model=sd14 (the default; choices:" in text
    assert "guidance:" in text and "learning_rate:" in text


def test_style_step_help_in_a_subprocess_is_no_hydra_traceback():
    """As a user types it: Hydra's override lexer never sees ``--help``."""
    result = subprocess.run(
        [sys.executable, "-m", "piebench", "style", "fit", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "LexerNoViableAltException" not in result.stderr and "style.images" in result.stdout


@pytest.mark.parametrize("command", ["run", "bench"])
def test_hydra_command_help_names_the_command(command):
    """The Hydra apps' ``--help`` starts with the command a user typed, not a module name."""
    result = subprocess.run(
        [sys.executable, "-m", "piebench", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"piebench {command} is powered by Hydra."), result.stdout[:80]
