"""The bundled reference server: every profile of SPEC.md, single-node or as a cluster.

It depends on nothing of the harness but `harness.spec` (the wire contract), and plugs into
the harness through one seam: `reference_server.bundled` (entry point group
`crm_harness.bundled_server`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["DISTRIBUTION", "__version__"]

DISTRIBUTION = "crm-realtime-harness"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
