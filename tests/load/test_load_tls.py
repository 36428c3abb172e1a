"""`crm-harness load` against deployments as they are (issue 11): https:// with a private CA,
RS256 tokens, extra headers, the Socket.IO path; bad target options are one line, exit 2.

The 200-user run over TLS from the harness-only install is in
tests/packaging/test_wheel_install.py (it shares that module's slow install).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.cli import main
from reference_server.launcher import RunningServer
from tests.pki import JwtKeys, TlsFiles


def _load(argv: list[str], report: Path) -> int:
    try:
        return main(["load", "--report", str(report), *argv])
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code or 0)


def test_an_untrusted_certificate_is_one_line(
    tls_rs256_server: RunningServer,
    tls_files: TlsFiles,
    rs256_keys: JwtKeys,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Verified by default: neither the system store nor a CA that signed nothing trusts the
    test CA's certificate. One line naming --ca-cert, exit 2, nothing run."""
    for trust in ([], ["--ca-cert", str(tls_files.other_ca)]):
        report = tmp_path / f"run-{len(trust)}"
        argv = ["--url", tls_rs256_server.url, *trust,
                "--jwt-private-key", str(rs256_keys.private), "--users", "2"]  # fmt: skip
        assert _load(argv, report) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "not trusted" in lines[0] and "--ca-cert" in lines[0], lines
        assert not report.exists()


def test_insecure_warns_and_runs_over_wss(
    tls_rs256_server: RunningServer,
    rs256_keys: JwtKeys,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """--insecure verifies nothing and says so on the run's output; users connect over wss
    and make changes over REST and the socket with RS256 tokens; extra headers and the
    Socket.IO path given as the server has it are accepted."""
    argv = ["--url", tls_rs256_server.url, "--insecure", "--users", "4", "--duration", "4s",
            "--think-time", "0.5", "--jwt-private-key", str(rs256_keys.private),
            "--header", "X-Api-Key: k-123", "--socketio-path", "socket.io"]  # fmt: skip
    code = _load(argv, tmp_path)
    err = capsys.readouterr().err
    assert "--insecure: TLS certificates are NOT verified" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == 0, err[-2000:]
    assert summary["users"] == 4 and summary["connect_errors"] == 0, summary
    assert summary["changes"]["ok"] > 0 and summary["loss"]["final"] == 0, summary


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--jwt-alg", "RS256"], "--jwt-alg and --jwt-kid go with --jwt-private-key"),
        (["--jwt-kid", "k1"], "--jwt-alg and --jwt-kid go with --jwt-private-key"),
        (["--jwt-private-key", "/nonexistent/key.pem"], "cannot read it"),
        (["--jwt-secret", "s", "--token-cmd", "true"], "give one token source"),
        (["--ca-cert", "/nonexistent/ca.pem", "--jwt-secret", "s"], "no such file"),
        (["--insecure", "--ca-cert", "CA", "--jwt-secret", "s"], "not both"),
        (["--header", "no colon", "--jwt-secret", "s"], "expected 'Name: value'"),
        (["--socketio-path", "/", "--jwt-secret", "s"], "--socketio-path"),
        (["--token-cmd", "exit 3", "--jwt-alg", "ES256"], "--jwt-alg"),
    ],
)
def test_bad_target_options_exit_2(
    argv: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Checked before anything starts: one line, exit 2, no run directory."""
    monkeypatch.delenv("JWT_SECRET", raising=False)
    report = tmp_path / "run"
    assert _load(["--url", "https://127.0.0.1:1", *argv], report) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not report.exists()


def test_without_url_a_token_command_and_tls_options_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The bundled server is plain http and has no identity provider."""
    for argv, fragment in ((["--token-cmd", "true"], "--token-cmd needs --url"),
                           (["--insecure"], "https://")):  # fmt: skip
        assert _load(argv, tmp_path / "run") == 2
        err = capsys.readouterr().err.strip()
        assert fragment in err and len(err.splitlines()) == 1, err


def test_a_failing_token_command_stops_the_run_in_one_line(
    tls_rs256_server: RunningServer,
    tls_files: TlsFiles,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The command is tried once before any user starts: its failure is the run's one line."""
    script = tmp_path / "idp.py"
    script.write_text("import sys\nprint('identity provider says no', file=sys.stderr)\n"
                      "sys.exit(4)\n")  # fmt: skip
    argv = ["--url", tls_rs256_server.url, "--ca-cert", str(tls_files.ca),
            "--token-cmd", f"{sys.executable} {script}"]  # fmt: skip
    assert _load(argv, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "exited with code 4: identity provider says no" in err


def test_sweep_runs_its_steps_over_tls_with_the_same_options(
    tls_rs256_server: RunningServer, tls_files: TlsFiles, rs256_keys: JwtKeys, tmp_path: Path
) -> None:
    """`sweep` (and `capacity`, same options) hands the target options to every step's run."""
    argv = ["sweep", "--url", tls_rs256_server.url, "--ca-cert", str(tls_files.ca),
            "--jwt-private-key", str(rs256_keys.private), "--users", "4", "--duration", "4s",
            "--think-time", "0.5", "--report", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    [summary_file] = tmp_path.glob("*/summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["users"] == 4 and summary["connect_errors"] == 0, summary
    assert summary["changes"]["ok"] > 0 and summary["loss"]["final"] == 0, summary


def test_without_url_the_bundled_server_verifies_the_given_key(
    rs256_keys: JwtKeys, tmp_path: Path
) -> None:
    """No --url and --jwt-private-key: the bundled server is started with its public half,
    so the users' RS256 tokens are accepted (and nothing else would be)."""
    argv = ["--jwt-private-key", str(rs256_keys.private), "--users", "3", "--duration", "3s",
            "--think-time", "0.5"]  # fmt: skip
    assert _load(argv, tmp_path) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["server_info"]["auth"] == {"algorithms": ["RS256"]}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["connect_errors"] == 0 and summary["changes"]["ok"] > 0, summary
