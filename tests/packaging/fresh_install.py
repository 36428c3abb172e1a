"""The project's wheel installed WITHOUT extras into a fresh venv (fixture `harness_only_install`,
tests/conftest.py).

What a team gets from `pip install crm-realtime-harness` to check its own server: the
harness, none of the bundled server's dependencies. Built once per session (about a minute:
the wheel, then pip resolving and unpacking the core dependencies, `--no-compile` because
byte-compiling them would double that); tests run its `crm-harness` against servers started
from the project's own env.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HarnessOnlyInstall", "copy_sources", "install_harness_only"]

ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from: the packages and the files pyproject.toml names.
_WHEEL_SOURCES = ("pyproject.toml", "README.md", "harness", "reference_server", "scenarios")
_BUILD_TIMEOUT_S = 300.0
_INSTALL_TIMEOUT_S = 900.0  # pip on a busy machine, downloading what the index has


@dataclass(frozen=True, slots=True)
class HarnessOnlyInstall:
    venv: Path
    wheel: Path
    seconds: dict[str, float]  # build, venv, install: measured while making it

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def crm_harness(self) -> Path:
        return self.venv / "bin" / "crm-harness"

    def run(
        self, *args: str, timeout: float = 120.0, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`crm-harness ARGS` from this install (its own interpreter, its own packages)."""
        return subprocess.run(
            [str(self.crm_harness), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or self.venv,  # never the checkout: its packages would shadow the wheel's
            check=False,
        )

    def importable(self, modules: Sequence[str]) -> list[str]:
        """Those of `modules` this install can import."""
        probe = (
            "import importlib.util, sys; "
            "print(*[m for m in sys.argv[1:] if importlib.util.find_spec(m)])"
        )
        done = subprocess.run(
            [str(self.python), "-c", probe, *modules],
            cwd=self.venv,  # `-c` puts the working directory first on sys.path
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()


def _pip(*args: str, timeout: float) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, f"pip {' '.join(args[:3])} failed:\n{output}"


def copy_sources(names: Sequence[str], destination: Path) -> Path:
    """These files and folders of the checkout, copied into `destination` (made)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, destination / name)
    return destination


def install_harness_only(base: Path) -> HarnessOnlyInstall:
    """Build the wheel from a copy of the checkout and install it into `base`/venv."""
    seconds: dict[str, float] = {}
    # A copy, so that setuptools' build/ and egg-info never land in the checkout under test.
    source = copy_sources(_WHEEL_SOURCES, base / "source")
    started = time.monotonic()
    _pip("wheel", "--quiet", "--no-deps", "-w", str(base / "dist"), str(source),
         timeout=_BUILD_TIMEOUT_S)  # fmt: skip
    seconds["build"] = time.monotonic() - started
    [wheel] = (base / "dist").glob("crm_realtime_harness-*.whl")
    venv = base / "venv"
    started = time.monotonic()
    # No pip of its own: the project's pip installs into it (--python), which saves seconds.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    seconds["venv"] = time.monotonic() - started
    started = time.monotonic()
    _pip("--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile",
         str(wheel), timeout=_INSTALL_TIMEOUT_S)  # fmt: skip
    seconds["install"] = time.monotonic() - started
    return HarnessOnlyInstall(venv, wheel, seconds)
