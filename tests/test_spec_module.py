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
