"""The one seam between the harness and the bundled server (harness/bundled_server.py).

INF-3: without the server's extra, a command that needs it says in one line which extra to
install, exit 2, no traceback; the server's own errors become the harness's one-line errors.
The real harness-only install is tested in test_wheel_install.py.
"""

from __future__ import annotations

import argparse

import pytest

from harness import TargetError, UsageError
from harness.bundled_server import (
    ENTRY_POINT_GROUP,
    MissingExtra,
    ServerProvider,
    bundled_server,
    unavailable_reason,
)
from harness.cli import main
from reference_server.bundled import ReferenceServer, reference
from reference_server.exceptions import SettingsError, StartupError

SERVER_HINT = "pip install 'crm-realtime-harness[server]'"
CLUSTER_HINT = "pip install 'crm-realtime-harness[cluster]'"


@pytest.fixture
def without_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if neither `[server]` nor `[cluster]` were installed."""

    def missing(self: ReferenceServer, *, cluster: bool) -> list[str]:
        return ["fastapi", "uvicorn", "aiosqlite"] + (["asyncpg", "redis"] if cluster else [])

    monkeypatch.setattr(ReferenceServer, "missing_modules", missing)


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_the_reference_server_registers_itself_under_the_group() -> None:
    """The entry point `reference` of the group is the reference server's provider."""
    from importlib.metadata import entry_points

    [entry] = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "reference"]
    assert entry.load() is reference
    assert isinstance(reference, ServerProvider)
    assert unavailable_reason() is None and unavailable_reason(cluster=True) is None


@pytest.mark.usefixtures("without_extras")
def test_serve_without_the_server_extra_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    """`serve` (with any of its options) is one line naming `[server]`, exit 2."""
    err = _one_line_error(["serve", "--port", "0", "--jwt-secret", "x"], capsys)
    assert err.startswith("crm-harness serve: ") and SERVER_HINT in err


@pytest.mark.usefixtures("without_extras")
def test_conform_without_url_names_the_extra_and_url(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["conform"], capsys)
    assert SERVER_HINT in err and "--url" in err


@pytest.mark.usefixtures("without_extras")
def test_load_with_nodes_names_the_cluster_extra(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["load", "--nodes", "3", "--duration", "1s"], capsys)
    assert CLUSTER_HINT in err


@pytest.mark.usefixtures("without_extras")
def test_sweep_with_nodes_names_the_cluster_extra(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["sweep", "--users", "10", "--nodes", "1,2"], capsys)
    assert CLUSTER_HINT in err


def test_no_bundled_server_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """An install whose metadata registers no bundled server: the same one line."""
    import harness.bundled_server as seam

    monkeypatch.setattr(seam, "entry_points", lambda group: [])
    with pytest.raises(MissingExtra, match="not installed") as caught:
        bundled_server()
    assert SERVER_HINT in str(caught.value)


def test_server_errors_become_harness_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's SettingsError is the harness's UsageError, StartupError its TargetError."""
    bundled = bundled_server(cluster=True)
    with pytest.raises(UsageError, match="--redis-url"):
        bundled.check_cluster_settings(3, None, None)

    def cannot_start(self: ReferenceServer, **_: object) -> None:
        raise StartupError("the server exited at startup: boom")

    monkeypatch.setattr(ReferenceServer, "start_server", cannot_start)
    with pytest.raises(TargetError, match="boom"):
        bundled.start_server(jwt_secret="s")


def test_serve_settings_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def bad(
        self: ReferenceServer, args: argparse.Namespace, nodes: int, prog: str, announce: object
    ) -> int:
        raise SettingsError("--port must be 0–65535, got 70000")

    monkeypatch.setattr(ReferenceServer, "serve", bad)
    with pytest.raises(UsageError, match="70000"):
        bundled_server().serve(argparse.Namespace(), 1, "prog", print)
