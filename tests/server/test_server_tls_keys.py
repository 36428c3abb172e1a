"""The reference server as deployments run it: HTTPS/WSS itself (`--tls-cert/--tls-key`) and
RS256/ES256 tokens verified with a public key or a JWKS (spec 1.1 §3, AUTH-1, AUTH-2, AUTH-4,
INF-1), one node and a cluster; bad options fail in one line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from harness.cli import main as cli_main
from harness.client import (
    ConnectionOptions,
    KeyTokens,
    Org,
    RealtimeClient,
    RestClient,
    TokenFactory,
    claims_for,
    forged_hs256,
)
from harness.spec import INFO_PATH, ClientEvent, ErrorCode
from reference_server.cluster import start_cluster
from reference_server.launcher import RunningServer
from tests.pki import JwtKeys, TlsFiles, serve_jwks
from tests.services import RedisNamespace


async def _info(url: str, options: ConnectionOptions) -> dict[str, Any]:
    async with httpx.AsyncClient(verify=options.ssl_context()) as http:
        response = await http.get(url + INFO_PATH)
    info: dict[str, Any] = response.json()
    return info


async def _refusal(url: str, token: str, options: ConnectionOptions) -> str | None:
    client = RealtimeClient(url, token, options=options)
    failure = await client.try_connect()
    await client.disconnect()
    return failure.code if failure else None


async def test_https_server_with_rs256_public_key(
    tls_rs256_server: RunningServer, tls_files: TlsFiles, rs256_keys: JwtKeys
) -> None:
    """INF-1, AUTH-1, AUTH-2, AUTH-4 over HTTPS/WSS: info advertises RS256; an RS256 token
    connects and calls REST; alg none, the secret kind, HS256 signed with the public key's text
    and another key are refused on the socket, over REST and by auth:refresh."""
    url = tls_rs256_server.url
    assert url.startswith("https://")
    options = ConnectionOptions(ca_cert=str(tls_files.ca))
    assert (await _info(url, options))["auth"] == {"algorithms": ["RS256"]}
    agent = Org().agent()
    good = rs256_keys.tokens.mint(agent)
    forged = {
        "alg none": jwt.encode(claims_for(agent), None, algorithm="none"),
        "secret kind": TokenFactory("x" * 40).mint(agent),
        "key confusion": forged_hs256(rs256_keys.public.read_bytes(), claims_for(agent)),
        "another key": KeyTokens.generate("RS256").mint(agent),
    }
    async with RealtimeClient(url, good, options=options) as client:
        ack = await client.request(ClientEvent.SYNC, {"cursors": {}})
        assert ack.ok, ack.raw
        async with RestClient(url, good, options=options) as rest:
            assert (await rest.list("escrow")).status == 200
        for label, token in forged.items():
            assert await _refusal(url, token, options) == ErrorCode.AUTH_INVALID, label
            async with RestClient(url, token, options=options) as rest:
                assert (await rest.list("escrow")).code == ErrorCode.AUTH_INVALID, label
            answer = await client.request(ClientEvent.AUTH_REFRESH, {"token": token})
            assert answer.code == ErrorCode.AUTH_INVALID, label
        renewed = rs256_keys.tokens.mint(agent, ttl_seconds=7200)
        assert (await client.request(ClientEvent.AUTH_REFRESH, {"token": renewed})).ok


async def test_https_certificates_are_verified(
    tls_rs256_server: RunningServer, tls_files: TlsFiles, rs256_keys: JwtKeys
) -> None:
    """TLS: a client that does not trust the server's CA cannot connect (REST nor socket);
    `insecure` connects without verifying."""
    url = tls_rs256_server.url
    token = rs256_keys.tokens.mint(Org().agent())
    untrusting = ConnectionOptions(ca_cert=str(tls_files.other_ca))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await _info(url, untrusting)
    client = RealtimeClient(url, token, options=untrusting)
    failure = await client.try_connect()
    assert failure is not None and failure.code is None  # a transport failure, no refusal
    async with RealtimeClient(url, token, options=ConnectionOptions(insecure=True)) as insecure:
        assert insecure.connected


@pytest.mark.slow
@pytest.mark.cluster
async def test_tls_cluster_verifies_jwks_tokens_on_every_node(
    tls_files: TlsFiles, postgres_url: str, redis_namespace: RedisNamespace
) -> None:
    """CLU-1 with §3 keys: two HTTPS nodes on one JWKS; a key the provider adds later (a
    rotation) verifies on both after one refetch each; an unknown kid is refused."""
    first = KeyTokens.generate("ES256", "first")
    rotated = KeyTokens.generate("ES256", "rotated")
    options = ConnectionOptions(ca_cert=str(tls_files.ca))
    with serve_jwks(first) as provider, start_cluster(
        2, redis_namespace.url, postgres_url, redis_prefix=redis_namespace.prefix,
        jwks_url=provider.url, jwks_refresh_s=0.2, tls_cert=str(tls_files.cert),
        tls_key=str(tls_files.key),
    ) as cluster:  # fmt: skip
        agent = Org().agent()
        for url in cluster.urls:
            assert (await _info(url, options))["auth"] == {"algorithms": ["ES256"]}
            assert await _refusal(url, first.mint(agent), options) is None
        fetched_at_start = provider.fetches
        provider.keys.append(rotated)
        await asyncio.sleep(0.25)  # past the nodes' refresh interval since their last fetch
        for url in cluster.urls:
            assert await _refusal(url, rotated.mint(agent), options) is None
            unknown = rotated.with_kid("nobody").mint(agent)
            assert await _refusal(url, unknown, options) == ErrorCode.AUTH_INVALID
        assert fetched_at_start == 2 and provider.fetches >= 4  # one refetch per node at least


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "{missing}", "--tls-key", "{key}"], "no such file"),
        (["--tls-cert", "{ca_not_pem}", "--tls-key", "{key}"], "not a PEM certificate"),
        (["--jwt-public-key", "{missing}"], "cannot read"),
        (["--jwt-public-key", "{ca_not_pem}"], "not a PEM public key"),
        (["--jwt-public-key", "{public}", "--jwks-url", "http://x/jwks"], "give one of them"),
        (["--jwt-public-key", "{public}", "--jwt-secret", "s"], "one algorithm"),
        (["--jwks-url", "ftp://x/jwks"], "http:// or https://"),
        (["--jwks-url", "http://127.0.0.1:1/jwks"], "cannot use the JWKS"),
        (["--jwks-url", "http://x/jwks", "--jwks-refresh-interval", "0"], "must be > 0"),
    ],
)
def test_bad_tls_and_key_options_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tls_files: TlsFiles,
    rs256_keys: JwtKeys,
    args: list[str],
    fragment: str,
) -> None:
    """One clear line, exit 2, nothing started."""
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate")
    paths = {"cert": tls_files.cert, "key": tls_files.key, "missing": tmp_path / "nope.pem",
             "ca_not_pem": not_pem, "public": rs256_keys.public}  # fmt: skip
    filled = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    code = cli_main(["serve", "--port", "0", "--data-dir", str(tmp_path), *filled])
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("crm-harness serve: ") and fragment in lines[0], lines[0]


def test_settings_round_trip_through_the_launcher(tls_files: TlsFiles, rs256_keys: JwtKeys) -> None:
    """The launcher and `serve --nodes` rebuild a node's TLS and key settings exactly."""
    import argparse

    from reference_server.config import add_server_options, settings_from_args

    parser = argparse.ArgumentParser()
    add_server_options(parser)
    for extra in (
        ["--jwt-public-key", str(rs256_keys.public)],
        ["--jwks-url", "http://idp.test/jwks", "--jwks-refresh-interval", "2.5"],
    ):
        args = ["--tls-cert", str(tls_files.cert), "--tls-key", str(tls_files.key), *extra]
        settings = settings_from_args(parser.parse_args(args), {})
        assert settings_from_args(parser.parse_args(settings.to_cli_args()), {}) == settings
    assert settings.scheme == "https"
