"""The load engine's own sockets over TLS (issue 11): the lean Socket.IO socket and the REST
pool verify the server's certificate against the run's CA, send the run's extra headers
and request the run's Socket.IO path. A gevent TLS stub records what reaches it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field

import gevent.ssl
import pytest
from gevent.server import StreamServer

from harness.client import ConnectionOptions
from harness.load.rest import RestPool
from harness.load.wire import LeanSocket
from harness.load.wire_errors import WireError
from tests.pki import TlsFiles

_REFUSED = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_JSON = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


@dataclass(slots=True)
class _Stub:
    url: str
    answer: bytes = _REFUSED
    heads: list[str] = field(default_factory=list)


@pytest.fixture
def stub(tls_files: TlsFiles) -> Iterator[_Stub]:
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls_files.cert), str(tls_files.key))
    found = _Stub("")

    def handle(sock: gevent.ssl.SSLSocket, _address: object) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        found.heads.append(data.split(b"\r\n\r\n")[0].decode())
        sock.sendall(found.answer)

    server = StreamServer(("127.0.0.1", 0), handle, ssl_context=context)
    server.start()
    found.url = f"https://127.0.0.1:{server.server_port}/base"
    try:
        yield found
    finally:
        server.stop(timeout=1)


def _options(ca: object) -> ConnectionOptions:
    headers = (("X-Api-Key", "k-1"),)
    return ConnectionOptions(ca_cert=str(ca), headers=headers, socketio_path="/rt/socket.io")


def test_the_socket_handshake_goes_over_tls_with_headers_and_path(
    stub: _Stub, tls_files: TlsFiles
) -> None:
    sock = LeanSocket(stub.url, lambda *_: None, _options(tls_files.ca))
    with pytest.raises(WireError, match=r"upgrade refused: HTTP/1\.1 403"):
        sock.connect("token", timeout=10)
    (head,) = stub.heads
    assert head.startswith("GET /base/rt/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
    assert "\r\nX-Api-Key: k-1" in head and "\r\nUpgrade: websocket" in head


def test_rest_calls_go_over_tls_with_headers(stub: _Stub, tls_files: TlsFiles) -> None:
    stub.answer = _JSON
    pool = RestPool(stub.url, concurrency=1, timeout=10, options=_options(tls_files.ca))
    try:
        result = pool.call("GET", "/api/v1/escrows", "tok-1")
    finally:
        pool.close()
    assert result.status == 200 and result.body == {"ok": True}
    (head,) = stub.heads
    assert head.startswith("GET /base/api/v1/escrows HTTP/1.1\r\n")
    assert "X-Api-Key: k-1" in head and "Authorization: Bearer tok-1" in head


def test_an_untrusted_certificate_is_refused_by_both(stub: _Stub, tls_files: TlsFiles) -> None:
    """A CA that did not sign the certificate: the handshake fails, nothing is sent."""
    options = _options(tls_files.other_ca)
    with pytest.raises(WireError, match="CERTIFICATE_VERIFY_FAILED"):
        LeanSocket(stub.url, lambda *_: None, options).connect("token", timeout=10)
    pool = RestPool(stub.url, concurrency=1, timeout=10, options=options)
    try:
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            pool.call("GET", "/api/v1/escrows", "tok-1")
    finally:
        pool.close()
    assert stub.heads == []


def test_insecure_reaches_an_untrusted_certificate(stub: _Stub) -> None:
    options = ConnectionOptions(insecure=True)
    stub.answer = _JSON
    pool = RestPool(stub.url, concurrency=1, timeout=10, options=options)
    try:
        assert pool.call("GET", "/x", "t").status == 200
    finally:
        pool.close()
    stub.answer = _REFUSED
    with pytest.raises(WireError, match="upgrade refused"):
        LeanSocket(stub.url, lambda *_: None, options).connect("token", timeout=10)
    assert len(stub.heads) == 2
