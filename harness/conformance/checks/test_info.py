"""§2 Discovery: the info document and the health endpoint (INF-1, INF-3).

INF-2 (enforce exactly what is advertised) is checked where each limit is enforced:
test_limits.py and test_transport.py read their figures from the info document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

import pytest

from harness.spec import (
    DEFAULT_AUTH_ALGORITHMS,
    ENTITY_TYPES,
    SUPPORTED_SPEC_VERSIONS,
    Heartbeat,
    Limits,
    Profile,
)

from ..check_api import Crm
from ..failures import expect, expect_equal

pytestmark = pytest.mark.asyncio


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.mark.req("INF-1")
async def test_info_document_shape(crm: Crm) -> None:
    """INF-1: GET /api/v1/realtime/info without auth → 200 with every field, typed."""
    for node in range(crm.nodes):
        response = await crm.rest(None, node=node).info()
        expect_equal(response.status, 200, "info document status")
        info = response.body
        expect(isinstance(info, Mapping), "info is not a JSON object", observed=info)
        expect(
            info.get("specVersion") in SUPPORTED_SPEC_VERSIONS,
            "specVersion is not one this suite checks",
            expected=list(SUPPORTED_SPEC_VERSIONS),
            observed=info.get("specVersion"),
        )
        for key in ("server", "node"):
            expect(isinstance(info.get(key), str) and info[key], f"{key} missing", observed=info)
        profiles = info.get("profiles")
        known = {p.value for p in Profile}
        expect(
            isinstance(profiles, list) and Profile.CORE.value in profiles,
            "profiles must be a list including core",
            observed=profiles,
        )
        expect(set(profiles) <= known, "unknown profile", expected=sorted(known), observed=profiles)
        heartbeat, limits = info.get("heartbeat"), info.get("limits")
        for name, block, spec_fields in (
            ("heartbeat", heartbeat, [f.name for f in fields(Heartbeat)]),
            ("limits", limits, [f.name for f in fields(Limits)]),
        ):
            expect(isinstance(block, Mapping), f"{name} is not an object", observed=block)
            missing = [k for k in spec_fields if not _is_number(block.get(k))]
            expect(
                not missing, f"{name} lacks numeric fields", expected=spec_fields, observed=block
            )
        sensitive = info.get("sensitiveFields")
        expect(isinstance(sensitive, Mapping), "sensitiveFields missing", observed=sensitive)
        expect_equal(
            sorted(sensitive), sorted(ENTITY_TYPES), "sensitiveFields must name every type"
        )
        expect(
            all(isinstance(v, list) for v in sensitive.values()),
            "sensitiveFields values must be lists",
            observed=sensitive,
        )
        # §3: absent means ["HS256"]; present, it names the one algorithm the server verifies.
        auth = info.get("auth", {"algorithms": list(DEFAULT_AUTH_ALGORITHMS)})
        algorithms = auth.get("algorithms") if isinstance(auth, Mapping) else None
        expect(
            isinstance(algorithms, list)
            and len(algorithms) >= 1
            and all(isinstance(a, str) and a for a in algorithms),
            "auth.algorithms must be a non-empty list of algorithm names",
            observed=auth,
        )


@pytest.mark.req("INF-3")
async def test_healthz(crm: Crm) -> None:
    """INF-3: GET /healthz → 200 {"status": "ok"} on every node."""
    for node in range(crm.nodes):
        response = await crm.rest(None, node=node).health()
        expect_equal((response.status, response.body), (200, {"status": "ok"}), "healthz answer")
