"""pytest plugin of the conformance suite (entry point `pytest11`).

It only adds `--crm-*` options and the `req` marker unless `--crm-url` is given, so it does
not affect unrelated test runs. With `--crm-url`, it registers the session plugin that reads
the target, filters checks by profile and requirement id, and turns outcomes into verdicts
and reports.

    pytest --pyargs harness.conformance --crm-url http://127.0.0.1:8000 --crm-jwt-secret S
    pytest --pyargs harness.conformance --crm-url https://staging.example.com \
        --crm-jwt-private-key idp.pem --crm-ca-cert ca.pem --crm-header 'X-Api-Key: k'

How to reach the target (tokens, TLS, headers, Socket.IO path) takes the options every
`crm-harness` command takes (`harness._target_options`), prefixed `--crm-`.
"""

from __future__ import annotations

import pytest

__all__ = ["OPTION_PREFIX", "pytest_addoption", "pytest_configure"]

SESSION_PLUGIN_NAME = "crm-conformance-session"
OPTION_PREFIX = "--crm-"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crm", "CRM realtime conformance")
    group.addoption(
        "--crm-url",
        action="append",
        default=[],
        metavar="URL",
        help="base URL of the server under test; repeat for the nodes of one cluster",
    )
    from harness._target_options import TARGET_OPTIONS

    for option in TARGET_OPTIONS:
        group.addoption(
            OPTION_PREFIX + option.name, dest=f"crm_{option.dest}", **option.add_argument_kwargs()
        )
    group.addoption(
        "--crm-jwks-url",
        default=None,
        metavar="URL",
        help="the target's JWKS: the algorithm-confusion check takes the public key from it "
        "when it has no --crm-jwt-private-key",
    )
    group.addoption(
        "--crm-profile",
        default=None,
        metavar="P,P",
        help="profiles to check (default: those the target declares)",
    )
    group.addoption(
        "--crm-req",
        action="append",
        default=[],
        metavar="ID,ID",
        help="check only these requirement ids (e.g. EVT-1,RED-1; repeatable)",
    )
    group.addoption(
        "--crm-rerun",
        default=None,
        metavar="CMD",
        help="the command of this run without --req (reports add --req ID to rerun one id)",
    )
    group.addoption(
        "--crm-restart-cmd",
        default=None,
        metavar="CMD",
        help="shell command that restarts the target (enables CLU-2)",
    )
    group.addoption("--crm-report", default=None, metavar="DIR", help="write report.json/html")
    group.addoption("--crm-junit", default=None, metavar="FILE", help="JUnit XML by requirement")
    group.addoption(
        "--crm-quiet",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long negative checks listen for what must not arrive (default 0.4)",
    )
    group.addoption(
        "--crm-fuzz-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time the fuzz checks may spend sending generated input (default 10, 0 = off)",
    )
    group.addoption(
        "--crm-fuzz-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the fuzz checks' generated input (default: random, printed in the report)",
    )
    group.addoption(
        "--crm-max-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="timing checks needing longer waits report not-run (default 25)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "req(*ids): the spec requirement ids a conformance check verifies"
    )
    if config.getoption("--crm-url", default=None):
        from ._session import ConformanceSession

        config.pluginmanager.register(ConformanceSession(config), SESSION_PLUGIN_NAME)
