"""The node's event loop: uvloop when installed (issue 13 item 3), asyncio's otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from reference_server.serve_node import event_loop_factory


def test_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_asyncio_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert event_loop_factory() is None
