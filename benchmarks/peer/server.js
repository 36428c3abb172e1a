// A minimal in-memory socket.io fan-out server: the physical yardstick of
// benchmarks/bench_server_cpu.py (issue 13 item 3). It implements what the default
// `team_sync` load workload uses of SPEC.md -- info, HS256 auth in the handshake, rooms per
// stream with a gapless seq, replay from an in-memory log, record create/update/archive/
// restore/delete over REST and `mutate`, per-recipient redaction, notifications, presence,
// record rooms (view, typing), a per-socket token bucket -- and nothing is persisted.
// It is NOT a conformant server (little validation, no If-Match, no locks, no AI, no
// metrics): it measures what serving that workload costs when nothing is stored.
//
//   JWT_SECRET=... node server.js --port 8100 [--host 127.0.0.1]
"use strict";

const crypto = require("crypto");
const http = require("http");
const { Server } = require("socket.io");

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const PORT = Number(arg("--port", "8100"));
const HOST = arg("--host", "127.0.0.1");
const SECRET = process.env.JWT_SECRET || "";
const API = "/api/v1";
const COLLECTIONS = { escrows: "escrow", listings: "listing", clients: "client",
  appointments: "appointment", leads: "lead" };
const REQUIRED = { escrow: "address", listing: "address", client: "name",
  appointment: "title", lead: "name" };
const SENSITIVE = { escrow: ["myCommission", "grossCommission"],
  listing: ["listingCommission"], client: ["ssnLast4"], appointment: [], lead: [] };
const LIMITS = { eventsPerSecond: 10, burst: 20, floodDisconnectThreshold: 100,
  maxConnectionsPerUser: 5, maxPayloadBytes: 65536, replayWindowEvents: 1000,
  replayWindowSeconds: 300, idempotencyTtlSeconds: 86400, editLockTtlSeconds: 300,
  presenceGraceSeconds: 5 };
const HEARTBEAT = { pingInterval: 10000, pingTimeout: 5000 };
const INFO = JSON.stringify({ specVersion: "1.1", server: "node-peer/0.1", node: "peer-1",
  profiles: ["core", "collab"], heartbeat: HEARTBEAT, limits: LIMITS,
  sensitiveFields: SENSITIVE, auth: { algorithms: ["HS256"] } });

const records = new Map(); // id -> record (server fields + client fields)
const streams = new Map(); // stream -> { seq, log: [[seq, name, ownerId, owner, other, at]] }
const idempotent = new Map(); // `${sub}\n${key}` -> result of the first mutate
const online = new Map(); // sub -> { n, name, teamId, timer }
const viewers = new Map(); // record room -> Map(sid -> user)

const now = () => new Date().toISOString();
const err = (code, message, details) => ({ ok: false, error: details
  ? { code, message, details } : { code, message } });

// -- auth (AUTH-1, AUTH-2, §15 order: presence, signature and algorithm, exp, claims) --
function verify(token) {
  if (!token) return ["AUTH_REQUIRED", "Authentication required"];
  const parts = String(token).split(".");
  if (parts.length !== 3) return ["AUTH_INVALID", "Invalid token"];
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url"));
  } catch (e) { return ["AUTH_INVALID", "Invalid token"]; }
  const want = crypto.createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], "base64url");
  if (header.alg !== "HS256" || got.length !== want.length || !crypto.timingSafeEqual(got, want)) {
    return ["AUTH_INVALID", "Invalid token"];
  }
  if (typeof claims.exp !== "number") return ["AUTH_INVALID", "Invalid token"];
  if (claims.exp <= Date.now() / 1000) return ["AUTH_EXPIRED", "Token expired"];
  for (const k of ["sub", "teamId", "brokerId"]) {
    if (typeof claims[k] !== "string" || !claims[k]) return ["AUTH_INVALID", "Invalid token"];
  }
  return [null, { sub: claims.sub, teamId: claims.teamId, brokerId: claims.brokerId,
    name: claims.name || claims.sub, exp: claims.exp }];
}
const myStreams = (u) => [`broker:${u.brokerId}`, `team:${u.teamId}`, `user:${u.sub}`];

// -- records and events --
function visible(rec, u) {
  if (rec.visibility === "private") return rec.ownerId === u.sub;
  if (rec.visibility === "broker") return rec.brokerId === u.brokerId;
  return rec.teamId === u.teamId;
}
function redact(obj, entityType) {
  let out = obj;
  for (const f of SENSITIVE[entityType]) {
    if (f in obj) { if (out === obj) out = { ...obj }; out[f] = "[REDACTED]"; }
  }
  return out;
}
const forUser = (rec, u) => (rec.ownerId === u.sub ? rec : redact(rec, rec.entityType));
const streamOf = (rec) => (rec.visibility === "private" ? `user:${rec.ownerId}`
  : rec.visibility === "broker" ? `broker:${rec.brokerId}` : `team:${rec.teamId}`);

// Stores the event in its stream's log and emits it: one encoding per audience class
// (owner, everyone else), as a room broadcast.
function publish(name, stream, ownerId, owner, other) {
  let s = streams.get(stream);
  if (!s) { s = { seq: 0, log: [] }; streams.set(stream, s); }
  s.seq += 1;
  const seq = s.seq;
  const base = { eventId: crypto.randomUUID(), stream, seq };
  const o = { ...base, ...owner, timestamp: now() };
  const x = other === owner ? o : { ...base, ...other, timestamp: o.timestamp };
  s.log.push([seq, name, ownerId, o, x, Date.now()]);
  if (s.log.length > LIMITS.replayWindowEvents) s.log.shift();
  if (x === o) io.to(stream).emit(name, o);
  else {
    io.to(stream).except(`user:${ownerId}`).emit(name, x);
    io.to(`user:${ownerId}`).emit(name, o);
  }
}

function dataEvent(rec, u, action, changes, via) {
  const ev = { entityType: rec.entityType, entityId: rec.id, action, version: rec.version,
    changes, actorId: u.sub, teamId: rec.teamId, brokerId: rec.brokerId, via, taskId: null };
  const other = { ...ev, changes: redact(changes, rec.entityType) };
  const same = other.changes === changes;
  publish(`${rec.entityType}:${action}`, streamOf(rec), rec.ownerId, ev, same ? ev : other);
  if (action !== "created" && rec.ownerId !== u.sub) { // COL-7
    const kind = `record.${action}`;
    const n = { kind, entityType: rec.entityType, entityId: rec.id, actorId: u.sub,
      actorName: u.name, message: `${u.name}: ${kind}` };
    publish("notification", `user:${rec.ownerId}`, rec.ownerId, n, n);
  }
}

// One change, REST or mutate: [status, body or error] ([0, err] for refusals).
function change(u, op, entityType, id, changes, via) {
  const t = now();
  if (op === "create") {
    if (!changes || typeof changes !== "object" || !changes[REQUIRED[entityType]]) {
      return [400, err("VALIDATION_ERROR", "missing field", { field: REQUIRED[entityType] })];
    }
    const rec = { visibility: "team", ...changes, id: crypto.randomUUID(), entityType,
      version: 1, ownerId: u.sub, teamId: u.teamId, brokerId: u.brokerId, createdAt: t,
      updatedAt: t, archived: false };
    records.set(rec.id, rec);
    dataEvent(rec, u, "created", rec, via);
    return [201, rec];
  }
  const rec = records.get(id);
  if (!rec || rec.entityType !== entityType || !visible(rec, u)) {
    return [404, err("NOT_FOUND", "Not found")];
  }
  if (op === "delete") {
    records.delete(id);
    rec.version += 1;
    dataEvent(rec, u, "deleted", {}, via);
    return [204, { id }];
  }
  if (op === "update") {
    if (!changes || typeof changes !== "object" || !Object.keys(changes).length) {
      return [400, err("VALIDATION_ERROR", "empty change")];
    }
    Object.assign(rec, changes, { updatedAt: t });
    rec.version += 1;
    dataEvent(rec, u, "updated", { ...changes, updatedAt: t }, via);
    return [200, rec];
  }
  const archived = op === "archive";
  if (rec.archived !== archived) { // archiving an archived record changes nothing (§15)
    rec.archived = archived;
    rec.updatedAt = t;
    rec.version += 1;
    dataEvent(rec, u, archived ? "archived" : "restored", { archived, updatedAt: t }, via);
  }
  return [200, rec];
}

// -- REST --
function send(res, status, body) {
  if (status === 204) { res.writeHead(204); res.end(); return; }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json",
    "content-length": Buffer.byteLength(text) });
  res.end(text);
}
function onRequest(req, res) {
  const url = new URL(req.url, "http://peer");
  if (url.pathname === `${API}/realtime/info`) return send(res, 200, JSON.parse(INFO));
  if (url.pathname === "/healthz") return send(res, 200, { status: "ok" });
  const m = url.pathname.match(/^\/api\/v1\/(\w+)(?:\/([^/]+))?(?:\/(archive|restore))?$/);
  const entityType = m && COLLECTIONS[m[1]];
  if (!entityType) return send(res, 404, { error: { code: "NOT_FOUND", message: "Not found" } });
  const auth = req.headers.authorization || "";
  const [code, u] = verify(auth.startsWith("Bearer ") ? auth.slice(7) : "");
  if (code) return send(res, 401, { error: { code, message: u } });
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body = null;
    if (chunks.length) {
      try { body = JSON.parse(Buffer.concat(chunks)); } catch (e) {
        return send(res, 400, { error: { code: "VALIDATION_ERROR", message: "not JSON" } });
      }
    }
    const id = m[2];
    const op = m[3] || { POST: "create", PATCH: "update", DELETE: "delete" }[req.method];
    if (!op || (op === "create") === Boolean(id)) {
      return send(res, 404, { error: { code: "NOT_FOUND", message: "Not found" } });
    }
    const [status, out] = change(u, op, entityType, id, body, "api");
    if (out.ok === false) return send(res, status, { error: out.error });
    send(res, status, status === 204 ? null : { data: forUser(out, u) });
  });
}

// -- sockets --
const server = http.createServer(onRequest);
const io = new Server(server, { ...HEARTBEAT, transports: ["websocket", "polling"],
  maxHttpBufferSize: 1e6, serveClient: false });

io.use((socket, next) => {
  const hs = socket.handshake;
  const header = hs.headers.authorization || "";
  const token = hs.auth && hs.auth.token !== undefined ? hs.auth.token
    : header.startsWith("Bearer ") ? header.slice(7) : "";
  const [code, u] = verify(token);
  if (code) return next(Object.assign(new Error(u), { data: { code } }));
  const here = online.get(u.sub);
  if (here && here.n >= LIMITS.maxConnectionsPerUser) {
    return next(Object.assign(new Error("Too many connections"),
      { data: { code: "TOO_MANY_CONNECTIONS" } }));
  }
  socket.data.user = u;
  next();
});

function presence(u, up) {
  let p = online.get(u.sub);
  if (up) {
    if (!p) { p = { n: 0, user: u, timer: null }; online.set(u.sub, p); }
    if (p.timer) { clearTimeout(p.timer); p.timer = null; } else if (p.n === 0) {
      io.to(`team:${u.teamId}`).emit("user:presence:online",
        { userId: u.sub, name: u.name, teamId: u.teamId, timestamp: now() });
    }
    p.n += 1;
    return;
  }
  p.n -= 1;
  if (p.n > 0) return;
  p.timer = setTimeout(() => {
    online.delete(u.sub);
    io.to(`team:${u.teamId}`).emit("user:presence:offline",
      { userId: u.sub, name: u.name, teamId: u.teamId, timestamp: now() });
  }, LIMITS.presenceGraceSeconds * 1000);
}

function viewersOf(room) {
  const seen = new Map();
  for (const v of (viewers.get(room) || new Map()).values()) seen.set(v.sub, v.name);
  return [...seen].map(([userId, name]) => ({ userId, name }));
}
function setViewing(socket, room, rec, on) {
  let vs = viewers.get(room);
  const before = JSON.stringify(viewersOf(room));
  if (on) {
    if (!vs) {
      vs = Object.assign(new Map(), { entityType: rec.entityType, id: rec.id });
      viewers.set(room, vs);
    }
    vs.set(socket.id, socket.data.user);
    socket.join(room);
  } else if (vs) {
    vs.delete(socket.id);
    if (!vs.size) viewers.delete(room);
  }
  const list = viewersOf(room);
  if (JSON.stringify(list) !== before) {
    io.to(room).emit("user:viewing", { entityType: rec.entityType, entityId: rec.id,
      viewers: list, timestamp: now() });
  }
  return list;
}

function sync(u, payload) {
  const cursors = payload && payload.cursors;
  if (!cursors || typeof cursors !== "object") return [err("VALIDATION_ERROR", "cursors")];
  const mine = myStreams(u);
  if (Object.keys(cursors).some((s) => !mine.includes(s))) return [err("FORBIDDEN", "stream")];
  const replay = [];
  const out = {};
  for (const name of mine) {
    const s = streams.get(name) || { seq: 0, log: [] };
    if (!(name in cursors)) { out[name] = { head: s.seq, replayed: 0 }; continue; }
    const cursor = cursors[name];
    if (!Number.isInteger(cursor) || cursor < 0) return [err("VALIDATION_ERROR", "cursor")];
    const first = s.log.length ? s.log[0][0] : s.seq + 1;
    const next = s.log[cursor + 1 - first];
    const tooOld = next && Date.now() - next[5] > LIMITS.replayWindowSeconds * 1000;
    if (cursor > s.seq || cursor + 1 < first || tooOld) {
      out[name] = { head: s.seq, reset: true };
      continue;
    }
    const events = s.log.slice(cursor + 1 - first);
    for (const [, evName, ownerId, o, x] of events) replay.push([evName, ownerId === u.sub ? o : x]);
    out[name] = { head: s.seq, replayed: events.length };
  }
  return [{ ok: true, streams: out }, replay];
}

io.on("connection", (socket) => {
  const u = socket.data.user;
  socket.join(myStreams(u));
  presence(u, true);
  const expiry = setTimeout(() => {
    socket.emit("session:expired", { code: "AUTH_EXPIRED", timestamp: now() });
    socket.disconnect(true);
  }, Math.min(2 ** 31 - 1, Math.max(0, u.exp * 1000 - Date.now())));
  let tokens = LIMITS.burst;
  let filled = Date.now();
  const handlers = {
    sync: (p, ack) => {
      const [reply, replay] = sync(u, p);
      for (const [name, payload] of replay || []) socket.emit(name, payload);
      ack(reply);
    },
    mutate: (p, ack) => {
      const key = `${u.sub}\n${p && p.mutationId}`;
      const seen = idempotent.get(key);
      if (seen) return ack({ ...seen, duplicate: true });
      if (!p || !REQUIRED[p.entityType] || typeof p.mutationId !== "string") {
        return ack(err("VALIDATION_ERROR", "mutate"));
      }
      const [status, out] = change(u, p.op, p.entityType, p.id, p.changes, "socket");
      if (out.ok === false) return ack(out);
      const reply = { ok: true, data: status === 204 ? out : forUser(out, u) };
      idempotent.set(key, reply);
      ack({ ...reply, duplicate: false });
    },
    "record:view": (p, ack) => {
      const rec = p && records.get(p.entityId);
      if (!rec || !visible(rec, u)) return ack(err("NOT_FOUND", "Not found"));
      ack({ ok: true, viewers: setViewing(socket, `record:${rec.id}`, rec, true) });
    },
    "record:leave": (p, ack) => {
      const rec = p && records.get(p.entityId);
      if (rec) { setViewing(socket, `record:${rec.id}`, rec, false); socket.leave(`record:${rec.id}`); }
      ack({ ok: true });
    },
    typing: (p, ack) => {
      const rec = p && records.get(p.entityId);
      if (!rec || !visible(rec, u)) return ack(err("NOT_FOUND", "Not found"));
      io.to(`record:${rec.id}`).except(`user:${u.sub}`).emit("user:typing", {
        entityType: rec.entityType, entityId: rec.id, userId: u.sub, name: u.name,
        state: p.state, timestamp: now() });
      ack({ ok: true });
    },
  };
  socket.onAny((name, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : () => {};
    const t = Date.now(); // LIM-1 token bucket; refusals are answered, not processed
    tokens = Math.min(LIMITS.burst, tokens + ((t - filled) / 1000) * LIMITS.eventsPerSecond);
    filled = t;
    if (tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - tokens) / LIMITS.eventsPerSecond) * 1000);
      return ack(err("RATE_LIMITED", "Too many events", { retryAfterMs }));
    }
    tokens -= 1;
    const handler = handlers[name];
    if (!handler) return ack(err("UNKNOWN_EVENT", `Unknown event ${name}`));
    handler(args[0], ack);
  });
  socket.on("disconnecting", () => { // rooms are still joined here, not at "disconnect"
    clearTimeout(expiry);
    for (const room of socket.rooms) {
      const vs = viewers.get(room); // carries entityType and id: the record may be gone
      if (vs) setViewing(socket, room, vs, false);
    }
    presence(u, false);
  });
});

server.listen(PORT, HOST, () => {
  // The benchmark waits for this line: the port is open.
  console.log(`peer listening on http://${HOST}:${PORT} pid ${process.pid}`);
});
