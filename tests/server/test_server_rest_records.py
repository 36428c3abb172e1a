"""The REST API: REC-2..7, RED-1/RED-2 on REST, refusal precedence and headers (§15)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from e2e_clients import Target

from harness.client import Org
from harness.spec import REDACTED, ErrorCode


def _code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    code: str = body["error"]["code"]
    return code


async def test_create_get_list_update_archive_restore_delete(target: Target, org: Org) -> None:
    """REC-2..6: the whole life of a record over REST, versions rising by one."""
    owner = org.agent()
    path = target.collection("escrow")
    async with target.http() as http:
        created = await target.create(http, owner, "escrow", {"address": "1 Elm", "status": "open"})
        assert created["version"] == 1 and created["archived"] is False
        url = f"{path}/{created['id']}"
        got = await http.get(url, headers=target.headers(owner))
        assert got.json() == {"data": created}
        patched = await http.patch(url, json={"status": "pending"}, headers=target.headers(owner))
        assert patched.status_code == 200 and patched.json()["data"]["version"] == 2
        archived = await http.post(f"{url}/archive", headers=target.headers(owner))
        assert archived.status_code == 200 and archived.json()["data"]["archived"] is True
        listed = await http.get(path, headers=target.headers(owner))
        assert listed.json() == {"data": [], "total": 0}
        listed = await http.get(
            path, params={"includeArchived": "true"}, headers=target.headers(owner)
        )
        assert listed.json()["total"] == 1
        restored = await http.post(f"{url}/restore", headers=target.headers(owner))
        assert restored.json()["data"]["archived"] is False
        assert restored.json()["data"]["version"] == 4
        deleted = await http.delete(url, headers=target.headers(owner))
        assert deleted.status_code == 204 and deleted.content == b""
        gone = await http.get(url, headers=target.headers(owner))
        assert gone.status_code == 404 and _code(gone) == ErrorCode.NOT_FOUND


async def test_list_paging_and_bad_query(target: Target, org: Org) -> None:
    """REC-3, §15: newest first, limit/offset, and bad query values are 400 (never a 422)."""
    agent = org.agent()
    async with target.http() as http:
        ids = [
            (await target.create(http, agent, "lead", {"name": f"L{i}"}))["id"] for i in range(3)
        ]
        path = target.collection("lead")
        page = await http.get(path, params={"limit": 2}, headers=target.headers(agent))
        assert page.json()["total"] == 3
        assert [r["id"] for r in page.json()["data"]] == ids[::-1][:2]
        rest = await http.get(path, params={"limit": 2, "offset": 2}, headers=target.headers(agent))
        assert [r["id"] for r in rest.json()["data"]] == [ids[0]]
        for params in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"offset": -1},
                       {"offset": 2**63}, {"includeArchived": "yes"}):  # fmt: skip
            bad = await http.get(path, params=params, headers=target.headers(agent))
            assert bad.status_code == 400 and _code(bad) == ErrorCode.VALIDATION_ERROR, params


async def test_invisible_and_missing_records_answer_the_same_404(target: Target, org: Org) -> None:
    """REC-4: a record the caller may not see and one that does not exist: same 404 body."""
    owner, stranger = org.agent(), org.agent()
    async with target.http() as http:
        record = await target.create(http, owner, "client", {"name": "Cy"})
        hidden = await http.get(
            f"{target.collection('client')}/{record['id']}", headers=target.headers(stranger)
        )
        missing = await http.get(
            f"{target.collection('client')}/nope", headers=target.headers(stranger)
        )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


async def test_redaction_on_rest(target: Target, org: Org) -> None:
    """RED-1, RED-2: a teammate sees [REDACTED]; the owner the true value; absent stays absent."""
    owner, mate = org.team_of(2)
    async with target.http() as http:
        record = await target.create(http, owner, "escrow", {"address": "2 Oak", "myCommission": 7})
        assert record["myCommission"] == 7
        seen = await http.get(
            f"{target.collection('escrow')}/{record['id']}", headers=target.headers(mate)
        )
    assert seen.json()["data"]["myCommission"] == REDACTED
    assert "grossCommission" not in seen.json()["data"]


async def test_if_match_and_version_conflict(target: Target, org: Org) -> None:
    """REC-5, REC-6, §15: stale If-Match is 409 with currentVersion and changes nothing;
    `"n"`, `n`, `W/"n"` and `*` are accepted; garbage is 400."""
    agent = org.agent()
    async with target.http() as http:
        record = await target.create(http, agent, "lead", {"name": "Vee"})
        url = f"{target.collection('lead')}/{record['id']}"
        stale = await http.patch(
            url, json={"score": 5}, headers=target.headers(agent, **{"If-Match": '"9"'})
        )
        assert stale.status_code == 409 and _code(stale) == ErrorCode.VERSION_CONFLICT
        assert stale.json()["error"]["details"]["currentVersion"] == 1
        for version, form in ((1, '"1"'), (2, "2"), (3, 'W/"3"'), (4, "*")):
            ok = await http.patch(
                url, json={"score": version}, headers=target.headers(agent, **{"If-Match": form})
            )
            assert ok.status_code == 200, (form, ok.text)
        bad = await http.patch(
            url, json={"score": 1}, headers=target.headers(agent, **{"If-Match": "x"})
        )
        assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "If-Match"
        stale_delete = await http.delete(url, headers=target.headers(agent, **{"If-Match": "1"}))
        assert stale_delete.status_code == 409
        current = await http.get(url, headers=target.headers(agent))
        assert (current.json()["data"]["version"], current.json()["data"]["score"]) == (5, 4)


async def test_idempotent_create_replays(target: Target, org: Org) -> None:
    """REC-2, MUT-2: a repeat with one Idempotency-Key answers 200 + Idempotent-Replayed and
    creates nothing; a bad key is 400 naming the header."""
    agent = org.agent()
    path = target.collection("lead")
    headers = target.headers(agent, **{"Idempotency-Key": "k-1"})
    async with target.http() as http:
        first = await http.post(path, json={"name": "Ida"}, headers=headers)
        again = await http.post(path, json={"name": "Ida"}, headers=headers)
        assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        listed = await http.get(path, headers=target.headers(agent))
        assert listed.json()["total"] == 1
        record_url = f"{path}/{first.json()['data']['id']}"
        delete_headers = target.headers(agent, **{"Idempotency-Key": "k-2"})
        deleted = await http.delete(record_url, headers=delete_headers)
        deleted_again = await http.delete(record_url, headers=delete_headers)
        assert (deleted.status_code, deleted_again.status_code) == (204, 204)
        assert deleted_again.headers["Idempotent-Replayed"] == "true"
        long_key = await http.post(
            path, json={"name": "I"}, headers=target.headers(agent, **{"Idempotency-Key": "k" * 65})
        )
        assert long_key.status_code == 400
        assert long_key.json()["error"]["details"]["field"] == "Idempotency-Key"


async def test_validation_errors_name_the_field(target: Target, org: Org) -> None:
    """REC-7: unknown, read-only, wrong type, missing required, visibility in an update, not an
    object, broken JSON: 400 VALIDATION_ERROR, and nothing is created."""
    agent = org.agent()
    path = target.collection("escrow")
    async with target.http() as http:
        for body, field in [
            ({"address": "x", "bogus": 1}, "bogus"),
            ({"address": "x", "version": 3}, "version"),
            ({"address": "x", "purchasePrice": "lots"}, "purchasePrice"),
            ({"status": "open"}, "address"),
        ]:
            bad = await http.post(path, json=body, headers=target.headers(agent))
            assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == field
        for content in (b"[1, 2]", b"{broken"):
            bad = await http.post(path, content=content, headers=target.headers(agent))
            assert bad.status_code == 400 and _code(bad) == ErrorCode.VALIDATION_ERROR
        record = await target.create(http, agent, "escrow", {"address": "3 Ash"})
        url = f"{path}/{record['id']}"
        vis = await http.patch(url, json={"visibility": "private"}, headers=target.headers(agent))
        assert vis.status_code == 400 and vis.json()["error"]["details"]["field"] == "visibility"
        listed = await http.get(path, headers=target.headers(agent))
        assert listed.json()["total"] == 1


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 8192 + 1):
        yield b" " * 8192


async def test_payload_too_large_and_precedence(target: Target, org: Org) -> None:
    """REC-7, §15: a body over maxPayloadBytes is 413, declared or streamed; 401 comes before
    413, 413 before 404, 404 before 400."""
    agent = org.agent()
    path = target.collection("lead")
    big = b'{"name": "' + b"x" * 70_000 + b'"}'
    async with target.http() as http:
        declared = await http.post(path, content=big, headers=target.headers(agent))
        assert declared.status_code == 413 and _code(declared) == ErrorCode.PAYLOAD_TOO_LARGE
        streamed = await http.post(path, content=_chunks(70_000), headers=target.headers(agent))
        assert streamed.status_code == 413
        assert (await http.post(path, content=big)).status_code == 401
        missing = await http.patch(f"{path}/nope", content=big, headers=target.headers(agent))
        assert missing.status_code == 413
        missing = await http.patch(f"{path}/nope", json={"bogus": 1}, headers=target.headers(agent))
        assert missing.status_code == 404
        bad_header = await http.patch(
            f"{path}/nope", json={}, headers=target.headers(agent, **{"If-Match": "x"})
        )
        assert bad_header.status_code == 404
        big_unknown = await http.post("/api/v1/widgets", content=big, headers=target.headers(agent))
        assert big_unknown.status_code == 413
        unknown = await http.get("/api/v1/widgets", headers=target.headers(agent))
        assert unknown.status_code == 404 and _code(unknown) == ErrorCode.NOT_FOUND
