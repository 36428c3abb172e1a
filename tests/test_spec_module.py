"""The machine-readable spec must say what SPEC.md says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import spec

BUNDLED = Path(spec.__file__).with_name("SPEC.md")
UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "spec" / "SPEC.md"


def _ids(text: str) -> list[str]:
    return re.findall(r"^- ([A-Z]{2,4}-\d+) ", text, flags=re.M)


def test_every_requirement_id_of_the_spec_is_in_the_table() -> None:
    assert _ids(BUNDLED.read_text()) == list(spec.REQUIREMENTS)


def test_bundled_spec_is_the_upstream_spec() -> None:
    if not UPSTREAM.exists():
        pytest.skip(f"no upstream spec at {UPSTREAM}")
    assert BUNDLED.read_text() == UPSTREAM.read_text()


def _spec_texts(text: str) -> dict[str, str]:
    """Each bullet's text: its line, the indented lines after it and, when it ends with a
    colon, the fenced block that follows (INF-1's info document)."""
    lines, texts, i = text.splitlines(), {}, 0
    while i < len(lines):
        found = re.match(r"^- ([A-Z]{2,4}-\d+) (.*)$", lines[i])
        i += 1
        if not found:
            continue
        parts = [found.group(2)]
        while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
            parts.append(lines[i].strip())
            i += 1
        body = " ".join(parts)
        after = i
        while after < len(lines) and not lines[after].strip():
            after += 1
        if body.endswith(":") and after < len(lines) and lines[after].startswith("```"):
            end = lines.index("```", after + 1)
            body += "\n\n" + "\n".join(lines[after : end + 1])
            i = end + 1
        texts[found.group(1)] = body
    return texts


def test_requirement_texts_are_the_spec_texts() -> None:
    """INF-1's text goes on past "returns 200 with:" (the document it names); no word is split
    where the spec's line wrapped ("Idempotency- Key")."""
    expected = _spec_texts(BUNDLED.read_text())
    for rid, requirement in spec.REQUIREMENTS.items():
        assert " ".join(requirement.text.split()) == " ".join(expected[rid].split()), rid
    assert '"auth": {"algorithms": ["HS256"]}' in spec.REQUIREMENTS["INF-1"].text


def test_profiles_follow_the_spec_sections() -> None:
    by_id = spec.REQUIREMENTS
    assert by_id["CLU-2"].profile is spec.Profile.CORE
    assert by_id["CLU-1"].profile is spec.Profile.CLUSTER
    assert by_id["MET-1"].profile is spec.Profile.METRICS
    assert {r.profile for r in by_id.values() if r.section == 10} == {spec.Profile.COLLAB}
    assert {r.profile for r in by_id.values() if r.section == 11} == {spec.Profile.AI}
    assert by_id["EVT-6"].level is spec.Level.SHOULD


def test_data_events_cover_every_type_and_action() -> None:
    assert len(spec.DATA_EVENTS) == 25
    assert "escrow:updated" in spec.DATA_EVENTS and "lead:deleted" in spec.DATA_EVENTS


def test_limits_round_trip_through_the_info_document() -> None:
    limits = spec.Limits(editLockTtlSeconds=3)
    assert spec.Limits.from_json({**limits.to_json(), "futureLimit": 1}) == limits
    assert spec.Limits().maxPayloadBytes == 65536
