"""Durations as people write them in options: `90`, `90s`, `2m`, `1m30s`, `1h`.

One parser for every command that takes one (`load`, `sweep`, `capacity`).
"""

from __future__ import annotations

import re

from ._exceptions import UsageError

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """`90`, `90s`, `2m`, `1m30s`, `1h` → seconds; UsageError otherwise."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise UsageError(f"--duration: cannot read {text!r} (try 60s, 2m, 1m30s)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
