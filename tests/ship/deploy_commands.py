"""Helpers of the shipping tests: read the repo's deploy files and check the commands in them.

A command line found in a Dockerfile, compose file, workflow or Makefile is checked by handing it
to the real `crm-harness` argument parser, so a renamed option breaks a test here, not a user's CI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser

__all__ = [
    "ROOT",
    "console_script",
    "harness_invocations",
    "interpolate",
    "load_yaml",
    "parse_harness_command",
    "require_subcommands",
    "shell_lines",
]

ROOT = Path(__file__).resolve().parents[2]
_CONSOLE_SCRIPT_TAIL = re.compile(r"(?:^|/)crm-harness$")
# `${{ expr }}` (GitHub Actions) and `$VAR` / `${VAR}` / `${VAR:-default}` (shell, compose).
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")
_SHELL_SEPARATORS = {"|", "||", "&", "&&", ";", ">", ">>", "2>&1", "<"}


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def console_script() -> str:
    """The name of the console script pyproject.toml installs for `harness.cli:main`."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    names = [name for name, target in scripts.items() if target == "harness.cli:main"]
    assert len(names) == 1, f"pyproject.toml [project.scripts]: {scripts}"
    return names[0]


def shell_lines(script: str) -> list[str]:
    """Logical lines of a shell script: backslash continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def interpolate(text: str, samples: Mapping[str, str]) -> str:
    def sample(match: re.Match[str]) -> str:
        name, default = match.group(1) or match.group(3), match.group(2)
        if not name:
            return "sample-expression"
        return samples.get(name, default if default is not None else f"sample-{name.lower()}")

    return _EXPRESSION.sub(sample, text)


def harness_invocations(script: str, samples: Mapping[str, str] | None = None) -> list[list[str]]:
    """Every `crm-harness ...` command in a shell script, as argv without the program name.

    Variables are replaced by `samples[name]` (or a placeholder word) and the command ends at the
    first shell separator or redirection.
    """
    found = []
    for line in shell_lines(script):
        words = shlex.split(interpolate(line, samples or {}), comments=True)
        for start, word in enumerate(words):
            if _CONSOLE_SCRIPT_TAIL.search(word):
                argv = []
                for arg in words[start + 1 :]:
                    if arg in _SHELL_SEPARATORS or arg.startswith((">", "2>")):
                        break
                    argv.append(arg)
                found.append(argv)
                break
    return found


def parse_harness_command(argv: Sequence[str]) -> argparse.Namespace:
    """Parse argv with the real CLI; a bad command fails the test with argparse's message."""
    if argv and not argv[0].startswith("-"):
        require_subcommands(argv[0])
    parser = build_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return parser.parse_args(list(argv))
    except SystemExit:
        pytest.fail(f"crm-harness {shlex.join(argv)}\n  is refused: {stderr.getvalue().strip()}")


def require_subcommands(*names: str) -> None:
    """Fail clearly when a command the deploy files use is not in the CLI."""
    have: set[str] = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            have = set(action.choices)
    missing = sorted(set(names) - have)
    if missing:
        pytest.fail(f"`crm-harness {' / '.join(missing)}` is not a subcommand of the CLI")
