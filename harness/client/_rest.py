"""`RestClient`: the REST API of SPEC §4 over httpx, with raw access for negative tests."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from harness.spec import API_PREFIX, COLLECTIONS, HEALTH_PATH, INFO_PATH, METRICS_PATH

from ._connection import ConnectionOptions
from ._listeners import PayloadListener
from ._messages import ErrorInfo
from ._transcript import Transcript

__all__ = ["RestClient", "RestResponse", "collection_path"]


def collection_path(entity_type: str, record_id: str | None = None, action: str = "") -> str:
    path = f"{API_PREFIX}/{COLLECTIONS[entity_type]}"
    if record_id is not None:
        path += f"/{record_id}"
    if action:
        path += f"/{action}"
    return path


@dataclass(frozen=True, slots=True)
class RestResponse:
    method: str
    path: str
    status: int
    body: Any  # parsed JSON, or the text when it is not JSON, or None when empty
    headers: Mapping[str, str]
    elapsed_s: float

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, Mapping) else None

    @property
    def record(self) -> dict[str, Any]:
        data = self.data
        return dict(data) if isinstance(data, Mapping) else {}

    @property
    def error(self) -> ErrorInfo | None:
        if not isinstance(self.body, Mapping):
            return None
        return ErrorInfo.from_json(self.body.get("error"))

    @property
    def code(self) -> str | None:
        error = self.error
        return error.code if error else None


class RestClient:
    """One user's REST session. `token=None` sends no Authorization header; `options` adds
    the deployment's headers and TLS trust; a `transcript` is fed each request and answer."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        listeners: Sequence[PayloadListener] = (),
        options: ConnectionOptions | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.transcript = transcript
        if transcript is not None:
            transcript.add_secret(token)
        self.listeners = list(listeners)
        options = options or ConnectionOptions()
        headers = options.header_map()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout, verify=options.ssl_context()
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def raw(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> RestResponse:
        """Any request; `content` sends bytes as they are (not JSON-encoded)."""
        send_headers = dict(headers or {})
        if json_body is not None and content is None:
            content = json.dumps(json_body)
            send_headers.setdefault("Content-Type", "application/json")
        elif content is not None:
            send_headers.setdefault("Content-Type", "application/json")
        started = time.perf_counter()
        request = self._http.build_request(
            method, path, content=content, headers=send_headers, params=params
        )
        if self.transcript is not None:
            shown = request.url.raw_path.decode("ascii", errors="replace")
            self.transcript.http_request(method, shown, request.headers, request.content)
        response = await self._http.send(request)
        elapsed = time.perf_counter() - started
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        answer = RestResponse(method, path, response.status_code, body, response.headers, elapsed)
        if self.transcript is not None:
            self.transcript.http_response(method, path, response.status_code, body)
        for listener in self.listeners:
            listener.response_received(answer)
        return answer

    @staticmethod
    def _change_headers(if_match: int | str | None, idempotency_key: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"' if isinstance(if_match, int) else if_match
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def create(
        self, entity_type: str, body: Any, *, idempotency_key: str | None = None
    ) -> RestResponse:
        headers = self._change_headers(None, idempotency_key)
        return await self.raw("POST", collection_path(entity_type), json_body=body, headers=headers)

    async def get(self, entity_type: str, record_id: str) -> RestResponse:
        return await self.raw("GET", collection_path(entity_type, record_id))

    async def list(
        self,
        entity_type: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        include_archived: bool | None = None,
    ) -> RestResponse:
        params: dict[str, Any] = {}
        if limit is not None:
            params["limit"] = limit
        if offset is not None:
            params["offset"] = offset
        if include_archived is not None:
            params["includeArchived"] = "true" if include_archived else "false"
        return await self.raw("GET", collection_path(entity_type), params=params)

    async def update(
        self,
        entity_type: str,
        record_id: str,
        changes: Any,
        *,
        if_match: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> RestResponse:
        headers = self._change_headers(if_match, idempotency_key)
        path = collection_path(entity_type, record_id)
        return await self.raw("PATCH", path, json_body=changes, headers=headers)

    async def _post_action(
        self,
        action: str,
        entity_type: str,
        record_id: str,
        if_match: int | str | None,
        idempotency_key: str | None,
    ) -> RestResponse:
        headers = self._change_headers(if_match, idempotency_key)
        return await self.raw(
            "POST", collection_path(entity_type, record_id, action), headers=headers
        )

    async def archive(
        self,
        entity_type: str,
        record_id: str,
        *,
        if_match: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> RestResponse:
        return await self._post_action("archive", entity_type, record_id, if_match, idempotency_key)

    async def restore(
        self,
        entity_type: str,
        record_id: str,
        *,
        if_match: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> RestResponse:
        return await self._post_action("restore", entity_type, record_id, if_match, idempotency_key)

    async def delete(
        self,
        entity_type: str,
        record_id: str,
        *,
        if_match: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> RestResponse:
        headers = self._change_headers(if_match, idempotency_key)
        return await self.raw("DELETE", collection_path(entity_type, record_id), headers=headers)

    async def info(self) -> RestResponse:
        return await self.raw("GET", INFO_PATH)

    async def health(self) -> RestResponse:
        return await self.raw("GET", HEALTH_PATH)

    async def metrics(self) -> RestResponse:
        return await self.raw("GET", METRICS_PATH)
