"""Storage backends behind the `RecordStore` seam; `open_store` picks one by URL scheme.

`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (as SQLAlchemy spells them) is the
embedded single-node store; `postgresql://user@host:port/db[?schema=name]` is the cluster store.
This module is the only place that branches on the backend.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..domain.clock import Clock
from .base import (
    IdempotencyEntry,
    InvalidDatabaseUrl,
    NewEvent,
    OutboxKey,
    RecordStore,
    StoredEvent,
    StoreUnavailable,
    UnitOfWork,
)

__all__ = [
    "IdempotencyEntry",
    "InvalidDatabaseUrl",
    "NewEvent",
    "OutboxKey",
    "RecordStore",
    "StoreUnavailable",
    "StoredEvent",
    "UnitOfWork",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_store(
    database_url: str, *, clock: Clock | None = None, outbox_node: str | None = None
) -> RecordStore:
    """The backend for `database_url`, NOT yet connected: `await store.open()` connects and
    creates the schema (StoreUnavailable if unreachable). InvalidDatabaseUrl if no backend fits.

    `outbox_node`: the name of the cluster node this store serves; every event it commits is
    then also kept in the outbox until published (`realtime.outbox`). None (one node): no outbox.
    """
    if database_url.startswith(_SQLITE_PREFIX):
        from .sqlite import SqliteRecordStore

        path = database_url[len(_SQLITE_PREFIX) :]
        if not path or path == ":memory:":
            raise InvalidDatabaseUrl(
                f"{database_url!r}: give a file path, e.g. sqlite:///data/crm.sqlite3 "
                "(an in-memory database would lose everything on restart)"
            )
        return SqliteRecordStore(path, clock=clock, outbox_node=outbox_node)
    parts = urlsplit(database_url)
    if parts.scheme in _POSTGRES_SCHEMES and parts.netloc:
        from .postgres import PostgresRecordStore

        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in query if k == "schema"), "public")
        dsn = urlunsplit(
            parts._replace(query=urlencode([(k, v) for k, v in query if k != "schema"]))
        )
        return PostgresRecordStore(dsn, schema=schema, clock=clock, outbox_node=outbox_node)
    raise InvalidDatabaseUrl(
        f"unsupported database URL {database_url!r}: expected sqlite:///PATH "
        "or postgresql://USER@HOST:PORT/DB"
    )
