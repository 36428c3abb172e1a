"""Each core check (and MET-1's) fails against a server that breaks its rule, and passes without
the fault (CONTRIBUTING: a check is shown to fail against a server that breaks its requirement).

The faults and how each breaks its rule: `FAULTS` of `core_faults`, `core_stream_faults` and
`core_wire_faults`.
"""

from __future__ import annotations

import httpx
import pytest
from auth_key_faults import FAULTS as KEY_FAULTS
from fault_server import FAULTS, faults_of, requirement_of
from fault_switch import FAULTS_PATH
from fault_verdicts import FaultyServer, verdicts_under
from overload_faults import FAULTS as OVERLOAD_FAULTS

from harness.conformance import Verdict
from harness.spec import REQUIREMENTS, Profile
from reference_server.app import build_app
from reference_server.config import ServerSettings
from reference_server.state.memory import MemoryClusterState

# The RS256/ES256 faults need a server with keys (test_auth_key_faults.py), the LIM-6 ones a
# node with a small connection budget (test_overload_faults.py).
CORE_FAULTS = [
    f for f in faults_of("")
    if not f.startswith(("COL-", "AI-")) and f not in KEY_FAULTS and f not in OVERLOAD_FAULTS
]  # fmt: skip
CORE_IDS = sorted({requirement_of(f) for f in CORE_FAULTS})
# The check that catches a fault, where its id has other, slower checks besides it.
TARGETED = {
    "EVT-6": "test_one_field_update_is_small",
    "TRN-3": "test_heartbeat_matches_info",
    "TRN-3/silent": "test_silent_client_is_disconnected",
    "INF-2": "test_token_bucket",
    "INF-2/connections": "test_connections_per_user",
    "INF-2/payload": "test_payload_size",
    "AUTH-3": "test_expired_session_is_told_and_closed",
    "STR-3": "test_sync_reset_and_bad_cursors",
    "STR-5": "test_reconnect_after_client_drop",
    "LIM-5": "test_wrong_shapes_change_nothing",
    "MUT-1": "test_mutate_mirrors_rest",
    "RED-1/events": "test_live_events_redacted_per_recipient",
    "RED-1/rest": "test_rest_and_replay_redacted",
    "RED-1/replay": "test_rest_and_replay_redacted",
    "STR-3/window": "test_replay_window_in_events",
    "RED-2": "test_live_events_redacted_per_recipient",
}
# A SHOULD missed is non-strict, not fail (EVT-6).
EXPECTED = {"EVT-6": Verdict.NON_STRICT}
# The control runs every check the fault runs use; the slower ones left out here pass in the
# conformance suite's own full run against the reference server.
CONTROL = (
    "not (replay_window_in_seconds or reconnect_after_server_drop or event_without_ack"
    " or every_sensitive_type)"
)


def test_core_checks_pass_without_faults(core_fault_target: FaultyServer) -> None:
    """TRN-1..5, INF-1..3, AUTH-1..4, REC-1..7, EVT-1..6, RED-1..4, STR-1..5, MUT-1..3,
    LIM-1..5, CLU-2, MET-1: the checks the fault runs use all pass with no fault on."""
    verdicts = verdicts_under(core_fault_target, [], CORE_IDS, CONTROL)
    assert verdicts == dict.fromkeys(CORE_IDS, Verdict.PASS)


@pytest.mark.slow
@pytest.mark.parametrize("fault", CORE_FAULTS)
def test_core_check_fails_when_its_rule_is_broken(
    core_fault_target: FaultyServer, fault: str
) -> None:
    """The fault's requirement (TRN-*, INF-*, AUTH-*, REC-*, EVT-*, RED-*, STR-*, MUT-*,
    LIM-*, CLU-2, MET-1; see FAULTS) has verdict fail (EVT-6, a SHOULD: non-strict) while the
    fault is on."""
    rid = requirement_of(fault)
    verdicts = verdicts_under(core_fault_target, [fault], [rid], TARGETED.get(fault))
    assert verdicts.get(rid) is EXPECTED.get(rid, Verdict.FAIL), (FAULTS[fault], verdicts)


def test_every_core_requirement_has_a_fault() -> None:
    """Every id of profile core (TRN-1 … LIM-5, CLU-2) and MET-1 has at least one fault
    above, LIM-6 in test_overload_faults.py, and every fault names a requirement of the spec."""
    core = {rid for rid, r in REQUIREMENTS.items() if r.profile is Profile.CORE} - {"LIM-6"}
    assert core | {"MET-1"} == set(CORE_IDS)
    assert {requirement_of(f) for f in OVERLOAD_FAULTS} == {"LIM-6"}
    assert {requirement_of(f) for f in FAULTS} <= set(REQUIREMENTS)


async def test_real_app_has_no_fault_switch() -> None:
    """No spec id (the brief's rule): the fault switch exists only in the fault entry point;
    the reference server's own app answers 404 to it."""
    app = build_app(ServerSettings(), object(), MemoryClusterState())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post(FAULTS_PATH, json={"faults": ["EVT-1"]})
    assert answer.status_code == 404
