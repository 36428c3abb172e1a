"""Key layout and Lua scripts of `RedisClusterState`: each check-then-write is one atomic
step in Redis.

Key layout (all under the cluster's prefix `P`):

- `P conn:{user}`        hash sid → node: the user's sockets across the cluster (LIM-3, COL-1)
- `P online`             set of users with at least one socket (COL-2)
- `P viewers:{record}`   hash sid → JSON viewer (COL-3)
- `P lock:{record}`      JSON lock, expiring by itself (SET PX, COL-4)
- `P lease:{name}`       a node's lease on a cluster-wide chore: an edit lock held by the node
- `P node:{node}:owned`  set of the entries a node created, so that a dead node's can be removed
- `P node:{node}:alive`  heartbeat key with a TTL; its absence means the node is dead
- `P nodes`              set of node names that registered

Owned-entry members are JSON arrays: `["c", user, sid]` or `["v", record, sid]`. Scripts build
some keys from the prefix (ARGV) instead of declaring them all in KEYS: fine on one Redis, which
is what the cluster uses (not Redis Cluster).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .base import EditLock, Viewer

__all__ = [
    "ACQUIRE_LOCK",
    "ADD_CONNECTION",
    "ADD_VIEWER",
    "REAP_NODE",
    "RELEASE_LOCK",
    "REMOVE_CONNECTION",
    "REMOVE_VIEWER",
    "RedisKeys",
    "lock_from",
    "viewers_from",
]


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Every key of one cluster, under its prefix (the layout above)."""

    prefix: str

    def conn(self, user_id: str) -> str:
        return f"{self.prefix}conn:{user_id}"

    def viewers(self, record_key: str) -> str:
        return f"{self.prefix}viewers:{record_key}"

    def lock(self, record_key: str) -> str:
        return f"{self.prefix}lock:{record_key}"

    def lease(self, name: str) -> str:
        return f"{self.prefix}lease:{name}"

    def owned(self, node_id: str) -> str:
        return f"{self.prefix}node:{node_id}:owned"

    def alive(self, node_id: str) -> str:
        return f"{self.prefix}node:{node_id}:alive"

    @property
    def online(self) -> str:
        return f"{self.prefix}online"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}nodes"


def viewers_from(raw_entries: Sequence[bytes | str]) -> list[Viewer]:
    """Distinct viewing users, ordered by user id so every node answers the same."""
    by_user: dict[str, Viewer] = {}
    for raw in raw_entries:
        data = json.loads(raw)
        by_user.setdefault(data["userId"], Viewer(data["userId"], data["name"]))
    return [by_user[user_id] for user_id in sorted(by_user)]


def lock_from(raw: bytes | str) -> EditLock:
    data = json.loads(raw)
    return EditLock(data["userId"], data["name"], float(data["expiresAt"]))


# KEYS: conn hash, owned set, online set. ARGV: sid, node, limit, user.
# Returns the new count, or -1 when the user is at the limit. Re-adding a known sid is a no-op.
ADD_CONNECTION = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HLEN', KEYS[1])
end
local n = redis.call('HLEN', KEYS[1])
if n >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], cjson.encode({'c', ARGV[4], ARGV[1]}))
redis.call('SADD', KEYS[3], ARGV[4])
return n + 1
"""

# KEYS: conn hash, owned set, online set. ARGV: sid, user. Returns the remaining count.
REMOVE_CONNECTION = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('SREM', KEYS[2], cjson.encode({'c', ARGV[2], ARGV[1]}))
end
local n = redis.call('HLEN', KEYS[1])
if n == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return n
"""

# KEYS: viewers hash, owned set. ARGV: sid, viewer JSON, record key. Returns every entry.
ADD_VIEWER = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], cjson.encode({'v', ARGV[3], ARGV[1]}))
return redis.call('HVALS', KEYS[1])
"""

# KEYS: viewers hash, owned set. ARGV: sid, record key. Returns every remaining entry.
REMOVE_VIEWER = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], cjson.encode({'v', ARGV[2], ARGV[1]}))
return redis.call('HVALS', KEYS[1])
"""

# KEYS: lock key. ARGV: user, new lock JSON, ttl ms.
# Returns {1, lock} when taken or refreshed, {0, holder's lock} when another user holds it.
ACQUIRE_LOCK = """
local current = redis.call('GET', KEYS[1])
if current then
  local holder = cjson.decode(current)
  if holder['userId'] ~= ARGV[1] then return {0, current} end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, ARGV[2]}
"""

# KEYS: lock key. ARGV: user. Deletes only the caller's own lock.
RELEASE_LOCK = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current)['userId'] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: owned set, alive key, nodes set. ARGV: prefix, node, force ('1' to reap a live node:
# a node cleaning its own leftovers at start). Returns -1 when the node is alive and not
# forced, else what was removed: {'c', user, sid, '1' if the user has no socket left} and
# {'v', record key, sid, viewer JSON} entries — so exactly one reaper can announce them.
REAP_NODE = """
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local removed = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local entry = cjson.decode(member)
  if entry[1] == 'c' then
    local conn = ARGV[1] .. 'conn:' .. entry[2]
    if redis.call('HGET', conn, entry[3]) == ARGV[2] then
      redis.call('HDEL', conn, entry[3])
      local offline = '0'
      if redis.call('HLEN', conn) == 0 then
        redis.call('SREM', ARGV[1] .. 'online', entry[2])
        offline = '1'
      end
      table.insert(removed, {'c', entry[2], entry[3], offline})
    end
  else
    local hash = ARGV[1] .. 'viewers:' .. entry[2]
    local viewer = redis.call('HGET', hash, entry[3])
    if viewer then
      redis.call('HDEL', hash, entry[3])
      table.insert(removed, {'v', entry[2], entry[3], viewer})
    end
  end
end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '1' then redis.call('SREM', KEYS[3], ARGV[2]) end
return removed
"""
