"""`compare`: real regressions flagged, run-to-run noise not; incremental vs refetch."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from reporting_synth import (
    UPDATE_BYTES,
    RunSpec,
    action,
    latency_spec,
    standard_spec,
    write_run,
)

from harness.cli import main
from harness.reporting import load_run
from harness.reporting._compare_report import write_comparison
from harness.reporting.compare import Change, compare_runs
from harness.reporting.refetch import measure_update_cost

CHANGES = 300


def lognormal_run(directory: Path, seed: int, scale: float = 1.0) -> Path:
    """CHANGES team updates, each reaching 5 receivers at one lognormal latency (~20 ms)."""
    latencies = scale * np.random.default_rng(seed).lognormal(3.0, 0.5, CHANGES)
    return write_run(directory, latency_spec(list(latencies)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_distribution_is_not_a_regression(tmp_path: Path, seed: int) -> None:
    """Two runs of one latency distribution differ only by sampling noise: nothing flagged."""
    base = lognormal_run(tmp_path / "base", seed)
    new = lognormal_run(tmp_path / "new", seed + 100)
    comparison = compare_runs(load_run(base), load_run(new))
    assert comparison.regressions == ()
    changed = [d for d in comparison.deltas if d.unit == "ms" and d.base != d.new]
    assert changed, "the two samples should differ, or the test proves nothing"


def bursty_run(directory: Path, seed: int) -> Path:
    """Latency that drifts second by second (load bursts, GC pauses) around one median."""
    rng = np.random.default_rng(seed)
    per_second = rng.lognormal(0.0, 0.4, CHANGES // 10 + 1)
    latencies = [per_second[i // 10] * rng.lognormal(3.0, 0.2) for i in range(CHANGES)]
    return write_run(directory, latency_spec(latencies))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_time_correlated_noise_is_not_a_regression(tmp_path: Path, seed: int) -> None:
    """Bursts make neighbouring deliveries alike; the block permutation test must not mistake two
    runs of the same bursty process for a regression in either direction."""
    base = load_run(bursty_run(tmp_path / "base", seed))
    new = load_run(bursty_run(tmp_path / "new", seed + 100))
    assert compare_runs(base, new).regressions == ()
    assert compare_runs(new, base).regressions == ()


def test_short_runs_are_not_judged(tmp_path: Path) -> None:
    """Under ten seconds of deliveries there are too few blocks to tell a shift from noise."""
    base = write_run(tmp_path / "base", latency_spec([10.0] * 50))
    new = write_run(tmp_path / "new", latency_spec([40.0] * 50))
    latency = [d for d in compare_runs(load_run(base), load_run(new)).deltas if d.unit == "ms"]
    assert all(d.change is Change.INFO and "too short" in d.reason for d in latency)
    assert latency[0].new == pytest.approx(40.0, abs=1e-3)


def test_a_real_latency_shift_is_flagged(tmp_path: Path) -> None:
    """+30 % at every percentile: p50 must be flagged, with a small p-value."""
    base = lognormal_run(tmp_path / "base", 1)
    new = lognormal_run(tmp_path / "new", 101, scale=1.3)
    comparison = compare_runs(load_run(base), load_run(new))
    flagged = {d.metric: d for d in comparison.regressions}
    assert {"p50_e2e_ms", "p50_fanout_ms"} <= set(flagged)
    p50 = flagged["p50_e2e_ms"]
    assert p50.p_value is not None and p50.p_value < 0.01
    assert p50.relative_pct == pytest.approx(
        (np.quantile(p50_values(new), 0.5) / np.quantile(p50_values(base), 0.5) - 1) * 100
    )


def p50_values(run_dir: Path) -> np.ndarray:
    rows = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert rows["latency_ms"]["e2e"]["p50"] > 0
    deliveries = load_run(run_dir).deliveries
    actions = load_run(run_dir).actions.set_index("entity_id")["t_send"]
    return (deliveries["t_recv"] - deliveries["entity_id"].map(actions)).to_numpy() * 1000


def test_threshold_and_noise_floor_hold_back_a_significant_shift(tmp_path: Path) -> None:
    """A significant +30 % shift is not flagged under a 60 % threshold, nor when its absolute
    size is under the noise floor."""
    base = load_run(lognormal_run(tmp_path / "base", 1))
    new = load_run(lognormal_run(tmp_path / "new", 101, scale=1.3))
    assert "p50_e2e_ms" in {d.metric for d in compare_runs(base, new).regressions}
    assert compare_runs(base, new, threshold_pct=60.0).regressions == ()
    assert compare_runs(base, new, noise_floor_ms=100.0).regressions == ()


def test_any_new_leak_is_a_regression(tmp_path: Path) -> None:
    """EVT-1, RED-1: correctness counts regress on any increase."""
    clean = standard_spec()
    clean.anomalies = []
    base = write_run(tmp_path / "base", clean)
    new = write_run(tmp_path / "new", standard_spec())
    comparison = compare_runs(load_run(base), load_run(new))
    flagged = {d.metric for d in comparison.regressions}
    assert {"isolation_leaks", "redaction_leaks", "duplicates"} <= flagged
    back = compare_runs(load_run(new), load_run(base))
    assert {d.metric for d in back.deltas if d.change is Change.IMPROVEMENT} >= {"duplicates"}


def test_compare_cli_exit_codes_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fail-on-regression exits 1 on a regression; --report writes HTML with its plots."""
    base = lognormal_run(tmp_path / "base", 1)
    new = lognormal_run(tmp_path / "new", 101, scale=1.3)
    assert main(["compare", str(base), str(new)]) == 0
    out_dir = tmp_path / "cmp"
    junit = tmp_path / "ci" / "compare.xml"
    args = ["compare", str(base), str(new), "--fail-on-regression", "--report", str(out_dir),
            "--junit", str(junit)]  # fmt: skip
    assert main(args) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert "p50_e2e_ms" in failed and "loss_final" not in failed
    assert "REGRESSION: p50_e2e_ms" in capsys.readouterr().out
    html = (out_dir / "compare.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 3
    assert json.loads((out_dir / "compare.json").read_text(encoding="utf-8"))["regressions"]
    assert main(["compare", str(base), str(base), "--fail-on-regression"]) == 0


@pytest.mark.parametrize(
    "extra", [["--threshold", "-5"], ["--noise-floor-ms", "-1"], ["--threshold", "x"]]
)
def test_compare_cli_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    """Bad numbers and missing run directories exit 2 with one line."""
    base = lognormal_run(tmp_path / "base", 1)
    try:
        code = main(["compare", str(base), str(base), *extra])
    except SystemExit as exited:  # argparse's own type errors
        code = int(str(exited.code))
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["compare", str(base), str(tmp_path / "absent")]) == 2


def refetch_spec(refetch_ms: float, response_bytes: int) -> RunSpec:
    """Every receiver refetches the list on each event; the refetch answers `refetch_ms`
    after the change was sent, with `response_bytes` of JSON."""
    spec = latency_spec([10.0] * 20)
    spec.scenario = "refetch_baseline"
    sent = {a["entity_id"]: a["t_send"] for a in spec.actions}
    for d in list(spec.deliveries):
        t_change = sent[d["entity_id"]]
        refetch = action(d["receiver"], "refetch", d["entity_id"], 2, "team", d["t_recv"],
                         bytes_received=response_bytes)  # fmt: skip
        refetch["t_ack"] = t_change + refetch_ms / 1000
        spec.actions.append(refetch)
    return spec


def test_incremental_vs_refetch_table(tmp_path: Path) -> None:
    """EVT-6: bytes and latency per update, measured from a team_sync and a refetch run."""
    incremental = write_run(tmp_path / "inc", latency_spec([10.0] * 20))
    refetch = write_run(tmp_path / "ref", refetch_spec(250.0, 50_000))
    comparison = compare_runs(load_run(incremental), load_run(refetch))
    outputs = write_comparison(comparison, tmp_path / "out")
    markdown = outputs.markdown.read_text(encoding="utf-8")
    assert "Incremental updates vs full refetch" in markdown
    assert "| refetch_baseline ÷ team_sync |  | 126.0× | 25.0× |" in markdown  # 50,400 / 400
    assert 'id="update-costs"' in outputs.html.read_text(encoding="utf-8")
    inc = measure_update_cost(load_run(incremental))
    ref = measure_update_cost(load_run(refetch))
    assert (inc.updates, inc.bytes_median) == (100, UPDATE_BYTES)
    assert inc.latency_p50_ms == pytest.approx(10.0) and inc.latency_p99_ms == pytest.approx(10.0)
    assert (ref.updates, ref.bytes_median) == (100, 50_000 + UPDATE_BYTES)
    assert ref.latency_p50_ms == pytest.approx(250.0)


def test_refetch_without_response_sizes_says_so(tmp_path: Path) -> None:
    """No bytes_received column: the size is unknown, not zero."""
    spec = refetch_spec(250.0, 1)
    for row in spec.actions:
        row.pop("bytes_received", None)
    cost = measure_update_cost(load_run(write_run(tmp_path / "ref", spec)))
    assert np.isnan(cost.bytes_median) and "bytes_received" in cost.note
