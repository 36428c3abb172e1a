"""With the spec's default timings (a 300 s edit lock), the lock-expiry check cannot wait that
long: it reports not-run and says why, while the other COL-4 checks still run (INF-2)."""

from __future__ import annotations

import secrets

from harness.client import TargetConnection, TokenFactory
from harness.conformance import ProgressLine, Verdict, run
from reference_server.launcher import start_server

_NESTED = ["-p", "no:timeout"]


def test_lock_expiry_is_not_run_under_default_ttl() -> None:
    """COL-4: under editLockTtlSeconds 300 the expiry check is not-run with the reason;
    the id still passes on its other checks."""
    secret = secrets.token_hex(16)
    lines: list[ProgressLine] = []
    with start_server(jwt_secret=secret) as server:
        connection = TargetConnection((server.url,), TokenFactory(secret))
        outcome = run(connection, requirement_ids=["COL-4"], progress=lines.append,
                      keyword="not offline", extra_pytest_args=_NESTED)  # fmt: skip
    by_name = {line.name: line for line in lines}
    expiry = by_name["test_edit_lock_expires_without_refresh"]
    assert expiry.outcome == "not-run"
    assert "302 s wait" in expiry.message and "--crm-max-wait" in expiry.message
    assert by_name["test_edit_lock_take_refresh_refuse_stop"].outcome == "passed"
    assert outcome.verdicts() == {"COL-4": Verdict.PASS}
