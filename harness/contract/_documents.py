"""The contract in the ecosystem's formats: OpenAPI 3.1 for REST, AsyncAPI 3.0 for Socket.IO.

Both are generated from `harness.spec` (the schemas, the payload tables, the requirements), so
they cannot drift from what the suite checks; `docs/contract/` holds the generated files and a
test keeps them up to date (`crm-harness spec --format openapi|asyncapi` prints them).
"""

from __future__ import annotations

import json
from typing import Any

from harness.spec import (
    API_PREFIX,
    CLIENT_EVENT_CONTRACTS,
    ERROR_ACK,
    HTTP_STATUS,
    INFO_PATH,
    REQUIREMENTS,
    REST_ERROR,
    ROUTES,
    SERVER_EVENT_PAYLOADS,
    SOCKETIO_PATH,
    SPEC_VERSION,
    ErrorCode,
    Route,
    component_schemas,
    ref,
)

__all__ = ["FORMATS", "asyncapi_document", "openapi_document", "render"]

_TITLE = "CRM Realtime Event Spec"
_DESCRIPTION = (
    "The wire contract of a real-estate CRM's real-time layer (SPEC.md {v}). Generated from "
    "`harness.spec` of crm-realtime-harness; each operation names the requirement ids it "
    "implements (`x-requirements`). Error bodies and error acks carry a code from §13."
)
_SERVER = {"url": "http://127.0.0.1:8000", "description": "the bundled reference server"}


def _status_text(status: int) -> str:
    codes = [c.value for c, s in HTTP_STATUS.items() if s == status]
    return " / ".join(codes) if codes else "error"


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in route.responses.items():
        if schema is None and route.media_type == "application/json":
            responses[str(status)] = {"description": "No content"}
            continue
        media = {"schema": ref(schema)} if schema else {"schema": {"type": "string"}}
        response: dict[str, Any] = {"description": "OK", "content": {route.media_type: media}}
        if status == 200 and route.requirement == "REC-2":
            response["description"] = "A repeated Idempotency-Key: the original record (MUT-2)"
            response["headers"] = {"Idempotent-Replayed": {"schema": {"const": "true"}}}
        responses[str(status)] = response
    for status in route.errors:
        responses[str(status)] = {
            "description": _status_text(status),
            "content": {"application/json": {"schema": ref(REST_ERROR.schema)}},
        }
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": REQUIREMENTS[route.requirement].text,
        "tags": [route.tag],
        "x-requirements": [route.requirement],
        "responses": responses,
    }
    if route.params:
        operation["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.where == "path", "schema": dict(p.schema),
             **({"description": p.description} if p.description else {})}
            for p in route.params
        ]  # fmt: skip
    if route.request:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(route.request)}},
        }
    if not route.auth:
        operation["security"] = []
    return operation


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{_TITLE} — REST API", "version": SPEC_VERSION,
                 "description": _DESCRIPTION.format(v=SPEC_VERSION)},
        "servers": [_SERVER],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in dict.fromkeys(r.tag for r in ROUTES)],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT",
                                           "description": "claims sub, teamId, brokerId, "
                                           "name?, exp (§3)"}},
        },
    }  # fmt: skip


def _channel_id(event: str) -> str:
    """`escrow:created` → `escrowCreated` (AsyncAPI ids are plain identifiers)."""
    head, *rest = event.replace(":", " ").split()
    return head + "".join(p.capitalize() for p in rest)


def _message(name: str, schema: str, summary: str, requirements: list[str]) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary, "payload": ref(schema),
            "x-requirements": requirements}  # fmt: skip


def asyncapi_document() -> dict[str, Any]:
    """Channels per event name (`address` is the Socket.IO event name); the server `send`s
    server events and `receive`s client events, each with a `reply` (the ack, TRN-5)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event, payload in SERVER_EVENT_PAYLOADS.items():
        cid = _channel_id(event)
        reqs = list(dict.fromkeys([payload.requirement, *payload.fields.values()]))
        messages[cid] = _message(event, payload.schema, payload.summary, reqs)
        channels[cid] = {
            "address": event,
            "messages": {cid: {"$ref": f"#/components/messages/{cid}"}},
        }
        operations[f"send{cid[0].upper()}{cid[1:]}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{cid}"},
            "summary": payload.summary, "x-requirements": reqs,
        }  # fmt: skip
    error_ack = "errorAck"
    messages[error_ack] = _message("error ack", ERROR_ACK.schema, ERROR_ACK.summary, ["TRN-5"])
    for event, contract in CLIENT_EVENT_CONTRACTS.items():
        cid = _channel_id(event)
        ack_id = f"{cid}Ack"
        reqs = [contract.ack.requirement, "TRN-5"]
        messages[cid] = _message(event, contract.request, contract.summary, reqs)
        messages[ack_id] = _message(f"{event} ack", contract.ack.schema, "ok ack", reqs)
        channels[cid] = {"address": event, "messages": {
            cid: {"$ref": f"#/components/messages/{cid}"},
            ack_id: {"$ref": f"#/components/messages/{ack_id}"},
            error_ack: {"$ref": f"#/components/messages/{error_ack}"},
        }}  # fmt: skip
        operations[f"receive{cid[0].upper()}{cid[1:]}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{cid}"},
            "summary": contract.summary, "x-requirements": reqs,
            "messages": [{"$ref": f"#/channels/{cid}/messages/{cid}"}],
            "reply": {"channel": {"$ref": f"#/channels/{cid}"}, "messages": [
                {"$ref": f"#/channels/{cid}/messages/{ack_id}"},
                {"$ref": f"#/channels/{cid}/messages/{error_ack}"},
            ]},
        }  # fmt: skip
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"{_TITLE} — Socket.IO events", "version": SPEC_VERSION,
                 "description": _DESCRIPTION.format(v=SPEC_VERSION) + (
                     " Socket.IO v5 over Engine.IO v4, namespace `/`, path "
                     f"`{SOCKETIO_PATH}` (TRN-1). Every client event is sent with an ack "
                     "(TRN-5): the operation's `reply`. An unknown event gets "
                     f"`{ErrorCode.UNKNOWN_EVENT.value}` (LIM-5). Limits: `{INFO_PATH}`.")},
        "defaultContentType": "application/json",
        "servers": {"reference": {"host": "127.0.0.1:8000", "protocol": "ws",
                                  "pathname": SOCKETIO_PATH.rstrip("/"),
                                  "description": "token in the CONNECT packet's auth.token or "
                                  "Authorization: Bearer (AUTH-1); REST under " + API_PREFIX,
                                  "security": [{"$ref": "#/components/securitySchemes/jwt"}]}},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": component_schemas(),
            "messages": messages,
            "securitySchemes": {"jwt": {"type": "httpApiKey", "name": "Authorization",
                                        "in": "header",
                                        "description": "Bearer JWT or auth.token (§3)"}},
        },
    }  # fmt: skip


FORMATS = ("openapi", "asyncapi")


def render(kind: str, *, as_json: bool = False) -> str:
    """One document as text: YAML (the default, as the files in docs/contract) or JSON."""
    document = {"openapi": openapi_document, "asyncapi": asyncapi_document}[kind]()
    if as_json:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))
