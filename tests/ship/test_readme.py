"""The README's top and its Testing / CI / Running at scale sections say what the code does:
every subcommand is in the command reference, every shown command is one the CLI or the
Makefile accepts. INF-3 and TRN-1 by way of the commands that reach a server.
"""

from __future__ import annotations

import re
import subprocess

from deploy_commands import ROOT, harness_invocations, parse_harness_command, require_subcommands

from harness.cli import _COMMANDS

README = (ROOT / "README.md").read_text()
SAMPLES = {"JWT_SECRET": "secret"}


def _top_and_ship_sections() -> str:
    top = README[: README.index("<!-- section:")]
    ship = README[README.index("<!-- section: ship -->") :]
    return top + ship[: ship.index("<!-- section:", 1)]


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```(?:sh|bash)\n(.*?)^```", text, flags=re.M | re.S)


def test_command_reference_lists_every_subcommand() -> None:
    """Every `crm-harness` subcommand has a row in the README's command reference."""
    require_subcommands(*_COMMANDS)
    reference = README[README.index("## Command reference") :]
    rows = re.findall(r"^\| `crm-harness (\w+)", reference, flags=re.M)
    assert sorted(set(rows)) == sorted(_COMMANDS)


def test_commands_shown_in_code_blocks_are_accepted() -> None:
    """TRN-1, INF-3: the shown commands that reach a server use options the CLI has."""
    shown = [
        argv
        for block in _code_blocks(_top_and_ship_sections())
        for argv in harness_invocations(block, SAMPLES)
    ]
    assert shown, "no crm-harness command in the README's code blocks"
    for argv in shown:
        parse_harness_command(argv)


def test_make_targets_named_in_the_readme_exist() -> None:
    """Every `make X` the README names is a target of the Makefile."""
    text = _top_and_ship_sections()
    targets = set(re.findall(r"`make ([a-z][\w-]*)", text))
    for block in _code_blocks(text):
        targets |= set(re.findall(r"^make ([a-z][\w-]*)", block, flags=re.M))
    assert {"demo", "test", "lint"} <= targets
    for target in sorted(targets):
        done = subprocess.run(
            ["make", "-n", "-C", str(ROOT), "-o", ".venv/.installed", target],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"make {target}: {done.stderr}"
