"""LIM-6's conformance check flags a node that answers busy wrongly, passes one that sheds
right, and says not-run where it cannot overload the target (CONTRIBUTING: a check is shown
to fail against a server that breaks its requirement). LIM-6 is a SHOULD: flagged means
non-strict, never fail.

The fault server runs with a connection budget of 4 sockets, so the check finds it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_verdicts import FaultyServer, faulty_server, verdicts_under
from overload_faults import FAULTS

from harness.conformance import Verdict, run
from reference_server.shedding import Shedding

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def budget_target() -> Iterator[FaultyServer]:
    with faulty_server(shedding=Shedding(max_connections=4, retry_after_ms=500)) as server:
        yield server


def test_lim6_passes_on_a_node_that_sheds_right(budget_target: FaultyServer) -> None:
    """LIM-6: with no fault, the 5th socket is refused SERVER_BUSY with retryAfterMs and the
    4 held keep heartbeats, acks and deliveries: pass."""
    assert verdicts_under(budget_target, [], ["LIM-6"]) == {"LIM-6": Verdict.PASS}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_lim6_flags_a_node_that_answers_busy_wrongly(
    budget_target: FaultyServer, fault: str
) -> None:
    """LIM-6: a refusal without retryAfterMs, or held sockets dropped to make room, is
    non-strict (a SHOULD missed)."""
    verdicts = verdicts_under(budget_target, [fault], ["LIM-6"])
    assert verdicts == {"LIM-6": Verdict.NON_STRICT}, FAULTS[fault]


def test_lim6_is_not_run_where_the_suite_cannot_overload_the_node() -> None:
    """LIM-6: a node without a budget the check can reach takes every socket it opens; the
    verdict is not-run, with the reason."""
    with faulty_server() as server:
        outcome = run(server.connection(), requirement_ids=["LIM-6"],
                      extra_pytest_args=["-p", "no:timeout"])  # fmt: skip
    assert outcome.result is not None, outcome.errors
    result = outcome.result.requirements["LIM-6"]
    assert result.verdict is Verdict.NOT_RUN
    assert "cannot overload an arbitrary server" in result.reason
