"""The backing-service fixtures give each test an isolated database and key prefix."""

from __future__ import annotations

import asyncpg
import redis

from tests.services import RedisNamespace


async def test_postgres_url_is_a_fresh_empty_database(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert tables == 0


def test_redis_namespace_is_private(redis_namespace: RedisNamespace) -> None:
    client = redis.Redis.from_url(redis_namespace.url)
    key = f"{redis_namespace.prefix}probe"
    client.set(key, "1")
    assert client.get(key) == b"1"
    client.close()
