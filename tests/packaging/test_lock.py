"""lock/*.txt (written by `make lock`) pin every dependency pyproject.toml declares.

Installs come from the locks alone (`make install`, the Dockerfile, action.yml): a dependency
added to pyproject.toml without `make lock`, or a lower bound raised past the pinned release,
would be missing or wrong only there. Names and specifiers are compared; what an extra of a
dependency pulls in (`PyJWT[crypto]`) needs the package's metadata and is left to the resolver
that wrote the lock. Markers are read for the locks' target: CPython 3.11 on Linux x86_64.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK_DIR = ROOT / "lock"
PROJECT = "crm-realtime-harness"
# Each lock and the pyproject.toml lists it must cover (`make lock` compiles them so).
LOCKS: dict[str, tuple[str, ...]] = {
    "harness.txt": ("dependencies",),
    "server.txt": ("dependencies", "server", "cluster"),
    "dev.txt": ("dependencies", "server", "cluster", "dev"),
}
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")


def pins(text: str) -> dict[str, Version]:
    """name → pinned version of a lock file's text."""
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def declared(pyproject: dict[str, Any], lists: tuple[str, ...]) -> list[Requirement]:
    """The requirements of those lists of pyproject.toml that apply to the locks' target,
    without the project's references to its own extras."""
    project = pyproject["project"]
    extras = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    texts = [text for name in lists for text in extras[name]]
    requirements = [Requirement(text) for text in texts]
    return [
        r
        for r in requirements
        if canonicalize_name(r.name) != PROJECT
        and (r.marker is None or r.marker.evaluate({**TARGET, "extra": ""}))
    ]


def out_of_sync(requirements: list[Requirement], pinned: dict[str, Version]) -> list[str]:
    """One line per declared requirement the lock does not satisfy."""
    problems = []
    for requirement in requirements:
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: the lock pins {version}")
    return problems


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(lock: str) -> dict[str, Version]:
    return pins((LOCK_DIR / lock).read_text())


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_pins_every_declared_dependency(lock: str) -> None:
    pinned = _pins(lock)
    problems = out_of_sync(declared(_pyproject(), LOCKS[lock]), pinned)
    assert not problems, f"lock/{lock} is stale, run `make lock`: " + "; ".join(problems)
    assert PROJECT not in pinned, "the project itself is installed from the checkout"


def test_the_check_catches_a_new_dependency_and_a_raised_bound() -> None:
    """Control: what someone would do without relocking is caught."""
    pyproject = _pyproject()
    pyproject["project"]["dependencies"] += ["left-pad-nowhere>=1", "numpy>=999"]
    problems = out_of_sync(declared(pyproject, LOCKS["harness.txt"]), _pins("harness.txt"))
    assert [p.split(":")[0] for p in problems] == ["left-pad-nowhere>=1", "numpy>=999"]


def test_a_package_has_one_version_in_every_lock() -> None:
    """The harness the action installs is the one the suite tested (server.txt and
    harness.txt are compiled under dev.txt's pins), and no lock pins what dev.txt lacks."""
    dev = _pins("dev.txt")
    for lock in ("harness.txt", "server.txt"):
        differ = {name: (v, dev.get(name)) for name, v in _pins(lock).items() if dev.get(name) != v}
        assert not differ, f"lock/{lock} vs lock/dev.txt: {differ}"
    assert set(_pins("harness.txt")) <= set(_pins("server.txt"))


def test_every_pin_carries_hashes_and_the_refresh_command() -> None:
    """`pip install --require-hashes` (what every install runs) needs a hash for each pin."""
    for lock in LOCKS:
        text = (LOCK_DIR / lock).read_text()
        assert "#    make lock\n" in text, f"lock/{lock} was not written by `make lock`"
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        unhashed = [e.split()[0] for e in entries if _PIN.match(e) and "--hash=sha256:" not in e]
        assert not unhashed, f"lock/{lock}: pins without hashes: {unhashed}"
