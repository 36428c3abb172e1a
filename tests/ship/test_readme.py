"""The README and the docs pages say what the code does: the README stays short (under 15 KB)
and every relative link in it resolves; every subcommand is in the command reference; every
command shown in a code block is one the CLI or the Makefile accepts. INF-3 and TRN-1 by way of
the commands that reach a server.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from deploy_commands import ROOT, harness_invocations, parse_harness_command, require_subcommands

from harness.cli import _COMMANDS

README = ROOT / "README.md"
DOCS = ROOT / "docs"
# Issue 15: a newcomer finishes the README; the rest lives on the docs site.
README_MAX_BYTES = 15_000
SAMPLES = {"JWT_SECRET": "secret"}
# Markdown links and images: [text](target) / ![alt](target), target up to a space or `)`.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _pages() -> list[Path]:
    """The README and every docs page: where a reader copies commands from."""
    return [README, *sorted(DOCS.glob("**/*.md"))]


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```(?:sh|bash)\n(.*?)^```", text, flags=re.M | re.S)


def test_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, (
        f"README.md is {size} bytes (limit {README_MAX_BYTES}): move detail to a docs/ page"
    )


def test_readme_relative_links_resolve() -> None:
    """Every relative link of the README names a file or folder of the repository."""
    targets = [t for t in _LINK.findall(README.read_text()) if "://" not in t]
    assert targets, "no relative link in the README"
    broken = [
        t
        for t in targets
        if not t.startswith(("#", "mailto:")) and not (ROOT / t.split("#", 1)[0]).exists()
    ]
    assert broken == []


def test_command_reference_lists_every_subcommand() -> None:
    """Every `crm-harness` subcommand has a row in the command reference (docs/reference.md)."""
    require_subcommands(*_COMMANDS)
    reference = (DOCS / "reference.md").read_text()
    rows = re.findall(r"^\| `crm-harness (\w+)", reference, flags=re.M)
    assert sorted(set(rows)) == sorted(_COMMANDS)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_shown_in_code_blocks_are_accepted(page: Path) -> None:
    """TRN-1, INF-3: the shown commands that reach a server use options the CLI has."""
    for block in _code_blocks(page.read_text()):
        for argv in harness_invocations(block, SAMPLES):
            parse_harness_command(argv)


def test_command_reference_lists_every_make_target() -> None:
    """Every target of the Makefile has a row in the command reference (docs/reference.md)."""
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    reference = (DOCS / "reference.md").read_text()
    rows = "\n".join(line for line in reference.splitlines() if line.startswith("| `make "))
    missing = sorted(t for t in targets if f"`make {t}`" not in rows)
    assert missing == [], f"add a row for these targets to docs/reference.md: {missing}"


def test_make_targets_named_in_the_docs_exist() -> None:
    """Every `make X` the README or a docs page names is a target of the Makefile."""
    targets: set[str] = set()
    for page in _pages():
        text = page.read_text()
        targets |= set(re.findall(r"`make ([a-z][\w-]*)", text))
        for block in _code_blocks(text):
            targets |= set(re.findall(r"^make ([a-z][\w-]*)", block, flags=re.M))
    assert {"demo", "test", "lint", "docs"} <= targets
    for target in sorted(targets):
        done = subprocess.run(
            ["make", "-n", "-C", str(ROOT), "-o", ".venv/.installed", target],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"make {target}: {done.stderr}"
