"""Users' tokens in the load engine (issue 11): one per user, minted again before the `exp`
it carries, a failing source reported once per process; the target reaches every Locust
worker from the config file alone (secret resolved, files carried inline)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from harness.client import Agent, KeyTokens, TokenFactory, TokenSourceError
from harness.load import agent as agent_module
from harness.load.agent import LoadAgent
from harness.load.process_context import ProcessContext
from harness.load.target import worker_connection, worker_target
from harness.load.wire_errors import TokenUnavailable
from harness.load.workload import Workload
from tests.pki import TlsFiles, make_jwt_keys


@dataclass(slots=True)
class _Source(TokenFactory):
    """Tokens living `lifetime_s` on the fake clock, like an identity provider's."""

    clock: list[float] = field(default_factory=lambda: [1_000_000.0])
    lifetime_s: float = 600.0
    fail: bool = False
    minted: list[str] = field(default_factory=list)

    def sign(self, claims: dict[str, Any]) -> str:
        if self.fail:
            raise TokenSourceError("--token-cmd 'idp' exited with code 1")
        token = super(_Source, self).sign({**claims, "exp": int(self.clock[0] + self.lifetime_s)})
        self.minted.append(token)
        return token


class _Clock:
    def __init__(self, now: list[float]) -> None:
        self.now = now

    def time(self) -> float:
        return self.now[0]


def _agent(source: _Source, monkeypatch: pytest.MonkeyPatch) -> tuple[LoadAgent, ProcessContext]:
    monkeypatch.setattr(agent_module, "time", _Clock(source.clock))
    ctx = ProcessContext(url="http://127.0.0.1:1", tokens=source, workload=Workload(),
                         run_id="r", scenario="team_sync", worker=0, workers=1,
                         profiles=["core"], rest=None)  # fmt: skip
    return LoadAgent(ctx, index=0), ctx


def test_a_token_is_minted_once_and_again_before_its_exp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = _Source("s" * 32)
    agent, _ = _agent(source, monkeypatch)
    first = agent.token()
    source.clock[0] += 500  # 100 s left: more than the 60 s margin
    assert agent.token() == first and len(source.minted) == 1
    source.clock[0] += 50  # 50 s left
    assert agent.token() != first and len(source.minted) == 2


def test_a_failing_source_keeps_a_valid_token_then_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _Source("s" * 32)
    agent, ctx = _agent(source, monkeypatch)
    held = agent.token()
    source.fail = True
    source.clock[0] += 580  # renewal due, the held token still good
    assert agent.token() == held
    source.clock[0] += 30  # expired
    with pytest.raises(TokenUnavailable, match="exited with code 1"):
        agent.token()
    with pytest.raises(TokenUnavailable):  # another user of the process: no second line
        LoadAgent(ctx, index=1).token()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["crm-harness load: users' tokens: --token-cmd 'idp' exited with code 1"]


def test_the_worker_target_needs_only_the_config_file(tls_files: TlsFiles, tmp_path: Path) -> None:
    """A remote worker has neither the controller's files nor its JWT_SECRET: the config
    carries them; the worker's connection mints what the controller's does."""
    keys = make_jwt_keys(tmp_path / "jwt", "ES256", kid="k-7")
    ca = tmp_path / "ca.pem"
    shutil.copy(tls_files.ca, ca)
    values = {"jwt_private_key": str(keys.private), "jwt_kid": "k-7", "ca_cert": str(ca),
              "header": ["X-Api-Key: k-1"], "socketio_path": "/rt/socket.io"}  # fmt: skip
    data = json.loads(json.dumps(worker_target(values, KeyTokens.from_file(keys.private))))
    keys.private.unlink()
    ca.unlink()
    connection = worker_connection(data, ["https://127.0.0.1:1"])
    token = connection.tokens.mint(Agent("u", "t", "b", "n"))
    assert jwt.get_unverified_header(token)["kid"] == "k-7"
    jwt.decode(token, keys.public.read_text(), algorithms=["ES256"])
    options = connection.options
    assert options.headers == (("X-Api-Key", "k-1"),) and options.socketio_path == "/rt/socket.io/"
    assert options.ca_cert is not None and Path(options.ca_cert).read_bytes() == (
        tls_files.ca.read_bytes()
    )


def test_the_resolved_secret_travels_not_the_environment() -> None:
    data = worker_target({"jwt_secret": None}, TokenFactory("from-env-" + "x" * 32))
    connection = worker_connection(json.loads(json.dumps(data)), ["http://127.0.0.1:1"])
    assert isinstance(connection.tokens, TokenFactory)
    assert connection.tokens.secret == "from-env-" + "x" * 32
