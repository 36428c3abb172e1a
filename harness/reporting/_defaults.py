"""Defaults the CLI shows in --help, kept apart from the modules that need pandas."""

from __future__ import annotations

__all__ = ["DEFAULT_NOISE_FLOOR_MS", "DEFAULT_THRESHOLD_PCT"]

# From an A/A run: two identical 30-user runs on a shared 2-core machine differed by 19 %
# (0.9 ms) at p50 (see compare.py).
DEFAULT_THRESHOLD_PCT = 20.0
DEFAULT_NOISE_FLOOR_MS = 2.0
