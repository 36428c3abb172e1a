"""The gate step of the GitHub Action (action.yml): `python -m harness.cli.github_action`.

Reads the action's inputs from `INPUT_*` (see `_action_inputs`), runs `crm-harness conform`
and then `crm-harness load` (unless `load: false`; also after a failed conformance, so that
both verdicts are on the page), each as its own process in the caller's checkout, and writes
the verdict table to `$GITHUB_STEP_SUMMARY`, the step's outputs (`conformance`, `load`:
pass | fail | error | skipped) to `$GITHUB_OUTPUT` and an `::error` annotation per failed
MUST or gate. Exit 0 when no MUST and no gate failed, 1 when one did, 2 when a step could not
run (bad input, unreachable target): the job fails exactly then.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._exceptions import UsageError
from ._action_inputs import ActionInputs
from ._action_summary import Step, StepResult, error_annotations, render_summary, status_of

__all__ = ["main", "run_gate"]


def _raise_open_files() -> None:
    """Every simulated user holds sockets: the load step needs the hard limit of open files
    (what `ulimit -n "$(ulimit -Hn)"` did in the template workflow)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _masked(argv: Sequence[str], secrets: Sequence[str]) -> str:
    return " ".join("***" if arg in secrets else arg for arg in argv)


def _run_command(argv: Sequence[str], cwd: Path, secrets: Sequence[str]) -> tuple[int, str]:
    """`crm-harness ARGV` with this interpreter, its output streamed into the job log (folded
    in a group); the exit code and the last line it wrote on stderr."""
    print(f"::group::crm-harness {argv[0]}", flush=True)
    print(f"crm-harness {_masked(argv, secrets)}", flush=True)
    last = ""
    with subprocess.Popen([sys.executable, "-m", "harness", *argv], cwd=cwd,
                          stderr=subprocess.PIPE, text=True, bufsize=1) as process:  # fmt: skip
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(line)
            last = line.strip() or last
    print("::endgroup::", flush=True)
    return process.returncode, last


def _step(step: Step, argv: Sequence[str], inputs: ActionInputs) -> StepResult:
    code, last = _run_command(argv, inputs.workspace, inputs.secrets)
    status = status_of(code)
    return StepResult(step, status, inputs.report_root / step, last if status == "error" else "")


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)


def _finish(results: Sequence[StepResult], inputs: ActionInputs | None,
            environ: Mapping[str, str], summary: str) -> int:  # fmt: skip
    _append(environ.get("GITHUB_STEP_SUMMARY"), summary)
    if not environ.get("GITHUB_STEP_SUMMARY"):
        print(summary)
    outputs: dict[str, str] = {r.step: r.status for r in results}
    if inputs is not None:
        outputs["report-dir"] = str(inputs.report_root)
    _append(environ.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in outputs.items()))
    statuses = {r.status for r in results}
    return 2 if "error" in statuses else 1 if "fail" in statuses else 0


def run_gate(environ: Mapping[str, str]) -> int:
    """The whole step, with `environ` standing for the runner's environment."""
    try:
        inputs = ActionInputs.from_env(environ)
        for secret in inputs.secrets:
            print(f"::add-mask::{secret}", flush=True)
        from . import build_parser

        load_argv = inputs.load_args(build_parser()) if inputs.run_load else None
        conform_argv = inputs.conform_args()
    except UsageError as exc:
        print(f"::error title=crm-harness action::{exc}", flush=True)
        text = f"## ❌ crm-harness: could not start\n\n{exc}\n"
        steps: tuple[Step, ...] = ("conformance", "load")
        failed = [StepResult(step, "error", Path(), str(exc)) for step in steps]
        return _finish(failed, None, environ, text)
    _raise_open_files()
    results = [_step("conformance", conform_argv, inputs)]
    if load_argv is None:
        results.append(StepResult("load", "skipped", inputs.report_root / "load"))
    else:
        results.append(_step("load", load_argv, inputs))
    for line in error_annotations(results):
        print(line, flush=True)
    label = ""
    if load_argv is not None:
        label = " ({} users, {}, {})".format(*(inputs.get(n) or "default" for n in
                                               ("users", "duration", "scenario")))  # fmt: skip
    artifact = inputs.get("artifact-name") or "crm-reports"
    summary = render_summary(results, inputs.urls, artifact, label)
    return _finish(results, inputs, environ, summary)


def main() -> int:
    return run_gate(os.environ)


if __name__ == "__main__":
    sys.exit(main())
