import subprocess
import sys

import pytest

from embedding_net.cli import SUBCOMMAND_MODULES, build_parser, main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for module in SUBCOMMAND_MODULES:
        assert module.rsplit(".", 1)[-1] in out


def test_each_subcommand_has_help():
    parser = build_parser()
    sub_actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name, sub in sub_actions[0].choices.items():
        assert sub.format_help().strip(), name


def test_no_command_prints_help_and_exit_code_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "embedding_net", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "embedding-net" in result.stdout


def test_unknown_subcommand_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
