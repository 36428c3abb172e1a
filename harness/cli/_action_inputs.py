"""The GitHub Action's inputs (action.yml) read from the environment, and the two commands they
make: `crm-harness conform` and `crm-harness load`.

A composite action sees its inputs only as `${{ inputs.NAME }}`; action.yml's gate step maps
each one to `INPUT_<NAME>` (upper case, `-` → `_`), the name a runner gives a JavaScript
action's inputs. Defaults live in action.yml alone: here an empty input means "not given".
Every path is read in the caller's checkout (`GITHUB_WORKSPACE`). Everything is checked before
anything runs: one bad input costs one line, not a conformance run.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import UsageError

__all__ = ["INPUTS", "ActionInputs", "env_name"]

# Every input of action.yml, in its order (tests/ship/test_github_action.py compares).
INPUTS: tuple[str, ...] = (
    "url", "jwt-secret", "jwt-private-key", "jwt-alg", "jwt-kid", "token-cmd", "ca-cert",
    "profiles", "slo", "users", "duration", "scenario", "load", "conform-args", "load-args",
    "report-dir", "artifact-name",
)  # fmt: skip
# Inputs that become a target option of both commands (`--NAME VALUE`), and those of them that
# name a file in the caller's checkout.
_TARGET_INPUTS = ("jwt-secret", "jwt-private-key", "jwt-alg", "jwt-kid", "token-cmd", "ca-cert")
_FILE_INPUTS = ("jwt-private-key", "ca-cert", "slo")
_SECRET_INPUTS = ("jwt-secret",)
_TOKEN_SOURCES = ("jwt-secret", "jwt-private-key", "token-cmd")


def env_name(name: str) -> str:
    """`jwt-secret` → `INPUT_JWT_SECRET`: what action.yml maps each input to."""
    return "INPUT_" + name.upper().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True, slots=True)
class ActionInputs:
    values: Mapping[str, str]  # input name → value, "" when not given
    workspace: Path
    default_slo: Path | None  # the harness's slo.example.toml when the caller names none

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ActionInputs:
        workspace = Path(environ.get("GITHUB_WORKSPACE") or ".").resolve()
        action_path = environ.get("GITHUB_ACTION_PATH")
        example = Path(action_path) / "slo.example.toml" if action_path else None
        values = {name: environ.get(env_name(name), "").strip() for name in INPUTS}
        inputs = cls(values, workspace, example if example and example.is_file() else None)
        inputs.check()
        return inputs

    def get(self, name: str) -> str:
        return self.values[name]

    @property
    def urls(self) -> list[str]:
        """`url` may hold several node URLs, separated by spaces, commas or new lines."""
        return [u for u in re.split(r"[\s,]+", self.get("url")) if u]

    @property
    def run_load(self) -> bool:
        return self.get("load").lower() not in ("false", "no", "0", "off")

    @property
    def secrets(self) -> list[str]:
        """Values never to print (the runner masks them too: `::add-mask::`)."""
        return [v for v in (self.get(n) for n in _SECRET_INPUTS) if v]

    @property
    def report_root(self) -> Path:
        return self.path(self.get("report-dir") or "crm-reports")

    def path(self, value: str) -> Path:
        return (self.workspace / value).resolve()

    @property
    def slo(self) -> Path | None:
        return self.path(self.get("slo")) if self.get("slo") else self.default_slo

    def check(self) -> None:
        if not self.urls:
            raise UsageError("input url: give the base URL of the server to check")
        if not any(self.get(name) for name in _TOKEN_SOURCES):
            raise UsageError(
                "give one token source: input jwt-secret (e.g. ${{ secrets.CRM_JWT_SECRET }}), "
                "jwt-private-key or token-cmd"
            )
        for name in _FILE_INPUTS:
            if self.get(name) and not self.path(self.get(name)).is_file():
                raise UsageError(f"input {name}: no file {self.get(name)} in {self.workspace}")
        for name in ("conform-args", "load-args"):
            try:
                shlex.split(self.get(name))
            except ValueError as exc:
                raise UsageError(f"input {name}: {exc}") from None

    def _target_args(self) -> list[str]:
        args = [arg for url in self.urls for arg in ("--url", url)]
        for name in _TARGET_INPUTS:
            if value := self.get(name):
                args += [f"--{name}", str(self.path(value)) if name in _FILE_INPUTS else value]
        return args

    def conform_args(self) -> list[str]:
        out = self.report_root / "conformance"
        args = ["conform", *self._target_args(), "--report", str(out)]
        args += ["--junit", str(out / "junit.xml")]
        if self.get("profiles"):
            args += ["--profile", self.get("profiles")]
        return args + shlex.split(self.get("conform-args"))

    def load_args(self, parser: argparse.ArgumentParser) -> list[str]:
        """`parser` is crm-harness's: a token option its `load` does not take is a UsageError
        here, before conformance has run for minutes."""
        target = self._target_args()
        _check_accepted(parser, "load", target)
        args = ["load", *target, "--report", str(self.report_root / "load")]
        for name in ("users", "duration", "scenario"):
            if self.get(name):
                args += [f"--{name}", self.get(name)]
        if self.slo is not None:
            args += ["--slo", str(self.slo)]
        return args + shlex.split(self.get("load-args"))


def _check_accepted(parser: argparse.ArgumentParser, command: str, args: Sequence[str]) -> None:
    """`args` are `--option value` pairs."""
    for option, value in zip(args[::2], args[1::2], strict=True):
        try:
            _, unknown = parser.parse_known_args([command, option, value])
        except SystemExit:  # argparse said why on stderr (a value outside the choices)
            raise UsageError(f"crm-harness {command} refuses {option} {value!r}") from None
        if unknown:
            raise UsageError(
                f"`crm-harness {command}` takes no {option} in this version: give it a token "
                "source it takes (jwt-secret) or set load: false"
            )
