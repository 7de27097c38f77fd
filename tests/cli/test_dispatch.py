"""``python -m piebench``: a command is required; help lists the commands; typos are named."""

from piebench.__main__ import main


def test_no_command_is_a_usage_error_and_help_is_not(capsys):
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "commands:" in capsys.readouterr().out


def test_a_mistyped_command_suggests_the_closest(capsys):
    assert main(["evaluat"]) == 2
    assert "did you mean 'evaluate'?" in capsys.readouterr().err
