"""crm-realtime-harness: conformance, load and reports for real-time CRM Socket.IO servers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._exceptions import GateFailed, HarnessError, TargetError, UsageError

try:
    __version__ = version("crm-realtime-harness")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["GateFailed", "HarnessError", "TargetError", "UsageError", "__version__"]
