"""REST cases for the fuzz check: schemathesis' positive and negative cases over the OpenAPI
document generated from harness.spec (docs/contract/openapi.yaml), drawn with `fuzz.draw_for`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["RestCase", "rest_cases", "rest_strategies"]


@dataclass(frozen=True, slots=True)
class RestCase:
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any  # JSON value, raw bytes, or None for no body
    negative: bool
    operation: str  # operationId
    target: str | None = None  # the fixed record an update touches
    entity_type: str | None = None  # a create's type


def rest_strategies(token: str, records: Mapping[str, str]) -> list[st.SearchStrategy[RestCase]]:
    """Positive and negative cases (schemathesis) of the record routes: create and update
    (on the fixed records), read and list, one strategy per (operation, mode); Authorization is
    always the caller's own."""
    from schemathesis import GenerationMode

    schema = _openapi_schema()
    auth = {"Authorization": f"Bearer {token}"}
    strategies: list[st.SearchStrategy[RestCase]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        op_id = str(operation.definition.raw.get("operationId", ""))
        kind = next((k for k in ("create", "update", "list", "get") if op_id.startswith(k)), None)
        entity_type = next((t for t in records if op_id.lower().endswith(t) or
                            op_id.lower().endswith(t + "s")), None)  # fmt: skip
        if kind is None or entity_type is None:
            continue
        params = {"id": records[entity_type]} if kind in ("update", "get") else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, headers=auth,
                                             path_parameters=params)  # fmt: skip
            to_case = functools.partial(_rest_case, mode=mode, kind=kind, entity_type=entity_type,
                                        op_id=op_id, records=records, auth=auth)  # fmt: skip
            strategies.append(strategy.map(to_case))
    return strategies


@functools.cache
def _openapi_schema() -> Any:
    """schemathesis' view of docs/contract/openapi.yaml (built once: it takes a second)."""
    import schemathesis

    from harness.contract import openapi_document

    return schemathesis.openapi.from_dict(openapi_document())


def _rest_case(case: Any, *, mode: Any, kind: str, entity_type: str, op_id: str,
               records: Mapping[str, str], auth: Mapping[str, str]) -> RestCase:  # fmt: skip
    from schemathesis.core import NotSet

    body = None if isinstance(case.body, NotSet) else case.body
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    headers.update(auth)  # a negative case must not lose its own authorization
    return RestCase(
        case.method.upper(), case.formatted_path, dict(case.query or {}), headers, body,
        mode.value == "negative", op_id, records[entity_type] if kind == "update" else None,
        entity_type if kind == "create" else None,
    )  # fmt: skip


def rest_cases(token: str, records: Mapping[str, str], seed_value: int,
               seconds: float) -> list[RestCase]:  # fmt: skip
    """Cases of every (operation, mode) in turn, at least one of each however busy the machine:
    a seed draws the same ones again (each strategy is drawn from `seed_value + its index`)."""
    strategies = rest_strategies(token, records)
    share = seconds / max(len(strategies), 1)
    pools = [_draw(s, seed_value + i, share) for i, s in enumerate(strategies)]
    cases: list[RestCase] = []
    for round_ in range(max(len(p) for p in pools)):
        cases.extend(p[round_] for p in pools if round_ < len(p))
    return cases


def _draw(strategy: st.SearchStrategy[RestCase], seed_value: int, seconds: float) -> list[RestCase]:
    """A negative mode with nothing to break (e.g. a GET whose only parameter is fixed) has no
    case at all: Hypothesis says Unsatisfiable."""
    from hypothesis.errors import Unsatisfiable

    from .fuzz import draw_for

    try:
        return draw_for(strategy, seed_value, seconds, 200, 1)
    except Unsatisfiable:
        return []
