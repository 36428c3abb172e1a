"""Input no store can keep (NUL, lone surrogates) is refused cleanly on BOTH backends (LIM-5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from domain_doubles import FakeClock, LockTable, RecordingPublisher

from harness.spec import ErrorCode, Limits, Op
from reference_server.domain.contracts import Actor, ChangeRequest, DomainError
from reference_server.domain.records import RecordService
from reference_server.store import open_store
from tests.store.store_backends import BACKENDS, backend_url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path, "hostile")


@pytest.fixture
async def service(store_url: str) -> AsyncIterator[RecordService]:
    url = store_url
    clock = FakeClock()
    store = open_store(url, clock=clock)
    await store.open()
    try:
        yield RecordService(store, LockTable(), RecordingPublisher(), Limits(), clock)
    finally:
        await store.close()


@pytest.mark.parametrize("record_id", ["a\x00b", "a\udc80b", "\ud800"])
async def test_unstorable_record_ids_are_not_found(
    service: RecordService, alice: Actor, record_id: str
) -> None:
    """REC-4, LIM-5: an id no record can have is NOT_FOUND, not a store error."""
    for op in (Op.UPDATE, Op.ARCHIVE, Op.DELETE):
        with pytest.raises(DomainError) as caught:
            await service.change(alice, ChangeRequest(op, "escrow", record_id, {"notes": "x"}))
        assert caught.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(DomainError) as caught:
        await service.get(alice, "escrow", record_id)
    assert caught.value.code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize("key", ["k\x00", "k\ud800"])
async def test_unstorable_keys_are_validation_errors(
    service: RecordService, alice: Actor, key: str
) -> None:
    """MUT-2, §15, LIM-5: a key that cannot be stored is a VALIDATION_ERROR naming the key."""
    request = ChangeRequest(Op.CREATE, "escrow", changes={"address": "x"}, idempotency_key=key)
    with pytest.raises(DomainError) as caught:
        await service.change(alice, request)
    assert caught.value.details == {"field": "Idempotency-Key"}


async def test_nul_inside_values_is_kept(service: RecordService, alice: Actor) -> None:
    """§4: NUL is a valid character in a JSON string and round-trips through either store."""
    created = await service.change(
        alice,
        ChangeRequest(Op.CREATE, "escrow", changes={"address": "a\x00b", "tags": ["\x00"]}),
    )
    stored = await service.get(alice, "escrow", created.record_id)
    assert stored["address"] == "a\x00b" and stored["tags"] == ["\x00"]


@pytest.mark.parametrize("record_id", [None, 7, ["r"]])
async def test_get_with_a_non_string_id_is_not_found(
    service: RecordService, alice: Actor, record_id: object
) -> None:
    """REC-4: whatever a transport passes as an id, a read answers NOT_FOUND, never crashes."""
    with pytest.raises(DomainError) as caught:
        await service.get(alice, "escrow", record_id)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.NOT_FOUND
