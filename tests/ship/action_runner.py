"""Runs the steps of action.yml the way a GitHub runner runs a composite action's `run` steps.

No local runner (`act`) is available here, so this does the runner's part itself: it evaluates
the `${{ ... }}` expressions of a step's `env` (inputs with action.yml's defaults, the action's
path, `runner.temp`, earlier steps' outputs), sets the environment a runner sets
(`GITHUB_WORKSPACE`, `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`, `GITHUB_ACTION_PATH`,
`RUNNER_TEMP`) and runs the step's script with `bash --noprofile --norc -eo pipefail`, the
runner's `shell: bash`. `uses:` steps (setup-python, upload-artifact) are GitHub's own and are
not run: setup-python's interpreter is this one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ActionRun", "load_action"]

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_action(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@dataclass
class ActionRun:
    """One use of the action: `with` values, the caller's workspace, the runner's temp dir."""

    action_dir: Path
    workspace: Path
    runner_temp: Path
    inputs: Mapping[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id → its outputs

    def __post_init__(self) -> None:
        self.action = load_action(self.action_dir / "action.yml")
        self.summary = self.runner_temp / "step_summary.md"
        unknown = set(self.inputs) - set(self.action["inputs"])
        assert not unknown, f"not inputs of action.yml: {unknown}"

    def step(self, id_or_name: str) -> dict[str, Any]:
        steps = self.action["runs"]["steps"]
        [step] = [s for s in steps if id_or_name in (s.get("id"), s.get("name"))]
        return step  # type: ignore[no-any-return]

    def _value(self, expression: str) -> str:
        """The expressions action.yml uses: `a || b`, inputs.X, steps.ID.outputs.X,
        github.action_path, runner.temp."""
        for alternative in expression.split("||"):
            value = self._operand(alternative.strip())
            if value:
                return value
        return ""

    def _operand(self, name: str) -> str:
        if name.startswith("inputs."):
            key = name.removeprefix("inputs.")
            return self.inputs.get(key, str(self.action["inputs"][key].get("default", "")))
        if name == "steps.python.outputs.python-path":
            return sys.executable  # what setup-python would have installed: a CPython 3.11
        if match := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", name):
            return self.outputs.get(match[1], {}).get(match[2], "")
        return {"github.action_path": str(self.action_dir), "runner.temp": str(self.runner_temp)}[
            name
        ]

    def evaluate(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self._value(m[1]), text)

    def run_step(self, id_or_name: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        step = self.step(id_or_name)
        assert step["shell"] == "bash", step
        output = self.runner_temp / f"output-{id_or_name}"
        output.write_text("")
        self.summary.touch()
        runner_env = {
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ACTION_PATH": str(self.action_dir),
            "RUNNER_TEMP": str(self.runner_temp),
            "GITHUB_ACTIONS": "true",
        }
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "VIRTUAL"))}
        env = {**inherited, **runner_env}
        env.update({k: self.evaluate(str(v)) for k, v in step.get("env", {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", self.evaluate(step["run"])],
            cwd=self.workspace, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if "id" in step:
            lines = output.read_text().splitlines()
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        return done
