"""`sweep`: a series of runs (fake runner, no servers) and the scaling table measured from them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness import TargetError
from harness.cli import main
from harness.experiments import LoadStep, LoadTemplate, load_runner, run_sweep, sweep_steps
from harness.load import LoadConfig
from harness.reporting import write_sweep
from tests.reporting.reporting_synth import UPDATE_BYTES, latency_spec, write_run
from tests.services import RedisNamespace


def fake_runner(step: LoadStep, parent: Path) -> Path:
    """Each step: `users` team updates over 20 s to 5 receivers at `users / 10` ms."""
    if step.users == 666:
        raise TargetError("cannot reach the server")
    return write_run(parent / step.name, latency_spec([step.users / 10.0] * step.users))


def test_sweep_rows_are_measured_from_each_run(tmp_path: Path) -> None:
    """STR-5: throughput, bandwidth, latency and loss per step, from the run directories."""
    lines: list[str] = []
    rows = run_sweep(sweep_steps([10, 100, 1000], [1]), fake_runner, tmp_path, lines.append)
    assert [r.users for r in rows] == [10, 100, 1000]
    big = rows[2]
    assert big.connections == 5  # users.csv sockets
    assert big.changes_per_s == pytest.approx(1000 / 20)
    assert big.deliveries_per_s == pytest.approx(5000 / 20)
    assert big.mb_per_s == pytest.approx(5000 * UPDATE_BYTES / 20 / 1e6)
    assert big.e2e_p99_ms == pytest.approx(100.0, abs=0.01)
    assert big.loss_final == 0 and not big.error
    assert rows[0].projected == (2, 0.02)
    assert len(lines) == 6 and lines[1].startswith("[1/3] users=10 nodes=1: ")


def test_failed_step_is_a_row_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """A step that cannot run is recorded with its reason."""
    rows = run_sweep(sweep_steps([10, 666, 100], [1]), fake_runner, tmp_path, lambda _: None)
    assert [bool(r.error) for r in rows] == [False, True, False]
    assert "cannot reach" in rows[1].error


def test_sweep_outputs_csv_markdown_and_html_with_plots(tmp_path: Path) -> None:
    """sweep.csv has one row per step; sweep.html embeds both plots."""
    rows = run_sweep(sweep_steps([10, 100], [1]), fake_runner, tmp_path, lambda _: None)
    outputs = write_sweep(rows, tmp_path)
    with outputs["csv"].open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["users"]) for r in table] == [10, 100]
    assert float(table[1]["deliveries_per_s"]) == pytest.approx(500 / 20)
    html = outputs["html"].read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 2
    assert "| 100 | 1 |" in outputs["markdown"].read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--users", "10,x"], "comma-separated integers"), (["--users", "0"], "positive"),
     (["--users", "10", "--duration", "later"], "--duration")],
)  # fmt: skip
def test_sweep_cli_usage_errors(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad counts, cluster sweeps without cluster support, bad duration: exit 2, one line."""
    assert main(["sweep", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]


def test_cluster_sweep_needs_cluster_support_and_backends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CLU-1: --nodes > 1 is a clear usage error while the cluster path is missing, and
    needs the shared Redis and PostgreSQL URLs once it exists."""
    import harness.experiments as experiments

    monkeypatch.setattr(experiments, "cluster_support", lambda: "no cluster launcher yet")
    assert main(["sweep", "--users", "10", "--nodes", "1,3"]) == 2
    assert "--nodes > 1 is not available: no cluster launcher yet" in capsys.readouterr().err
    monkeypatch.setattr(experiments, "cluster_support", lambda: None)
    assert main(["sweep", "--users", "10", "--nodes", "3"]) == 2
    assert "--redis-url and --database-url" in capsys.readouterr().err


def test_node_counts_get_their_tables_and_a_nodes_plot(tmp_path: Path) -> None:
    """CLU-1 sweep: with several node counts, one table per node count and a third plot,
    throughput against nodes."""
    rows = run_sweep(sweep_steps([10, 100], [1, 3]), fake_runner, tmp_path, lambda _: None)
    outputs = write_sweep(rows, tmp_path)
    markdown = outputs["markdown"].read_text(encoding="utf-8")
    assert "### 1 node(s)" in markdown and "### 3 node(s)" in markdown
    assert "| 100 | 3 |" in markdown
    html = outputs["html"].read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 3


@pytest.mark.slow
@pytest.mark.cluster
def test_real_sweep_over_one_and_two_nodes(
    tmp_path: Path, postgres_url: str, redis_namespace: RedisNamespace
) -> None:
    """CLU-1, STR-5: a real sweep, 10 users on a 1-node then a 2-node cluster on the same
    Redis + PostgreSQL; both steps measured, nothing lost, the 2-node run used both nodes."""
    ns = redis_namespace
    template = LoadTemplate(duration_s=3, think_time_s=1.0, redis_url=ns.url,
                            database_url=postgres_url, redis_prefix=ns.prefix)  # fmt: skip
    rows = run_sweep(sweep_steps([10], [1, 2]), load_runner(template), tmp_path, lambda _: None)
    assert [(r.users, r.nodes, r.error) for r in rows] == [(10, 1, ""), (10, 2, "")]
    assert all(r.loss_final == 0 and r.deliveries_per_s > 0 for r in rows)
    two = json.loads((Path(rows[1].run_dir) / "summary.json").read_text())
    by_node = two["deliveries"]["received_live_by_node"]
    assert len(by_node) == 2 and all(n > 0 for n in by_node.values())
    html = write_sweep(rows, tmp_path)["html"].read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 3


def test_sweep_steps_against_given_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLU-1: `--url` repeated gives every step the cluster's node URLs (no cluster started)."""
    import argparse

    import harness.load
    from harness.cli._load_options import add_load_options, template_from_args

    parser = argparse.ArgumentParser()
    add_load_options(parser, duration="5s")
    args = parser.parse_args(["--url", "http://a:1/", "--url", "http://b:2", "--jwt-secret", "s"])
    template = template_from_args(args)
    assert template.urls == ("http://a:1", "http://b:2")
    seen: list[LoadConfig] = []

    def fake_run_load(config: LoadConfig) -> Path:
        seen.append(config)
        raise TargetError("stop here")

    monkeypatch.setattr(harness.load, "run_load", fake_run_load)
    with pytest.raises(TargetError):
        load_runner(template)(LoadStep(10, 1), tmp_path)
    assert seen[0].urls == ("http://a:1", "http://b:2") and seen[0].nodes == 1
