"""The action's inputs (`harness.cli._action_inputs`) without a server: what each becomes on
the command lines, and the bad inputs refused before anything runs (one line each)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import UsageError
from harness.cli import build_parser
from harness.cli._action_inputs import ActionInputs, env_name


def _inputs(workspace: Path, **values: str) -> ActionInputs:
    env = {env_name(name.replace("_", "-")): value for name, value in values.items()}
    return ActionInputs.from_env({**env, "GITHUB_WORKSPACE": str(workspace)})


def test_inputs_become_options_of_both_commands(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "slo.toml").write_text("loss_final = 0\n")
    inputs = _inputs(tmp_path, url="http://a:1, http://b:2\nhttp://c:3", jwt_secret="s3",
                     profiles="core", slo="ci/slo.toml", users="7", duration="5s",
                     conform_args="--req 'EVT-1,RED-1'", load_args="--think-time 0.5")  # fmt: skip
    urls = ["--url", "http://a:1", "--url", "http://b:2", "--url", "http://c:3"]
    reports = tmp_path / "crm-reports"
    assert inputs.conform_args() == [
        "conform", *urls, "--jwt-secret", "s3", "--report", str(reports / "conformance"),
        "--junit", str(reports / "conformance" / "junit.xml"), "--profile", "core",
        "--req", "EVT-1,RED-1",
    ]  # fmt: skip
    assert inputs.load_args(build_parser()) == [
        "load", *urls, "--jwt-secret", "s3", "--report", str(reports / "load"),
        "--users", "7", "--duration", "5s", "--slo", str(tmp_path / "ci" / "slo.toml"),
        "--think-time", "0.5",
    ]  # fmt: skip
    assert inputs.secrets == ["s3"]
    assert inputs.run_load and not _inputs(tmp_path, url="u", jwt_secret="s", load="false").run_load


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jwt_secret": "s"}, "input url: give the base URL"),
        ({"url": "http://a"}, "give one token source"),
        ({"url": "http://a", "jwt_secret": "s", "slo": "missing.toml"}, "input slo: no file"),
        ({"url": "http://a", "jwt_private_key": "key.pem"}, "input jwt-private-key: no file"),
        ({"url": "http://a", "jwt_secret": "s", "load_args": "--x 'open"}, "input load-args"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line_errors(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        _inputs(tmp_path, **values)
    assert "\n" not in str(caught.value)


def test_a_token_option_load_does_not_take_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """`crm-harness load` without --token-cmd (as before issue 11 reached it): refused in one
    line that says what to do, not after the conformance run."""
    parser = argparse.ArgumentParser()
    load = parser.add_subparsers().add_parser("load")
    for option in ("--url", "--jwt-secret", "--report"):
        load.add_argument(option)
    inputs = _inputs(tmp_path, url="http://a", token_cmd="./mint-token")
    with pytest.raises(UsageError, match=r"takes no --token-cmd .* or set load: false"):
        inputs.load_args(parser)
    assert inputs.conform_args()[:5] == [
        "conform",
        "--url",
        "http://a",
        "--token-cmd",
        "./mint-token",
    ]
