"""The GitHub workflows: they parse, their shell is valid, and every `crm-harness` command in them
is one the CLI accepts. INF-3 (the CI waits on /healthz), STR-5/EVT-1 via the load gate's SLO.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_commands import (
    ROOT,
    harness_invocations,
    interpolate,
    load_yaml,
    parse_harness_command,
    shell_lines,
)

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
TEMPLATE = WORKFLOWS / "conform-your-server.yml"
# Values standing in for the workflows' variables when their commands are parsed.
SAMPLES = {
    "JWT_SECRET": "secret",
    "CRM_JWT_SECRET": "secret",
    "CRM_URL": "http://crm.example:8000",
    "CRM_PROFILES": "core,metrics",
    "CRM_USERS": "100",
    "CRM_DURATION": "60s",
    "CRM_SLO": "slo.example.toml",
}


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    keys: dict[Any, Any] = workflow
    triggers = keys.get("on", keys.get(True))
    assert isinstance(triggers, dict), "`on:` must map triggers to their settings"
    return triggers


def _steps(workflow: dict[str, Any], job: str | None = None) -> list[dict[str, Any]]:
    jobs = [workflow["jobs"][job]] if job else workflow["jobs"].values()
    return [step for each in jobs for step in each["steps"]]


def _scripts(workflow: dict[str, Any], job: str | None = None) -> list[str]:
    return [step["run"] for step in _steps(workflow, job) if "run" in step]


def _commands(workflow: dict[str, Any], subcommand: str, job: str | None = None) -> list[Any]:
    scripts = _scripts(workflow, job)
    argvs = [argv for script in scripts for argv in harness_invocations(script, SAMPLES)]
    return [parse_harness_command(argv) for argv in argvs if argv[:1] == [subcommand]]


@pytest.fixture(params=[CI, TEMPLATE], ids=lambda p: Path(p).name)
def workflow(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_yaml(request.param)


# The job of each workflow that runs conformance and the load gate on one server.
GATE_JOBS = {CI.name: "test", TEMPLATE.name: "conform"}


@pytest.fixture(params=[CI, TEMPLATE], ids=lambda p: Path(p).name)
def gate_job(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    return load_yaml(request.param), GATE_JOBS[request.param.name]


def test_every_run_script_is_valid_bash(workflow: dict[str, Any]) -> None:
    """The shell of every step parses (`bash -n`), as the runner's `bash -e` will run it."""
    for script in _scripts(workflow):
        done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        assert done.returncode == 0, f"{done.stderr}\n---\n{script}"


def test_actions_are_pinned_to_a_major_version(workflow: dict[str, Any]) -> None:
    """A moving `@main` would change CI under our feet."""
    for step in _steps(workflow):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


def test_conformance_and_load_gate_commands_are_accepted_by_the_cli(
    gate_job: tuple[dict[str, Any], str],
) -> None:
    """The conform and load steps name options `crm-harness` really has, and the load run
    gates on an SLO file that exists."""
    workflow, job = gate_job
    conform = _commands(workflow, "conform", job)
    load = _commands(workflow, "load", job)
    assert len(conform) == len(load) == 1
    assert str(conform[0].report).startswith("reports/")
    assert str(load[0].report).startswith("reports/")
    assert load[0].scenario == "team_sync"
    assert load[0].slo is not None
    assert (ROOT / load[0].slo).is_file(), f"SLO file {load[0].slo} is not in the repo"


def test_every_job_uploads_its_reports_even_on_failure(workflow: dict[str, Any]) -> None:
    """A red run still leaves its reports."""
    for job in workflow["jobs"]:
        uploads = [
            s
            for s in _steps(workflow, job)
            if str(s.get("uses", "")).startswith("actions/upload-artifact")
        ]
        assert len(uploads) == 1, job
        assert uploads[0]["if"] == "always()"
        assert uploads[0]["with"]["path"].rstrip("/") == "reports"


def test_the_gate_job_summarises_even_on_failure(gate_job: tuple[dict[str, Any], str]) -> None:
    """The load gate's summary.md and the conformance counts land on the run page."""
    workflow, job = gate_job
    summaries = [s for s in _steps(workflow, job) if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert len(summaries) == 1 and summaries[0]["if"] == "always()"
    assert "summary.md" in summaries[0]["run"]
    assert "report.json" in summaries[0]["run"]


def test_ci_lints_tests_and_gates_the_bundled_server() -> None:
    """INF-3: CI runs make lint + make test, starts the bundled server, waits for /healthz."""
    workflow = load_yaml(CI)
    triggers = _triggers(workflow)
    assert {"push", "pull_request"} <= set(triggers)
    lines = [line for script in _scripts(workflow) for line in shell_lines(script)]
    assert "make lint" in lines
    assert any(line.startswith("make test") for line in lines)
    serve = _commands(workflow, "serve", "test")
    assert len(serve) == 1
    target = f"http://{serve[0].host}:{serve[0].port}"
    assert any(f"{target}/healthz" in line for line in lines)
    assert _commands(workflow, "conform", "test")[0].url == [target]
    assert _commands(workflow, "load", "test")[0].url == [target]


def test_ci_services_are_the_ones_the_test_fixtures_use() -> None:
    """The fixtures of tests/conftest.py fall back to PostgreSQL and Redis on 127.0.0.1."""
    workflow = load_yaml(CI)
    services = workflow["jobs"]["test"]["services"]
    assert services["postgres"]["ports"] == ["5432:5432"]
    assert services["redis"]["ports"] == ["6379:6379"]
    assert "--health-cmd" in services["postgres"]["options"]
    assert "--health-cmd" in services["redis"]["options"]
    env = workflow["env"]
    assert env["CRM_TEST_POSTGRES"].startswith("postgresql://postgres@127.0.0.1:5432/")
    assert env["CRM_TEST_REDIS"].startswith("redis://127.0.0.1:6379/")
    assert services["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"


def test_template_takes_the_url_as_input_and_the_secret_from_repository_secrets() -> None:
    """The template is reusable (workflow_call) and runnable by hand (workflow_dispatch)."""
    workflow = load_yaml(TEMPLATE)
    triggers = _triggers(workflow)
    assert triggers["workflow_dispatch"]["inputs"]["url"]["required"] is True
    assert triggers["workflow_call"]["inputs"]["url"]["required"] is True
    assert triggers["workflow_call"]["secrets"]["CRM_JWT_SECRET"]["required"] is True
    declared = set(triggers["workflow_dispatch"]["inputs"])
    assert declared == set(triggers["workflow_call"]["inputs"])
    text = TEMPLATE.read_text()
    for used in re.findall(r"\$\{\{\s*inputs\.(\w+)", text):
        assert used in declared, f"inputs.{used} is used but not declared"
    # Inputs and secrets reach scripts through env, never spliced into script text.
    for script in _scripts(workflow):
        assert "${{" not in script, script
    target = _commands(workflow, "conform")[0].url
    assert target == [SAMPLES["CRM_URL"]]
    assert _commands(workflow, "load")[0].url == [SAMPLES["CRM_URL"]]


def test_make_targets_named_in_workflows_exist() -> None:
    """Every `make X` of a workflow is a target the Makefile has."""
    for path in (CI, TEMPLATE):
        for script in _scripts(load_yaml(path)):
            for target in re.findall(r"^make (\S+)", script, flags=re.M):
                done = subprocess.run(
                    ["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True
                )
                assert done.returncode == 0, f"{path.name}: make {target}: {done.stderr}"


def _published(service: dict[str, Any]) -> list[str]:
    ports = [interpolate(port, {}) for port in service.get("ports", [])]  # compose's defaults
    return [f"http://127.0.0.1:{port.split(':')[-2]}" for port in ports]


def _make_recipe(target: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", "-s", "--no-print-directory", "-C", str(ROOT), target],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return shell_lines(done.stdout)


def test_stack_job_checks_the_compose_stack_with_the_harness() -> None:
    """CLU-1, INF-3, MET-1: CI builds the image and starts the compose stack through the make
    targets the compose-stack test runs (which wait for every health check), checks conformance
    through nginx and node by node, Prometheus' three targets, runs the Locust services."""
    workflow = load_yaml(CI)
    services = load_yaml(ROOT / "docker-compose.yml")["services"]
    lines = [line for script in _scripts(workflow, "stack") for line in shell_lines(script)]
    assert "docker compose --profile load config -q" in lines
    assert any("deploy/local/docker-compose.local.yml" in line and "config -q" in line
               for line in lines)  # fmt: skip
    assert "make compose-up" in lines
    up = _make_recipe("compose-up")
    assert any(" up -d" in line for line in up)
    assert any("local-docker.sh wait" in line for line in up), "compose-up must wait for health"
    through_proxy, node_by_node = _commands(workflow, "conform", "stack")
    assert through_proxy.url == _published(services["nginx"])
    assert node_by_node.url == [url for n in (1, 2, 3) for url in _published(services[f"node-{n}"])]
    prometheus = _published(services["prometheus"])[0]
    assert any(f"{prometheus}/api/v1/targets" in line for line in lines)
    assert any(line.startswith("make compose-load") for line in lines)
    assert any("locust-master locust-worker" in line for line in _make_recipe("compose-load"))
    compose_text = (ROOT / "docker-compose.yml").read_text()
    for step in _steps(workflow, "stack"):
        for name in step.get("env", {}):
            assert f"${{{name}" in compose_text, f"{name} is not a variable of docker-compose.yml"
    teardown = [s for s in _steps(workflow, "stack") if "compose-down" in s.get("run", "")]
    assert len(teardown) == 1 and teardown[0]["if"] == "always()"
    assert any("down -v" in line for line in _make_recipe("compose-down"))
