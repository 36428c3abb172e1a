"""The run-time switch every fault module shares: which faults are on, and how they patch.

A fault module (`core_faults`, `collab_faults`, `ai_faults`) declares `FAULTS` (name → how the
server misbehaves) and `install()`, which monkeypatches the reference server so that each
patched path consults `broken(name)` on every call. Nothing is broken until
`POST /_test/faults` names the fault, so one server process serves every fault in turn.

A fault's name is the requirement id it breaks (`"COL-6"`), or that id and a tag when one id
has several faults (`"STR-2/ack-first"`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "ACTIVE",
    "FAULTS_PATH",
    "STARTUP_FAULTS_ENV",
    "Method",
    "broken",
    "patch",
    "requirement_of",
]

FAULTS_PATH = "/_test/faults"
# Faults on from the process start (comma-separated), so a restarted server keeps them.
STARTUP_FAULTS_ENV = "CRM_TEST_FAULTS"
ACTIVE: set[str] = set()
_TAG = "/"

Method = Callable[..., Awaitable[Any]]


def broken(fault: str) -> bool:
    return fault in ACTIVE


def requirement_of(fault: str) -> str:
    """The requirement id a fault breaks: `"STR-2/ack-first"` → `"STR-2"`."""
    return fault.split(_TAG, 1)[0]


def patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Replace `owner.name` by `make(original)`."""
    setattr(owner, name, make(getattr(owner, name)))
