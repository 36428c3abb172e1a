"""`crm-harness conform` refuses bad options and unreachable or non-CRM targets with one line
and exit 2, before running anything (INF-1 is what the pre-flight reads)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from harness.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--profile", "core,bogus"], "unknown profile bogus"),
        (["--req", "EVT-1,EVT-99"], "unknown requirement id EVT-99"),
        (["--quiet-period", "0"], "--quiet-period must be positive"),
    ],
)
def test_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    """Unknown profiles and requirement ids are usage errors (exit 2, one line)."""
    line = _one_line_exit_2(capsys, ["conform", *argv])
    assert fragment in line


def test_url_without_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUTH-1 needs tokens: --url without --jwt-secret (or JWT_SECRET) is a usage error."""
    monkeypatch.delenv("JWT_SECRET", raising=False)
    line = _one_line_exit_2(capsys, ["conform", "--url", "http://127.0.0.1:1"])
    assert "--jwt-secret" in line


def test_unknown_option_is_one_line() -> None:
    """argparse errors stay one line with exit 2."""
    done = subprocess.run(
        [sys.executable, "-m", "harness", "conform", "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """INF-1 pre-flight: nothing listening → exit 2, 'cannot reach'."""
    url = f"http://127.0.0.1:{_free_port()}"
    line = _one_line_exit_2(capsys, ["conform", "--url", url, "--jwt-secret", "s"])
    assert "cannot reach" in line and url in line


class _NotCrm(BaseHTTPRequestHandler):
    body: bytes = b""
    status = 404

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def not_crm_server() -> Iterator[tuple[str, type[_NotCrm]]]:
    handler = type("Handler", (_NotCrm,), {})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (404, b"", "answered 404"),
        (200, b"<html>hello</html>", "is not JSON"),
        (200, json.dumps({"hello": 1}).encode(), "lacks specVersion, profiles, limits"),
    ],
)
def test_not_a_crm_server(
    capsys: pytest.CaptureFixture[str],
    not_crm_server: tuple[str, type[_NotCrm]],
    status: int,
    body: bytes,
    fragment: str,
) -> None:
    """INF-1 pre-flight: an HTTP server without a valid info document → exit 2."""
    url, handler = not_crm_server
    handler.status, handler.body = status, body
    line = _one_line_exit_2(capsys, ["conform", "--url", url, "--jwt-secret", "s"])
    assert "not a CRM realtime server" in line and fragment in line
