"""Test-only entry point: a reference server node whose event loop can be made to stall.

    python tests/server/stall_node.py [reference server options]
    POST /_test/stall {"seconds": 6, "turn_ms": 2500, "drop": false}

For `seconds`, the node's event loop is blocked `turn_ms` at a time with a 10 ms breather
between turns: every timer, heartbeat, read and send on it runs up to `turn_ms` late, as on a
node past its CPU (the README's 20,000-user run: loop lag 9 s). The node forgives its own lag
in its heartbeat, so a stall alone drops no socket; with `drop`, every socket it holds is
closed under its clients at the stall's end (what a stall did before, and what a lost link
does). The answer comes before the stall starts. The route exists only in this script's
process: the real entry points (`python -m reference_server`, `crm-harness serve`) have none.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if str(_HERE.parents[1]) not in sys.path:
    sys.path.insert(0, str(_HERE.parents[1]))  # the repository

from fastapi import APIRouter, FastAPI, Request  # noqa: E402

from reference_server import app as app_module  # noqa: E402

__all__ = ["STALL_PATH"]

STALL_PATH = "/_test/stall"
_BREATHER_S = 0.01
_STALLS: set[asyncio.Task[None]] = set()  # held so that a running stall is not collected


async def _stall(seconds: float, turn_s: float, drop: Any) -> None:
    end = time.monotonic() + seconds
    await asyncio.sleep(0)  # the answer to the request goes out first
    while time.monotonic() < end:
        time.sleep(min(turn_s, max(0.0, end - time.monotonic())))  # noqa: ASYNC251 - the point
        await asyncio.sleep(_BREATHER_S)
    if drop is not None:
        for sock in list(drop.eio.sockets.values()):
            await sock.close(wait=False, abort=True)  # the WebSocket closes, no CLOSE packet


def _with_stall_route(install: Callable[..., Any]) -> Callable[..., Any]:
    def patched(api: FastAPI, sio: Any, *rest: Any) -> Any:
        router = APIRouter()

        @router.post(STALL_PATH)
        async def stall(request: Request) -> dict[str, Any]:
            wanted = await request.json()
            seconds, turn_ms = float(wanted.get("seconds", 0)), float(wanted.get("turn_ms", 0))
            drop = bool(wanted.get("drop", False))
            if seconds > 0 and turn_ms > 0:
                task = asyncio.create_task(_stall(seconds, turn_ms / 1000, sio if drop else None))
                _STALLS.add(task)
                task.add_done_callback(_STALLS.discard)
            return {"seconds": seconds, "turn_ms": turn_ms, "drop": drop}

        api.include_router(router)
        return install(api, sio, *rest)

    return patched


def main() -> int:
    app_module.install_extra_profiles = _with_stall_route(app_module.install_extra_profiles)
    from reference_server.__main__ import main as serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
