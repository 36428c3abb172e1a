"""What a failure shows besides expected and observed: the frames of the failing check, and
the command that runs that one requirement again.

The `crm` fixture gives each check a `Transcript` and leaves it in the item's stash under
`TRANSCRIPT_KEY`; the session copies its frames into the failure when the check fails.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import pytest

from harness.client import Transcript

__all__ = ["TRANSCRIPT_KEY", "default_rerun_base"]

TRANSCRIPT_KEY = pytest.StashKey[Transcript]()


def default_rerun_base(urls: Sequence[str], profiles: Sequence[str] = ()) -> str:
    """The rerun command of a run started without `crm-harness conform` (plain pytest): the
    nodes and profiles; token options are the caller's to add."""
    parts = ["crm-harness", "conform"]
    for url in urls:
        parts += ["--url", url]
    if profiles:
        parts += ["--profile", ",".join(profiles)]
    return shlex.join(parts)
