"""`crm-harness conform` against deployments as they are: HTTPS with a private CA, RS256/ES256
tokens from the identity provider's key or token command, a 1.0 HS256 server; bad target
options are one line and exit 2 (issue 11 items 1-2)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from reference_server.launcher import RunningServer
from tests.pki import JwtKeys, TlsFiles, make_jwt_keys, tls_key_server

AUTH_IDS = "INF-1,TRN-1,TRN-2,AUTH-1,AUTH-2,AUTH-4"


@pytest.fixture(scope="module")
def es256_keys(tmp_path_factory: pytest.TempPathFactory) -> JwtKeys:
    return make_jwt_keys(tmp_path_factory.mktemp("jwt"), "ES256")


@pytest.fixture(scope="module")
def tls_es256_server(tls_files: TlsFiles, es256_keys: JwtKeys) -> Iterator[RunningServer]:
    with tls_key_server(tls_files, es256_keys) as server:
        yield server


def _verdicts(report: Path) -> dict[str, str]:
    data = json.loads((report / "report.json").read_text())
    return {rid: r["verdict"] for rid, r in data["requirements"].items()}


def test_conform_over_https_with_a_private_key(
    tls_es256_server: RunningServer, tls_files: TlsFiles, es256_keys: JwtKeys, tmp_path: Path
) -> None:
    """TLS + ES256: `conform --url https://… --ca-cert --jwt-private-key` passes the
    transport and auth ids, the algorithm-confusion check included."""
    argv = ["conform", "--url", tls_es256_server.url, "--ca-cert", str(tls_files.ca),
            "--jwt-private-key", str(es256_keys.private), "--req", AUTH_IDS,
            "--header", "X-Api-Key: not-needed-here", "--report", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    verdicts = _verdicts(tmp_path)
    assert set(verdicts.values()) == {"pass"}, verdicts
    report = json.loads((tmp_path / "report.json").read_text())
    auth2 = {t["name"]: t["outcome"] for t in report["requirements"]["AUTH-2"]["tests"]}
    assert auth2["test_public_key_is_no_hs256_secret"] == "passed"


def test_conform_over_https_with_a_token_command(
    tls_es256_server: RunningServer, tls_files: TlsFiles, es256_keys: JwtKeys, tmp_path: Path
) -> None:
    """A team whose identity provider mints the tokens: `--token-cmd` alone passes AUTH."""
    script = tmp_path / "mint.py"
    script.write_text(
        "import json, sys, jwt\n"
        f"key = open({str(es256_keys.private)!r}).read()\n"
        "print(jwt.encode(json.load(sys.stdin), key, algorithm='ES256'))\n"
    )
    report = tmp_path / "report"
    argv = ["conform", "--url", tls_es256_server.url, "--ca-cert", str(tls_files.ca),
            "--token-cmd", f"{sys.executable} {script}", "--req", "AUTH-1,AUTH-2,AUTH-4",
            "--report", str(report)]  # fmt: skip
    assert main(argv) == 0
    assert set(_verdicts(report).values()) == {"pass"}


def test_bundled_server_verifies_the_given_key(es256_keys: JwtKeys, tmp_path: Path) -> None:
    """Without --url and with --jwt-private-key, the bundled server verifies that key's
    tokens (its info advertises ES256), so the key checks run against it."""
    argv = ["conform", "--jwt-private-key", str(es256_keys.private), "--req", "INF-1,AUTH-2",
            "--report", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["target"]["auth"] == {"algorithms": ["ES256"]}
    assert set(_verdicts(tmp_path).values()) == {"pass"}


def test_an_untrusted_certificate_is_one_line(
    tls_es256_server: RunningServer,
    tls_files: TlsFiles,
    es256_keys: JwtKeys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """TLS is verified by default: the system trust store does not know the test CA, and a
    CA that did not sign the certificate does not help; one line, exit 2, names --ca-cert."""
    for trust in ([], ["--ca-cert", str(tls_files.other_ca)]):
        argv = ["conform", "--url", tls_es256_server.url, *trust,
                "--jwt-private-key", str(es256_keys.private)]  # fmt: skip
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "not trusted" in lines[0] and "--ca-cert" in lines[0], lines


def test_insecure_warns_and_connects(
    tls_es256_server: RunningServer, es256_keys: JwtKeys, capsys: pytest.CaptureFixture[str]
) -> None:
    """--insecure skips verification and says so on the run's output."""
    argv = ["conform", "--url", tls_es256_server.url, "--insecure",
            "--jwt-private-key", str(es256_keys.private), "--req", "INF-1"]  # fmt: skip
    assert main(argv) == 0
    assert "--insecure: TLS certificates are NOT verified" in capsys.readouterr().err
