"""The GitHub workflows: they parse, their shell is valid, and every `crm-harness` command in them
is one the CLI accepts. INF-3 (the CI waits on /healthz), STR-5/EVT-1 via the load gate's SLO.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from action_runner import load_action
from deploy_commands import (
    ROOT,
    harness_invocations,
    interpolate,
    load_yaml,
    parse_harness_command,
    shell_lines,
)

from harness.cli import build_parser
from harness.cli._action_inputs import ActionInputs, env_name

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
    """A moving `@main` would change CI under our feet; `./…` is this repository's action,
    checked out with the workflow."""
    for step in _steps(workflow):
        if "uses" in step and not step["uses"].startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


def _action_step(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    """The job's step that uses this repository's action (action.yml)."""
    [step] = [s for s in _steps(workflow, job) if str(s.get("uses", "")).startswith("./")]
    return step


def _sample(value: object, workflow: dict[str, Any]) -> str:
    """A `with:` value with its expressions replaced: inputs by their sample or default,
    secrets and env by a sample secret."""
    dispatch = (_triggers(workflow).get("workflow_dispatch") or {}).get("inputs", {})
    defaults = {name: str(spec.get("default", "")) for name, spec in dispatch.items()}

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name == "inputs.url":
            return SAMPLES["CRM_URL"]
        if name.startswith("inputs."):
            return defaults[name.removeprefix("inputs.")]
        assert name.startswith(("secrets.", "env.")), name
        return SAMPLES["JWT_SECRET"]

    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", one, str(value))


def _action_commands(workflow: dict[str, Any], job: str) -> tuple[Any, Any]:
    """The conform and load commands the action makes of the step's inputs (action.yml's
    defaults for the rest), parsed by the real CLI."""
    step = _action_step(workflow, job)
    declared = load_action(ROOT / "action.yml")["inputs"]
    assert set(step["with"]) <= set(declared), set(step["with"]) - set(declared)
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    values.update({name: _sample(value, workflow) for name, value in step["with"].items()})
    env = {env_name(name): value for name, value in values.items()}
    inputs = ActionInputs.from_env({**env, "GITHUB_WORKSPACE": str(ROOT),
                                    "GITHUB_ACTION_PATH": str(ROOT)})  # fmt: skip
    conform = parse_harness_command(inputs.conform_args())
    load = parse_harness_command(inputs.load_args(build_parser()))
    return conform, load


def test_the_gate_job_runs_the_action_with_commands_the_cli_accepts(
    gate_job: tuple[dict[str, Any], str],
) -> None:
    """Conformance and the load gate run through action.yml (tests/ship/test_github_action.py
    runs its steps); what the job gives it makes commands `crm-harness` accepts, and the load
    run gates on an SLO file that exists."""
    workflow, job = gate_job
    conform, load = _action_commands(workflow, job)
    url = _sample(_action_step(workflow, job)["with"]["url"], workflow)
    assert conform.url == load.url == [url]
    assert load.scenario == "team_sync"
    assert load.slo is not None and Path(load.slo).is_file(), load.slo
    assert _commands(workflow, "conform", job) == _commands(workflow, "load", job) == []


def test_every_job_uploads_its_reports_even_on_failure(workflow: dict[str, Any]) -> None:
    """A red run still leaves its reports: its own upload, or the action's (which uploads
    before the step that fails the job)."""
    for job in workflow["jobs"]:
        uploads = [
            s
            for s in _steps(workflow, job)
            if str(s.get("uses", "")).startswith("actions/upload-artifact")
        ]
        if not uploads:
            assert _action_step(workflow, job), job
            continue
        assert len(uploads) == 1, job
        assert uploads[0]["if"] == "always()"
        assert uploads[0]["with"]["path"].rstrip("/") == "reports"


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
    assert _action_step(workflow, "test")["with"]["url"] == target
    conform, load = _action_commands(workflow, "test")
    assert conform.url == load.url == [target]


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
    # The caller's repository is checked out at the workspace root (its SLO file), the
    # harness beside it, and the action is used from there with the repository secret.
    checkouts = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/checkout")]
    assert "with" not in checkouts[0]
    harness_path = checkouts[1]["with"]["path"]
    step = _action_step(workflow, "conform")
    assert step["uses"] == f"./{harness_path}"
    assert step["with"]["jwt-secret"] == "${{ secrets.CRM_JWT_SECRET }}"
    assert step["with"]["url"] == "${{ inputs.url }}"
    assert step["with"]["slo"] == "${{ inputs.slo }}"


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
