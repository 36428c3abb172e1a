"""crm-realtime-harness: conformance, load and reports for real-time CRM Socket.IO servers."""

from __future__ import annotations

from ._exceptions import GateFailed, HarnessError, TargetError, UsageError

__version__ = "0.1.0"

__all__ = ["GateFailed", "HarnessError", "TargetError", "UsageError", "__version__"]
