"""Workload model: files (TOML, YAML, JSON) and flags, defaults, refusals of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import UsageError
from harness.client import TokenFactory
from harness.durations import parse_duration
from harness.load import LoadConfig, Workload, load_workload_file
from harness.load.process_context import CLOSING_SYNC_SPREAD_MAX_S, ProcessContext, effective_mix


def test_defaults_give_a_change_per_user_every_50_seconds() -> None:
    """Workload defaults: 10,000 users ≈ 200 changes/s; teams of 10."""
    w = Workload()
    assert 10_000 / w.think_time_s == 200
    assert w.users_per_team == 10
    assert w.layout(0) == (0, 0) and w.layout(9) == (0, 0) and w.layout(10) == (1, 0)
    assert w.layout(10 * w.teams_per_broker) == (w.teams_per_broker, 1)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("w.toml", "users_per_team = 4\nthink_time_s = 5\n[action_mix]\nupdate = 1\n"),
        ("w.yaml", "users_per_team: 4\nthink_time_s: 5\naction_mix: {update: 1}\n"),
        ("w.json", '{"users_per_team": 4, "think_time_s": 5, "action_mix": {"update": 1}}'),
    ],
)
def test_workload_files(tmp_path: Path, name: str, text: str) -> None:
    """Workload files in the three formats give the same workload."""
    path = tmp_path / name
    path.write_text(text)
    w = load_workload_file(path)
    assert (w.users_per_team, w.think_time_s, w.action_mix) == (4, 5, {"update": 1})
    assert w.visibility_mix == Workload().visibility_mix


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("bogus = 1\n", "unknown key 'bogus'"),
        ("users_per_team = 0\n", "users_per_team"),
        ("second_tab_share = 1.5\n", "second_tab_share"),
        ("[action_mix]\nteleport = 1\n", "teleport"),
        ("[action_mix]\nupdate = -1\n", "action_mix.update"),
        ("[action_mix]\nupdate = 0\n", "must not all be 0"),
        ("[visibility_mix]\nsecret = 1\n", "secret"),
        ("refetch_limit = 500\n", "refetch_limit"),
        ("users_per_team = [\n", "w.toml"),
    ],
)
def test_bad_workload_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    """Bad input → UsageError naming the key; nothing runs."""
    path = tmp_path / "w.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=fragment.replace("[", r"\[").replace(".", r"\.")):
        load_workload_file(path)


def test_missing_file_and_bad_suffix(tmp_path: Path) -> None:
    """A workload file that cannot be read or has no known format is a UsageError."""
    with pytest.raises(UsageError, match="cannot read"):
        load_workload_file(tmp_path / "absent.toml")
    other = tmp_path / "w.ini"
    other.write_text("x=1")
    with pytest.raises(UsageError, match=r"\.toml"):
        load_workload_file(other)


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("90", 90), ("2m", 120), ("1m30s", 90), ("1h", 3600)]
)
def test_durations(text: str, seconds: float) -> None:
    """--duration accepts s/m/h forms."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "m"])
def test_bad_durations(text: str) -> None:
    """--duration rejects what it cannot read."""
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"users": 0}, "--users"),
        ({"spawn_rate": 0}, "--spawn-rate"),
        ({"duration_s": 0}, "--duration"),
        ({"scenario": "nope"}, "unknown scenario"),
        ({"url": "ftp://x"}, "http://"),
        ({"workers": -2}, "--workers"),  # -1 is AUTO_WORKERS
    ],
)
def test_bad_load_config(changes: dict[str, object], fragment: str) -> None:
    """LoadConfig refuses impossible runs up front."""
    args: dict[str, object] = {"users": 1, "spawn_rate": 1, "duration_s": 1, **changes}
    with pytest.raises(UsageError, match=fragment):
        LoadConfig(**args)  # type: ignore[arg-type]


def test_mix_drops_ops_the_server_cannot_serve() -> None:
    """§0 profiles: view/typing need `collab`, ai_task needs `ai`; each drop is explained."""
    mix = {"update": 1.0, "view": 1.0, "typing": 1.0, "ai_task": 1.0}
    out, notes = effective_mix(mix, ["core"])
    assert out == {"update": 1.0}
    assert len(notes) == 3 and any("`ai`" in n for n in notes)
    out, notes = effective_mix(mix, ["core", "collab", "ai"])
    assert out == mix and notes == []


def _context(
    profiles: tuple[str, ...] = ("core",), users: int = 0, workers: int = 1
) -> ProcessContext:
    return ProcessContext(url="http://x", tokens=TokenFactory("s" * 32), workload=Workload(),
                       run_id="r", scenario="team_sync", worker=0, workers=workers,
                       profiles=list(profiles), rest=None, users=users)  # fmt: skip


def test_change_rate_holds_whatever_the_mix() -> None:
    """Workload: `think_time_s` is the mean time between a user's changes; views and typing
    come on top, so the pause between actions shrinks by the changes' share of the mix."""
    with_collab = _context(("core", "collab"))
    changes_share = sum(v for k, v in with_collab.mix.items() if k not in ("view", "typing"))
    assert with_collab.action_pause_mean() == 50.0 * changes_share / sum(with_collab.mix.values())
    assert with_collab.action_pause_mean() < 50.0
    assert _context().action_pause_mean() == 50.0


def test_open_file_limit_too_low_is_a_clear_error() -> None:
    """RLIMIT_NOFILE: raised as far as allowed; a run that cannot fit says so up front."""
    import resource

    from harness.load.run_controller import raise_nofile

    soft, need = raise_nofile(10, 0.0)
    assert soft >= need
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-file limit on this machine")
    with pytest.raises(UsageError, match=r"open-file limit .* too low for"):
        raise_nofile(hard * 2, 0.0)


def test_closing_syncs_are_spread() -> None:
    """STR-2 closing sync: 10,000 sockets do not all sync in the same instant; the spread
    grows with users per process and is capped."""

    def spread(users: int, workers: int) -> float:
        return _context(users=users, workers=workers).closing_sync_spread_s()

    assert spread(20, 1) < 0.1
    assert spread(10_000, 1) == 2 * spread(10_000, 2) > 1.0
    assert spread(10**6, 1) == CLOSING_SYNC_SPREAD_MAX_S


def test_sockets_spread_round_robin_over_nodes() -> None:
    """CLU-1 load: users' first sockets go round robin over the nodes, a second tab lands on
    another node than the first; one URL keeps every socket on it."""
    ctx = _context()
    ctx.node_urls = ("http://a", "http://b", "http://c")
    firsts = [ctx.node_of(index) for index in range(6)]
    assert firsts == [0, 1, 2, 0, 1, 2]
    assert all(ctx.node_of(index + 1) != ctx.node_of(index) for index in range(6))
    assert {_context().node_of(index) for index in range(5)} == {0}
    assert _context().node_urls == ("http://x",)


def test_config_takes_urls_or_a_local_cluster() -> None:
    """CLU-1 load: `urls` sets `url` to the first node and vice versa; a local cluster needs
    Redis and PostgreSQL, and cannot be combined with URLs."""
    from harness.load import LoadConfig

    both = LoadConfig(users=1, spawn_rate=1, duration_s=1, urls=("http://a", "http://b"))
    assert both.url == "http://a"
    assert LoadConfig(users=1, spawn_rate=1, duration_s=1, url="http://a").urls == ("http://a",)
    with pytest.raises(UsageError, match="--redis-url"):
        LoadConfig(users=1, spawn_rate=1, duration_s=1, nodes=3)
    with pytest.raises(UsageError, match="not both"):
        LoadConfig(users=1, spawn_rate=1, duration_s=1, nodes=2, urls=("http://a",),
                   redis_url="redis://r", database_url="postgresql://p")  # fmt: skip
