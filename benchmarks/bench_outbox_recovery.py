"""From a node's crash between commit and publish to the last live delivery of what it held.

A 3-node cluster (a private `redis-server`, a fresh PostgreSQL database) is started through the
test entry point `tests/cluster/crash_node.py`: the crash point exists only there. Sockets of
one team sit on the two nodes that will survive; a writer keeps changes of that team flowing
through the survivors (the running load). Then the victim is armed to die after committing
`--held` changes without publishing them, and gets them. For every survivor socket and every
held event: when its live copy arrived, minus the crash time (written by the victim just before
it SIGKILLs itself; one machine, one clock). A run's figure is the latest of them. The victim
is started again between runs.

Runs alternate between two victims: a node that does not hold the outbox relay lease (the
holder publishes the held events once they are `grace_seconds` overdue) and the lease holder
itself (another node takes the lease once it lapses, after up to `lease_seconds`).

    .venv/bin/python benchmarks/bench_outbox_recovery.py [--runs 6] [--sockets 10] [--held 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from cluster_bench_parts import fresh_database, private_redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cluster"))
from crash_kit import CrashableNode, CrashJournal

from harness.client import Agent, Org, RealtimeClient, RestClient, TokenFactory
from harness.spec import EntityType
from reference_server.cluster import RunningCluster, start_cluster
from reference_server.realtime.outbox import RELAY_LEASE, OutboxTimings

__all__ = ["main"]

PREFIX = "crm:"
SECRET = secrets.token_hex(16)
DEADLINE_S = 30.0


@dataclass(frozen=True)
class Run:
    victim: str
    held_lease: bool
    held: int
    deliveries: int
    first_s: float
    median_s: float
    last_s: float
    duplicates: int


async def _lease_holder(redis_url: str) -> str:
    raw = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while (value := await raw.get(f"{PREFIX}lease:{RELAY_LEASE}")) is None:
            if time.monotonic() > deadline:
                raise SystemExit("nobody holds the relay lease")
            await asyncio.sleep(0.1)
    finally:
        await raw.aclose()
    return str(json.loads(value)["userId"])


async def _write_steadily(rests: list[RestClient], rate: float, stop: asyncio.Event) -> int:
    """Creates through the survivors at `rate` per second until `stop`; how many succeeded."""
    made, index = 0, 0
    while not stop.is_set():
        started = time.monotonic()
        rest = rests[index % len(rests)]
        index += 1
        try:
            answer = await rest.create(EntityType.LEAD, {"name": f"Load {index}"})
            made += answer.status == 201
        except httpx.HTTPError:
            pass
        await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return made


async def _one_run(cluster: RunningCluster, redis_url: str, args: argparse.Namespace,
                   on_holder: bool) -> Run:  # fmt: skip
    nodes = [n for n in cluster.nodes if isinstance(n, CrashableNode)]
    holder = await _lease_holder(redis_url)
    victim = next(n for n in nodes if (n.settings.node_name == holder) == on_holder)
    survivors = [n for n in nodes if n is not victim]
    org = Org()
    team = org.team()
    tokens = TokenFactory(SECRET)
    async with AsyncExitStack() as stack:
        clients: list[RealtimeClient] = []
        for i in range(args.sockets * len(survivors)):
            client = RealtimeClient(survivors[i % len(survivors)].url,
                                    tokens.mint(org.agent(team)), label=f"s{i}")  # fmt: skip
            await client.connect()
            stack.push_async_callback(client.disconnect)
            clients.append(client)
        writers = [await _rest(stack, tokens, org.agent(team), n.url) for n in survivors]
        stop = asyncio.Event()
        load = asyncio.create_task(_write_steadily(writers, args.rate, stop))
        await asyncio.sleep(1.0)  # the load is flowing before the crash
        journal = await _crash(stack, tokens, org.agent(team), victim, args.held)
        arrivals = await _arrivals(clients, journal)
        stop.set()
        await load
    await asyncio.to_thread(victim.start)
    delays = sorted(t - journal.crashed_at for t in arrivals)
    duplicates = sum(len(c.tracker.duplicates()) for c in clients)
    return Run(victim.settings.node_name, on_holder, len(journal.events), len(delays),
               delays[0], statistics.median(delays), delays[-1], duplicates)  # fmt: skip


async def _rest(stack: AsyncExitStack, tokens: TokenFactory, agent: Agent, url: str) -> RestClient:
    rest = RestClient(url, tokens.mint(agent))
    stack.push_async_callback(rest.aclose)
    return rest


async def _crash(stack: AsyncExitStack, tokens: TokenFactory, agent: Agent,
                 victim: CrashableNode, held: int) -> CrashJournal:  # fmt: skip
    rest = await _rest(stack, tokens, agent, victim.url)
    victim.arm("before-publish", held)
    attempts = [
        asyncio.create_task(rest.create(EntityType.LEAD, {"name": f"Held {i}"}))
        for i in range(held)
    ]
    journal = await asyncio.to_thread(victim.wait_dead, DEADLINE_S)
    await asyncio.gather(*attempts, return_exceptions=True)
    return journal


async def _arrivals(clients: list[RealtimeClient], journal: CrashJournal) -> list[float]:
    """When each survivor socket received each held event live (first copy)."""
    ids = {e.event_id for e in journal.events}
    out: list[float] = []
    for client in clients:
        got = await client.wait_for_count(
            lambda e: isinstance(e.payload, dict) and e.payload.get("eventId") in ids,
            len(ids), DEADLINE_S,
        )  # fmt: skip
        first: dict[str, float] = {}
        for event in got:
            first.setdefault(str(event.payload["eventId"]), event.received_at)
        if set(first) != ids:
            raise SystemExit(f"{client.label}: {len(ids - set(first))} held events never arrived")
        out.extend(first.values())
    return out


async def _bench(cluster: RunningCluster, redis_url: str, args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    for index in range(args.runs):
        run = await _one_run(cluster, redis_url, args, on_holder=index % 2 == 1)
        runs.append(run)
        print(f"run {index + 1}: victim {run.victim} "
              f"({'held' if run.held_lease else 'did not hold'} the lease), "
              f"{run.held} events held, {run.deliveries} deliveries owed: first "
              f"{run.first_s:.2f} s, median {run.median_s:.2f} s, last {run.last_s:.2f} s "
              f"after the crash; duplicates {run.duplicates}", flush=True)  # fmt: skip
        await asyncio.sleep(OutboxTimings().lease_seconds)  # the cluster settles
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--sockets", type=int, default=10, help="sockets per surviving node")
    parser.add_argument("--held", type=int, default=5, help="events the victim never publishes")
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second meanwhile")
    args = parser.parse_args()
    timings = OutboxTimings()
    print(f"outbox relay: grace {timings.grace_seconds} s, tick {timings.tick_seconds} s, "
          f"lease {timings.lease_seconds} s", flush=True)  # fmt: skip
    with private_redis() as (redis_url, _), fresh_database() as database_url:
        cluster = start_cluster(3, redis_url, database_url, redis_prefix=PREFIX,
                                jwt_secret=SECRET, node_class=CrashableNode)  # fmt: skip
        with cluster:
            runs = asyncio.run(_bench(cluster, redis_url, args))
    for held_lease in (False, True):
        group = [r.last_s for r in runs if r.held_lease is held_lease]
        if group:
            who = "the lease holder" if held_lease else "another node"
            print(f"victim {who}: crash to last recovered delivery, median "
                  f"{statistics.median(group):.2f} s, max {max(group):.2f} s "
                  f"over {len(group)} runs")  # fmt: skip
    print(f"duplicates over all runs: {sum(r.duplicates for r in runs)}")


if __name__ == "__main__":
    main()
