"""Each AI-* check fails against a server that breaks its rule, and passes without the fault
(CONTRIBUTING: a check is shown to fail against a server that breaks its requirement)."""

from __future__ import annotations

import pytest
from fault_server import FAULTS
from fault_verdicts import FaultyServer, verdicts_under

from harness.conformance import Verdict

AI_IDS = sorted((rid for rid in FAULTS if rid.startswith("AI-")), key=lambda r: int(r[3:]))


def test_ai_checks_pass_without_faults(ai_fault_target: FaultyServer) -> None:
    """AI-1..AI-7: every AI check passes against the fault server with no fault on."""
    verdicts = verdicts_under(ai_fault_target, [], AI_IDS)
    assert verdicts == dict.fromkeys(AI_IDS, Verdict.PASS)


@pytest.mark.slow
@pytest.mark.parametrize("rid", AI_IDS)
def test_ai_check_fails_when_its_rule_is_broken(ai_fault_target: FaultyServer, rid: str) -> None:
    """AI-1..AI-7: with the rule broken (see fault_server.FAULTS), the id's verdict is fail."""
    verdicts = verdicts_under(ai_fault_target, [rid], [rid])
    assert verdicts.get(rid) is Verdict.FAIL, (FAULTS[rid], verdicts)
