"""Errors the harness reports to its user as one line and an exit code, never a traceback.

HarnessError
├── UsageError            bad option or argument (exit 2)
├── TargetError           the server under test cannot be reached or is not a CRM server (exit 2)
└── GateFailed            a run finished and a pass/fail gate said no (exit 1)
"""

from __future__ import annotations

__all__ = ["GateFailed", "HarnessError", "TargetError", "UsageError"]


class HarnessError(Exception):
    exit_code = 2


class UsageError(HarnessError):
    exit_code = 2


class TargetError(HarnessError):
    exit_code = 2


class GateFailed(HarnessError):
    exit_code = 1
