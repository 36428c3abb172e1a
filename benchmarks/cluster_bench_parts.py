"""Backends, socket clients and the PATCH writer of `bench_cluster.py` (kept apart so that each
file stays readable). Clients are raw Engine.IO websockets in a separate process: a full
python-socketio client per socket would cost more CPU than the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import httpx

from harness.client import Agent, TokenFactory
from harness.spec import API_PREFIX, COLLECTIONS, SOCKETIO_PATH

__all__ = [
    "EVENT",
    "ClientFleet",
    "Receipt",
    "SendKey",
    "Team",
    "create_records",
    "fresh_database",
    "private_redis",
    "write_at_rate",
]

EVENT = "lead:updated"
POSTGRES = os.environ.get("CRM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
Receipt = tuple[str, int, float]  # (record id, version, received at)
SendKey = tuple[str, int]  # (record id, version)


# -- backends ----------------------------------------------------------------------------------
@contextmanager
def private_redis() -> Iterator[tuple[str, int]]:
    """(url, pid) of a throwaway redis-server; never the shared one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.kill()
        proc.wait(5)


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"crm_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- clients (separate process) ----------------------------------------------------------------
class _Settled(list[str]):
    """Each socket's handshake outcome; `done` fires once every socket has one."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.done = asyncio.Event()

    def append(self, outcome: str) -> None:
        super().append(outcome)
        if len(self) >= self.expected:
            self.done.set()


async def _listen(
    session: aiohttp.ClientSession, url: str, token: str, out: list[Receipt], settled: _Settled
) -> None:
    ws_url = url.replace("http", "ws", 1) + f"{SOCKETIO_PATH}?EIO=4&transport=websocket"
    try:
        ws = await session.ws_connect(ws_url, heartbeat=None, max_msg_size=0)
        await ws.receive_str()  # the Engine.IO open packet
        await ws.send_str("40" + json.dumps({"token": token}))
        answer = await ws.receive_str()
        while answer.startswith("42"):  # a room broadcast may come before the CONNECT ack
            answer = await ws.receive_str()
    except Exception as exc:
        settled.append(f"failed: {exc!r}")
        raise
    settled.append("ok" if answer.startswith("40") else f"refused: {answer[:200]}")
    if not answer.startswith("40"):
        await ws.close()
        return
    async with ws:
        prefix = f'42["{EVENT}"'
        async for message in ws:
            if message.data == "2":
                await ws.send_str("3")  # pong (TRN-3)
            elif isinstance(message.data, str) and message.data.startswith(prefix):
                now = time.time()
                payload = json.loads(message.data[2:])[1]
                out.append((payload["entityId"], payload["version"], now))


async def _clients_main(pairs: list[tuple[str, str]], ready: Any, stop: Any) -> list[Receipt]:
    out: list[Receipt] = []
    settled = _Settled(len(pairs))
    all_settled = settled.done
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [asyncio.create_task(_listen(session, u, t, out, settled)) for u, t in pairs]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                await all_settled.wait()
        problems = sorted({s for s in settled if s != "ok"})
        if problems:
            print(f"clients: {len(problems)} kinds of connect failure, e.g. {problems[0]}")
        ready.put(settled.count("ok"))
        await asyncio.to_thread(stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def _clients_process(pairs: list[tuple[str, str]], ready: Any, results: Any, stop: Any) -> None:
    results.put(asyncio.run(_clients_main(pairs, ready, stop)))


@dataclass
class ClientFleet:
    """Sockets in another process; `receipts()` stops them and returns what they received."""

    pairs: list[tuple[str, str]]

    def __post_init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._results, self._stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(
            target=_clients_process, args=(self.pairs, self._ready, self._results, self._stop)
        )
        self._proc.start()
        self.connected: int = self._ready.get(timeout=120)

    def receipts(self) -> list[Receipt]:
        self._stop.set()
        got: list[Receipt] = self._results.get(timeout=120)
        self._proc.join(10)
        return got


# -- the writer ---------------------------------------------------------------------------------
@dataclass
class Team:
    writer: Agent
    members: list[Agent]
    record_id: str = ""


async def write_at_rate(
    urls: Sequence[str], teams: list[Team], tokens: TokenFactory, rate: float, seconds: float
) -> tuple[dict[SendKey, float], int]:
    """Open-loop PATCHes round-robin over nodes and teams; (send times by key, errors)."""
    path = f"{API_PREFIX}/{COLLECTIONS['lead']}"
    limits = httpx.Limits(max_connections=200)
    clients = [httpx.AsyncClient(base_url=u, timeout=10, limits=limits) for u in urls]
    headers = [{"Authorization": f"Bearer {tokens.mint(t.writer)}"} for t in teams]
    sent: dict[SendKey, float] = {}
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        team = i % len(teams)
        started = time.time()
        try:
            answer = await clients[i % len(clients)].patch(
                f"{path}/{teams[team].record_id}", json={"score": i % 100}, headers=headers[team]
            )
            sent[(teams[team].record_id, answer.json()["data"]["version"])] = started
        except (httpx.HTTPError, KeyError, ValueError):
            errors += 1

    tasks = []
    t0 = time.monotonic()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    return sent, errors


async def create_records(url: str, teams: list[Team], tokens: TokenFactory) -> None:
    path = f"{API_PREFIX}/{COLLECTIONS['lead']}"
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for team in teams:
            headers = {"Authorization": f"Bearer {tokens.mint(team.writer)}"}
            made = await http.post(path, json={"name": "bench", "score": 0}, headers=headers)
            team.record_id = made.json()["data"]["id"]
