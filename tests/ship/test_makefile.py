"""The Makefile and `.ci/run`: the README's commands exist and say what they should.
INF-3: `make serve`/`conform`/`load` drive the real CLI with options it accepts.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from deploy_commands import ROOT, harness_invocations, parse_harness_command, shell_lines

# The recipe of a target as make would run it, with the install prerequisite already met.
_STAMP_OK = ["-o", ".venv/.installed"]
_MAKE_VARIABLES = {
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VENV", "PYTEST_ARGS", "PYTEST_WORKERS", "DEMO_ARGS",
}  # fmt: skip


def _dry_run(*args: str) -> str:
    # Run as a user would: not inheriting the variables of a `make test` this suite may run under.
    env = {k: v for k, v in os.environ.items() if k not in _MAKE_VARIABLES}
    done = subprocess.run(
        ["make", "-n", "-s", "--no-print-directory", "-C", str(ROOT), *_STAMP_OK, *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_test_target_runs_pytest_with_the_callers_arguments() -> None:
    """`make test PYTEST_ARGS=...` passes them to pytest unchanged, after the xdist options."""
    assert re.search(
        r"-m pytest -n 4 --dist loadfile -x -k 'a or b'$",
        _dry_run("test", "PYTEST_ARGS=-x -k 'a or b'"),
        re.M,
    )


def test_test_target_runs_in_one_process_when_asked() -> None:
    """`make test PYTEST_WORKERS=0` drops xdist (for debugging with -s or pdb)."""
    recipe = _dry_run("test", "PYTEST_WORKERS=0", "PYTEST_ARGS=-x")
    assert re.search(r"-m pytest +-x$", recipe, re.M)


def test_demo_target_runs_the_demo_script() -> None:
    """`make demo` is the script and its DEMO_ARGS, nothing else."""
    assert shell_lines(_dry_run("demo", "DEMO_ARGS=--users 10")) == [
        ".venv/bin/python scripts/demo.py --users 10"
    ]


@pytest.mark.parametrize("target", ["serve", "conform", "load"])
def test_shortcut_targets_are_commands_the_cli_accepts(target: str) -> None:
    """INF-3: the shortcuts name real options (with and without URL=)."""
    for extra in ([], ["URL=http://127.0.0.1:9000"]):
        (argv,) = harness_invocations(_dry_run(target, *extra))
        args = parse_harness_command(argv)
        assert args.command == target
        if extra and target != "serve":
            assert "http://127.0.0.1:9000" in (
                args.url if isinstance(args.url, list) else [args.url]
            )


def test_ci_entry_installs_lints_then_tests() -> None:
    """`.ci/run` is valid bash and runs the README's three commands in order."""
    script = (ROOT / ".ci" / "run").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0
    lines = shell_lines(script)
    order = [
        next(
            i
            for i, line in enumerate(lines)
            if line.startswith(f"make {step}") or f" make {step}" in line
        )
        for step in ("install", "lint", "test")
    ]
    assert order == sorted(order)
    assert "apt-get install" in script and "chromium" in script
