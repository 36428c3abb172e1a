"""Test-only entry point: the reference server with rules breakable at run time.

    python tests/faults/fault_server.py [reference server options]
    POST /_test/faults {"faults": ["COL-6"]}     # break COL-6 from now on ([] restores all)

Each fault breaks one requirement the way a plausible server bug would; the registry has one
module per area (`core_faults`, `core_stream_faults`, `core_wire_faults`, `auth_key_faults`,
`collab_faults`, `ai_faults`, `overload_faults`), and `FAULTS` here is all of
them, name → how the server misbehaves. The fault tests turn one on, run the conformance suite
for its id and expect `fail`. The switch exists only in this script's process: the real entry
points (`python -m reference_server`, `crm-harness serve`) have no such route.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
for _path in (_HERE.parents[1], _HERE):  # the repository, and the fault modules beside this
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import ai_faults  # noqa: E402
import auth_key_faults  # noqa: E402
import collab_faults  # noqa: E402
import contract_faults  # noqa: E402
import core_faults  # noqa: E402
import core_stream_faults  # noqa: E402
import core_wire_faults  # noqa: E402
import overload_faults  # noqa: E402
from fastapi import APIRouter, FastAPI, Request  # noqa: E402
from fault_switch import ACTIVE, FAULTS_PATH, STARTUP_FAULTS_ENV, requirement_of  # noqa: E402

from reference_server import app as app_module  # noqa: E402

__all__ = ["FAULTS", "FAULTS_PATH", "SIDE_PATH_FAULTS", "faults_of", "requirement_of"]

_AREAS = (core_faults, core_stream_faults, core_wire_faults, auth_key_faults, collab_faults,
          ai_faults, overload_faults)  # fmt: skip
FAULTS: dict[str, str] = {name: bug for area in _AREAS for name, bug in area.FAULTS.items()}
# Side-path faults (issue 17), tested by test_contract_faults.py, not by the per-area tests.
SIDE_PATH_FAULTS: dict[str, str] = dict(contract_faults.FAULTS)
_SWITCHABLE = {**FAULTS, **SIDE_PATH_FAULTS}


def faults_of(prefix: str) -> list[str]:
    """The faults whose requirement id starts with `prefix` ("COL-"), in id order."""

    def order(name: str) -> tuple[str, int, str]:
        family, _, number = requirement_of(name).partition("-")
        return family, int(number), name

    return sorted((f for f in FAULTS if f.startswith(prefix)), key=order)


def _with_switch(install: Callable[..., Any]) -> Callable[..., Any]:
    def patched(api: FastAPI, *rest: Any) -> Any:
        router = APIRouter()

        @router.post(FAULTS_PATH)
        async def set_faults(request: Request) -> dict[str, list[str]]:
            wanted = (await request.json()).get("faults", [])
            ACTIVE.clear()
            ACTIVE.update(f for f in wanted if f in _SWITCHABLE)
            return {"faults": sorted(ACTIVE)}

        api.include_router(router)
        return install(api, *rest)

    return patched


def main() -> int:
    for area in (*_AREAS, contract_faults):
        area.install()
    startup = os.environ.get(STARTUP_FAULTS_ENV, "").split(",")
    ACTIVE.update(f for f in startup if f in _SWITCHABLE)
    app_module.install_extra_profiles = _with_switch(app_module.install_extra_profiles)
    from reference_server.__main__ import main as serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
