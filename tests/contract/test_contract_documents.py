"""The contract documents: generated from harness.spec, checked in up to date under
docs/contract/, valid for the reference tools (openapi-spec-validator, @asyncapi/parser), and
complete (every route, event and ack the spec names)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from harness.cli import main
from harness.contract import asyncapi_document, openapi_document, render
from harness.spec import (
    CLIENT_EVENTS,
    DATA_EVENTS,
    REQUIREMENTS,
    ROUTES,
    ServerEvent,
    component_schemas,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "contract"
CHECKER = Path(__file__).with_name("asyncapi_check.cjs")


@pytest.mark.parametrize("kind", ["openapi", "asyncapi"])
def test_checked_in_documents_are_up_to_date(kind: str) -> None:
    """docs/contract/*.yaml are what harness.spec generates (regenerate with
    `crm-harness spec --format KIND -o docs/contract/KIND.yaml`)."""
    assert (DOCS / f"{kind}.yaml").read_text(encoding="utf-8") == render(kind), (
        f"docs/contract/{kind}.yaml is stale: crm-harness spec --format {kind} "
        f"-o docs/contract/{kind}.yaml"
    )


def test_openapi_document_is_valid_openapi_31() -> None:
    validate(yaml.safe_load((DOCS / "openapi.yaml").read_text(encoding="utf-8")))


def test_asyncapi_document_parses_without_errors_or_warnings(
    asyncapi_parser_modules: Path,
) -> None:
    """The reference parser accepts the document; only an info diagnostic may remain (that
    3.1 exists: the contract is written for AsyncAPI 3.0)."""
    done = subprocess.run(
        ["node", str(CHECKER), str(DOCS / "asyncapi.yaml")], capture_output=True, text=True,
        env={**os.environ, "NODE_PATH": str(asyncapi_parser_modules)}, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    serious = [d for d in result["diagnostics"] if d["severity"] < 2]
    assert result["parsed"] and serious == [], serious


def test_a_broken_document_is_refused_by_the_parser(
    asyncapi_parser_modules: Path, tmp_path: Path
) -> None:
    """The parser check can fail: a dangling reference is an error."""
    document = asyncapi_document()
    document["channels"]["sync"]["messages"]["sync"] = {"$ref": "#/components/messages/nope"}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    done = subprocess.run(
        ["node", str(CHECKER), str(broken)], capture_output=True, text=True,
        env={**os.environ, "NODE_PATH": str(asyncapi_parser_modules)}, timeout=120, check=False,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert [d for d in result["diagnostics"] if d["severity"] == 0]


def test_documents_cover_every_route_event_and_ack() -> None:
    openapi, asyncapi = openapi_document(), asyncapi_document()
    operations = {(m.upper(), p) for p, ops in openapi["paths"].items() for m in ops}
    assert operations == {(r.method, r.path) for r in ROUTES}
    addresses = {c["address"] for c in asyncapi["channels"].values()}
    server_events = {v for k, v in vars(ServerEvent).items() if not k.startswith("_")}
    assert addresses == set(DATA_EVENTS) | server_events | set(CLIENT_EVENTS)
    replies = [op for op in asyncapi["operations"].values() if op["action"] == "receive"]
    assert len(replies) == len(CLIENT_EVENTS) and all("reply" in op for op in replies)
    for document in (openapi, asyncapi):
        text = json.dumps(document)
        refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
        assert refs <= set(component_schemas()), refs - set(component_schemas())
    named = {r for op in asyncapi["operations"].values() for r in op["x-requirements"]}
    assert named <= set(REQUIREMENTS)


@pytest.mark.parametrize("kind", ["openapi", "asyncapi"])
def test_cli_prints_the_document(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--format", kind, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(render(kind, as_json=True))


def test_cli_refuses_a_bad_format_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["spec", "--format", "wsdl"])
    assert exited.value.code == 2
    assert main(["spec", "--format", "openapi", "-o", "/no/such/dir/x.yaml"]) == 2
    assert "no such directory" in capsys.readouterr().err
