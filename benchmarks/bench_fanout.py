"""Fan-out on one node: 2,000 connected sockets, a 200-member team, one-field `updated` events.

Prints p50/p95/p99 send-to-receive latency (from just before the REST PATCH is sent to each
team member's receipt of the event) and the wire bytes of one `updated` event as a teammate
receives it. Targets: p99 < 50 ms, < 1 KiB.

Clients run in separate processes and speak Engine.IO v4 / Socket.IO v5 over raw websockets
(a full python-socketio client per socket would cost more CPU than the server under test).

    .venv/bin/python benchmarks/bench_fanout.py [--sockets 2000] [--team 200] [--updates 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import aiohttp
import httpx
import psutil

from harness.client import Org, TokenFactory
from harness.spec import API_PREFIX, COLLECTIONS, SOCKETIO_PATH
from reference_server.config import ServerSettings
from reference_server.launcher import start_server

__all__ = ["main"]

EVENT = "lead:updated"
_CONNECT_CONCURRENCY = 50


@dataclass(frozen=True, slots=True)
class ClientJob:
    url: str
    tokens: list[str]
    recorders: int  # the first `recorders` tokens are team members whose receipts count


Receipts = list[tuple[int, float, int]]  # (version, received at, frame bytes)


@dataclass(slots=True)
class _Settled:
    """Counts sockets whose handshake ended either way; `all_done` fires when none is left."""

    expected: int
    connected: int = 0
    failed: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def one(self, ok: bool) -> None:
        if ok:
            self.connected += 1
        else:
            self.failed += 1
        if self.connected + self.failed >= self.expected:
            self.all_done.set()


async def _socket(
    session: aiohttp.ClientSession, ws_url: str, token: str, record: bool,
    receipts: Receipts, gate: asyncio.Semaphore, settled: _Settled,
) -> None:  # fmt: skip
    try:
        async with gate:
            ws = await session.ws_connect(ws_url, heartbeat=None, max_msg_size=0)
            await ws.receive_str()  # Engine.IO open packet
            await ws.send_str("40" + json.dumps({"token": token}))
            answer = await ws.receive_str()
            if not answer.startswith("40"):
                raise RuntimeError(f"refused: {answer}")
    except Exception:
        settled.one(ok=False)
        raise
    settled.one(ok=True)
    prefix = f'42["{EVENT}"'
    try:
        async for message in ws:
            data = message.data
            if data == "2":
                await ws.send_str("3")  # answer the server's ping (TRN-3)
            elif record and isinstance(data, str) and data.startswith(prefix):
                received = time.time()
                version = json.loads(data[2:])[1]["version"]
                receipts.append((version, received, len(data.encode())))
    finally:
        await ws.close()


async def _client_main(job: ClientJob, ready: Any, stop_flag: MpEvent) -> Receipts:
    ws_url = job.url.replace("http", "ws", 1) + f"{SOCKETIO_PATH}?EIO=4&transport=websocket"
    receipts: Receipts = []
    settled = _Settled(len(job.tokens))
    gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(
                _socket(session, ws_url, t, i < job.recorders, receipts, gate, settled)
            )
            for i, t in enumerate(job.tokens)
        ]
        await settled.all_done.wait()
        ready.put(settled.connected)
        await asyncio.to_thread(stop_flag.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return receipts


def _client_process(job: ClientJob, ready: Any, results: Any, stop_flag: MpEvent) -> None:
    results.put(asyncio.run(_client_main(job, ready, stop_flag)))


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


async def _drive(
    url: str, tokens: TokenFactory, owner: Any, updates: int, rate: float
) -> dict[int, float]:
    headers = {"Authorization": f"Bearer {tokens.mint(owner)}"}
    path = f"{API_PREFIX}/{COLLECTIONS['lead']}"
    sent: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        created = await http.post(path, json={"name": "bench", "score": 0}, headers=headers)
        record_id = created.json()["data"]["id"]
        for i in range(updates):
            started = time.time()
            response = await http.patch(
                f"{path}/{record_id}", json={"score": i % 100}, headers=headers
            )
            sent[response.json()["data"]["version"]] = started
            await asyncio.sleep(max(0.0, 1 / rate - (time.time() - started)))
    return sent


@contextmanager
def _server(url: str | None, secret: str, pid: int | None) -> Iterator[tuple[str, int | None]]:
    if url:
        yield url.rstrip("/"), pid
        return
    with start_server(ServerSettings(port=0, jwt_secret=secret)) as server:
        yield server.url, server.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--team", type=int, default=200)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="updates per second")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--jwt-secret", help="the secret of --url's server")
    parser.add_argument("--server-pid", type=int, help="--url's pid, for its CPU figure")
    args = parser.parse_args()

    secret = args.jwt_secret or secrets.token_hex(32)
    tokens = TokenFactory(secret)
    org = Org(seed=1)
    team = org.team_of(args.team)
    others = [org.agent() for _ in range(args.sockets - args.team)]  # each in a team of one
    ctx = mp.get_context("spawn")
    ready, results, stop_flag = ctx.Queue(), ctx.Queue(), ctx.Event()
    with _server(args.url, secret, args.server_pid) as (url, pid):
        procs = []
        for p in range(args.processes):
            mine_team = team[p :: args.processes]
            mine_others = others[p :: args.processes]
            job = ClientJob(url, [tokens.mint(a) for a in mine_team + mine_others], len(mine_team))
            proc = ctx.Process(target=_client_process, args=(job, ready, results, stop_flag))
            proc.start()
            procs.append(proc)
        started = time.time()
        connected = sum(ready.get(timeout=300) for _ in procs)
        print(f"connected sockets: {connected} in {time.time() - started:.1f} s "
              f"(team {args.team}, {args.processes} client processes)")  # fmt: skip
        server_process = psutil.Process(pid) if pid else None
        cpu_before = sum(server_process.cpu_times()[:2]) if server_process else 0.0
        sent = asyncio.run(_drive(url, tokens, team[0], args.updates, args.rate))
        time.sleep(0.5)
        cpu_after = sum(server_process.cpu_times()[:2]) if server_process else float("nan")
        server_cpu_ms = (cpu_after - cpu_before) * 1000
        time.sleep(2.0)
        stop_flag.set()
        receipts = [r for _ in procs for r in results.get(timeout=60)]
        for proc in procs:
            proc.join(10)
    latencies = sorted((received - sent[v]) * 1000 for v, received, _ in receipts if v in sent)
    expected = len(sent) * args.team  # the owner's own socket receives it too
    sizes = [size for v, _, size in receipts if v in sent]
    print(f"updates: {len(sent)} at {args.rate:g}/s; deliveries to team members: {len(latencies)} "
          f"(expected {expected})")  # fmt: skip
    p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
    print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {latencies[-1]:.1f}")
    print(f"server CPU per update (PATCH + store + fan-out to {args.team}): "
          f"{server_cpu_ms / len(sent):.1f} ms; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print(f"wire bytes of one one-field `{EVENT}` frame: {max(sizes)} (target < 1024)")


if __name__ == "__main__":
    main()
