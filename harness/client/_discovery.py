"""The info document (INF-1): the first thing any command reads from a target, and its
pre-flight: an unreachable URL, an untrusted certificate, or a server that is not a CRM
realtime server is a `TargetError` in one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from harness._exceptions import TargetError
from harness.spec import INFO_PATH

from ._connection import ConnectionOptions

__all__ = ["fetch_info"]


def fetch_info(
    url: str, options: ConnectionOptions | None = None, *, timeout: float = 5.0
) -> dict[str, Any]:
    """GET the info document; TargetError when the URL is unreachable or not a CRM server."""
    base = url.rstrip("/")
    options = options or ConnectionOptions()
    try:
        response = httpx.get(
            base + INFO_PATH, timeout=timeout, headers=options.header_map(),
            verify=options.ssl_context(),
        )  # fmt: skip
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise TargetError(
                f"cannot reach {base}: its TLS certificate is not trusted ({exc}); "
                "give --ca-cert FILE for a private CA"
            ) from None
        raise TargetError(f"cannot reach {base}: connection refused or no route ({exc})") from None
    except httpx.TimeoutException:
        raise TargetError(f"cannot reach {base}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {base}: {exc}") from None
    if response.status_code != 200:
        raise TargetError(
            f"{base} is not a CRM realtime server: GET {INFO_PATH} answered {response.status_code}"
        )
    try:
        info = response.json()
    except ValueError:
        raise TargetError(f"{base} is not a CRM realtime server: {INFO_PATH} is not JSON") from None
    missing = [
        k
        for k in ("specVersion", "profiles", "limits")
        if not isinstance(info, Mapping) or k not in info
    ]
    if missing:
        raise TargetError(
            f"{base} is not a CRM realtime server: info document lacks {', '.join(missing)}"
        )
    return dict(info)
