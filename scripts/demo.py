"""`make demo`: start the bundled reference server, check it against the spec, load it, report.

Runs the same commands a user would type, printing each one first:

    crm-harness conform --jwt-secret S --report reports/conformance
                        (its own bundled server with short timings, so every check runs;
                        --conform-demo-server checks the demo server with --url instead)
    crm-harness serve   --port P --jwt-secret S --data-dir TMP     (embedded SQLite, thrown away)
    crm-harness load    --url URL --jwt-secret S --users 100 --duration 30s --scenario team_sync
                        --report reports/load --slo slo.example.toml       (the SLO gates)

then prints where the reports are and their verdicts. The server and every process a step
started are stopped whatever happens (a failed step, Ctrl-C, SIGTERM). Exit status: 0 when
every step passed, else the first failing step's status (130 on Ctrl-C, 143 on SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from harness.spec import HEALTH_PATH

__all__ = ["DemoConfig", "StepResult", "main", "parse_args", "run_demo"]

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class DemoConfig:
    harness: Path  # the `crm-harness` console script
    reports: Path
    users: int
    spawn_rate: float
    duration: str
    scenario: str
    jwt_secret: str
    slo: Path | None
    conform_args: tuple[str, ...]
    load_args: tuple[str, ...]
    conform_demo_server: bool = False


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    exit_code: int
    report_dir: Path
    verdict: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


class DemoError(Exception):
    """A step could not even start (server never became healthy, console script missing)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def _show(command: Sequence[str]) -> None:
    print("$ " + " ".join(command), flush=True)


@contextmanager
def reference_server(config: DemoConfig, log_path: Path) -> Iterator[str]:
    """`crm-harness serve` on a free port with a throwaway data dir; yields its URL."""
    data_dir = Path(tempfile.mkdtemp(prefix="crm-demo-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(config.harness), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--jwt-secret", config.jwt_secret, "--data-dir", str(data_dir),
    ]  # fmt: skip
    _show(command)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches the demo, which then stops the server itself.
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if server.poll() is not None:
                raise DemoError(
                    f"the server exited with status {server.returncode}; see {log_path}"
                )
            if time.monotonic() > deadline:
                raise DemoError(f"the server was not healthy after {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        _say(f"reference server up at {url} (log: {log_path})")
        yield url
    finally:
        _stop_group(server, signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)
        _say("reference server stopped")


def _stop_group(process: subprocess.Popen[bytes], first: signal.Signals) -> None:
    """Stop a process started in a session of its own, and everything it started (Locust's
    processes under `load`, for instance): `first` to the group, SIGKILL if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    # The leader may be gone while children it left behind still run.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _word(exit_code: int) -> str:
    return {0: "PASS", 1: "FAIL"}.get(exit_code, f"ERROR (exit {exit_code})")


def conformance_verdict(exit_code: int, report_dir: Path) -> str:
    summary = _read_json(report_dir / "report.json").get("summary", {})
    counts = ", ".join(f"{n} {kind}" for kind, n in summary.items())
    return f"{_word(exit_code)} ({counts})" if counts else _word(exit_code)


def load_verdict(exit_code: int, report_dir: Path) -> str:
    summary = _read_json(report_dir / "summary.json")
    latency = summary.get("latency_ms", {})
    figures = {
        "p99 fan-out ms": latency.get("fanout", {}).get("p99"),
        "p99 end-to-end ms": latency.get("e2e", {}).get("p99"),
        "loss": summary.get("loss", {}).get("final"),
        "leaks": summary.get("isolation_leaks"),
    }
    shown = ", ".join(f"{name} {value}" for name, value in figures.items() if value is not None)
    return f"{_word(exit_code)} ({shown})" if shown else _word(exit_code)


def _run_step(name: str, command: Sequence[str]) -> int:
    _say(name)
    _show(command)
    # A session of its own, like the server's: when the demo is interrupted (Ctrl-C, SIGTERM)
    # it stops the step's whole process group itself, and nothing is left running.
    step = subprocess.Popen(list(command), start_new_session=True)
    try:
        return step.wait()
    except BaseException:
        _stop_group(step, signal.SIGINT)
        raise


def _conformance(config: DemoConfig, target: Sequence[str], about: str) -> StepResult:
    report_dir = config.reports / "conformance"
    conform = [
        str(config.harness), "conform", *target, "--report", str(report_dir),
        "--junit", str(report_dir / "junit.xml"), *config.conform_args,
    ]  # fmt: skip
    code = _run_step(f"conformance suite {about}", conform)
    return StepResult("conformance", code, report_dir, conformance_verdict(code, report_dir))


def _load(config: DemoConfig, target: Sequence[str]) -> int:
    load = [
        str(config.harness), "load", *target, "--users", str(config.users),
        "--spawn-rate", f"{config.spawn_rate:g}", "--duration", config.duration,
        "--scenario", config.scenario, "--report", str(config.reports / "load"),
        *(["--slo", str(config.slo)] if config.slo else []), *config.load_args,
    ]  # fmt: skip
    return _run_step(f"{config.scenario} load, {config.users} users for {config.duration}", load)


def run_demo(config: DemoConfig) -> list[StepResult]:
    if not config.harness.exists():
        raise DemoError(f"{config.harness} not found: run `make install` first")
    load_dir = config.reports / "load"
    # Verdicts are read from these files: none may be left over from an earlier run.
    for stale in (config.reports / "conformance" / "report.json", load_dir / "summary.json"):
        stale.unlink(missing_ok=True)
    results: list[StepResult] = []
    if not config.conform_demo_server:
        # Without --url, conform runs its own bundled server with short timings and a
        # crash-restart, so that every check runs (CLU-2 and the replay-age window too).
        target = ["--jwt-secret", config.jwt_secret]
        results.append(_conformance(config, target, "on its own bundled server"))
    with reference_server(config, config.reports / "demo-server.log") as url:
        target = ["--url", url, "--jwt-secret", config.jwt_secret]
        if config.conform_demo_server:
            results.append(_conformance(config, target, "against the demo server"))
        code = _load(config, target)
    results.append(StepResult("load", code, load_dir, load_verdict(code, load_dir)))
    return results


def _print_results(results: Sequence[StepResult]) -> None:
    print("\nDemo results", flush=True)
    for result in results:
        report = result.report_dir / "report.html"
        where = report if report.exists() else result.report_dir
        print(f"  {result.name:<12} {result.verdict}\n  {'':<12} report: {where}", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> DemoConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    venv_bin = Path(sys.executable).parent
    default_slo = ROOT / "slo.example.toml"
    parser.add_argument("--harness", type=Path, default=venv_bin / "crm-harness")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=50)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--scenario", default="team_sync")
    parser.add_argument("--slo", type=Path, default=default_slo if default_slo.exists() else None)
    parser.add_argument("--no-slo", dest="slo", action="store_const", const=None)
    parser.add_argument(
        "--conform-demo-server",
        action="store_true",
        help="check the demo server (default timings: CLU-2 and slow timing checks not-run)",
    )
    parser.add_argument(
        "--conform-arg", action="append", default=[], help="extra option for `conform` (repeat)"
    )
    parser.add_argument(
        "--load-arg", action="append", default=[], help="extra option for `load` (repeat)"
    )
    args = parser.parse_args(argv)
    return DemoConfig(
        harness=args.harness,
        reports=args.reports,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration=args.duration,
        scenario=args.scenario,
        jwt_secret=os.environ.get("JWT_SECRET") or f"demo-{secrets.token_hex(16)}",
        slo=args.slo,
        conform_args=tuple(args.conform_arg),
        load_args=tuple(args.load_arg),
        conform_demo_server=args.conform_demo_server,
    )


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so the `finally` that stops the server runs.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        results = run_demo(config)
    except DemoError as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    _print_results(results)
    failed = [r for r in results if not r.passed]
    return failed[0].exit_code if failed else 0


if __name__ == "__main__":
    sys.exit(main())
