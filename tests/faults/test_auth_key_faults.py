"""AUTH-2's refusals that matter for RS256/ES256 targets (spec 1.1 §3): each check passes
against the reference server verifying a JWKS, fails against one with the bug it is for
(`auth_key_faults.FAULTS`), and says not-run, with the reason, where it cannot run.

The fault server verifies a JWKS of two RS256 keys (`k1`, `k2`); the suite holds `k1`'s
private key and kid, as a team that signs with its identity provider's key would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_key_faults import FAULTS as KEY_FAULTS
from fault_verdicts import FaultyServer, faulty_server, verdicts_under

from harness.client import CommandTokens, KeyTokens, TargetConnection, TokenSource
from harness.conformance import Outcome, Verdict, run
from tests.pki import IdentityProvider, serve_jwks

# The check that catches each fault (the other AUTH-2 checks need not run to show it).
TARGETED = {
    "AUTH-2/alg-none": "test_refusals_carry_the_spec_code",
    "AUTH-2/any-key": "test_refusals_carry_the_spec_code",
    "AUTH-2/key-confusion": "test_public_key_is_no_hs256_secret",
    "AUTH-2/unknown-kid": "test_unknown_kid_is_refused",
}
KEY_CHECKS = "test_public_key_is_no_hs256_secret or test_unknown_kid_is_refused"
_NESTED = ["-p", "no:timeout"]


@pytest.fixture(scope="module")
def signing_key() -> KeyTokens:
    return KeyTokens.generate("RS256", "k1")


@pytest.fixture(scope="module")
def identity_provider(signing_key: KeyTokens) -> Iterator[IdentityProvider]:
    with serve_jwks(signing_key, KeyTokens.generate("RS256", "k2")) as provider:
        yield provider


@pytest.fixture(scope="module")
def key_fault_target(
    signing_key: KeyTokens, identity_provider: IdentityProvider
) -> Iterator[FaultyServer]:
    with faulty_server(tokens=signing_key, jwks_url=identity_provider.url) as server:
        yield server


def _outcomes(
    server: FaultyServer, tokens: TokenSource, keyword: str, jwks_url: str | None = None
) -> dict[str, tuple[Outcome, str]]:
    """Check name → (outcome, message) of the AUTH-2 checks `keyword` selects."""
    connection = TargetConnection((server.url,), tokens)
    outcome = run(connection, requirement_ids=["AUTH-2"], keyword=keyword, jwks_url=jwks_url,
                  extra_pytest_args=_NESTED)  # fmt: skip
    assert outcome.errors == [] and outcome.result is not None, outcome.errors
    records = outcome.result.requirements["AUTH-2"].tests
    return {r.name: (r.outcome, r.message) for r in records}


def test_key_checks_pass_without_faults(key_fault_target: FaultyServer) -> None:
    """AUTH-1..4 pass against a JWKS-verifying server, and the key checks really ran."""
    ids = ["AUTH-1", "AUTH-2", "AUTH-3", "AUTH-4"]
    assert verdicts_under(key_fault_target, [], ids) == dict.fromkeys(ids, Verdict.PASS)
    ran = _outcomes(key_fault_target, key_fault_target.connection().tokens, KEY_CHECKS)
    assert {name: outcome for name, (outcome, _) in ran.items()} == {
        "test_public_key_is_no_hs256_secret": Outcome.PASSED,
        "test_unknown_kid_is_refused": Outcome.PASSED,
    }


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(KEY_FAULTS))
def test_key_check_fails_when_its_rule_is_broken(
    key_fault_target: FaultyServer, fault: str
) -> None:
    """AUTH-2 is fail while the fault is on (see auth_key_faults.FAULTS)."""
    verdicts = verdicts_under(key_fault_target, [fault], ["AUTH-2"], TARGETED[fault])
    assert verdicts == {"AUTH-2": Verdict.FAIL}, KEY_FAULTS[fault]


def _token_command(tmp_path: Path, key: KeyTokens) -> CommandTokens:
    """A team's token command: signs the claims it reads on stdin with the IdP's key."""
    pem = tmp_path / "idp-key.pem"
    pem.write_bytes(key.private_pem())
    script = tmp_path / "mint.py"
    script.write_text(
        "import json, sys, jwt\n"
        "claims = json.load(sys.stdin)\n"
        f"key = open({str(pem)!r}).read()\n"
        f"print(jwt.encode(claims, key, algorithm='RS256', headers={{'kid': {key.kid!r}}}))\n"
    )
    return CommandTokens(f"{sys.executable} {script}")


def test_key_checks_say_why_they_cannot_run(
    key_fault_target: FaultyServer,
    signing_key: KeyTokens,
    identity_provider: IdentityProvider,
    tmp_path: Path,
) -> None:
    """With a token command the suite holds no key: algorithm confusion is not-run until
    --jwks-url gives it the public key, then passes; the kid check stays not-run. Without a
    kid, the kid check is not-run too."""
    command = _token_command(tmp_path, signing_key)
    blind = _outcomes(key_fault_target, command, KEY_CHECKS)
    assert blind["test_public_key_is_no_hs256_secret"][0] is Outcome.NOT_RUN
    assert "--jwks-url" in blind["test_public_key_is_no_hs256_secret"][1]
    assert blind["test_unknown_kid_is_refused"][0] is Outcome.NOT_RUN
    assert "--jwt-kid" in blind["test_unknown_kid_is_refused"][1]
    told = _outcomes(key_fault_target, command, KEY_CHECKS, jwks_url=identity_provider.url)
    assert told["test_public_key_is_no_hs256_secret"][0] is Outcome.PASSED
    assert command.calls > 0  # the AUTH checks minted through the command
    without_kid = _outcomes(key_fault_target, signing_key.with_kid(None), KEY_CHECKS)
    assert without_kid["test_unknown_kid_is_refused"][0] is Outcome.NOT_RUN


def test_key_checks_not_run_on_an_hs256_target(core_fault_target: FaultyServer) -> None:
    """A 1.0-style HS256 target: the key checks are not-run (no public key to confuse, no
    kid), and AUTH-2 still passes."""
    ran = _outcomes(core_fault_target, core_fault_target.connection().tokens, KEY_CHECKS)
    assert {name: outcome for name, (outcome, _) in ran.items()} == {
        "test_public_key_is_no_hs256_secret": Outcome.NOT_RUN,
        "test_unknown_kid_is_refused": Outcome.NOT_RUN,
    }
    assert "HS256" in ran["test_public_key_is_no_hs256_secret"][1]
