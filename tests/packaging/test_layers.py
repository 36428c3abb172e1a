"""The import-linter contracts in pyproject.toml (run by `make lint`) cover every module of
the harness: a new one must be placed in a layer and named in the forbidden lists, or the
contracts would let it through unchecked."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import harness

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _harness_modules() -> set[str]:
    return {f"harness.{m.name}" for m in pkgutil.iter_modules(harness.__path__)}


def _contract(fragment: str) -> dict[str, Any]:
    [contract] = [c for name, c in _contracts().items() if fragment in name]
    return contract


def test_forbidden_lists_name_every_harness_module_but_the_allowed_one() -> None:
    modules = _harness_modules()
    assert {"harness.spec", "harness.load", "harness.cli"} <= modules
    for fragment, allowed in (
        ("harness.spec, the wire contract", "harness.spec"),
        ("reference_server imports nothing of the harness", "harness.spec"),
        ("scenarios import harness.load only", "harness.load"),
    ):
        forbidden = set(_contract(fragment)["forbidden_modules"])
        missing = modules - {allowed} - forbidden
        assert not missing, f"add {sorted(missing)} to the contract {fragment!r} in pyproject.toml"
        assert allowed not in forbidden


def test_every_harness_module_has_a_layer() -> None:
    layers = _contract("harness layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    missing = _harness_modules() - {"harness.__main__"} - placed
    assert not missing, f"place {sorted(missing)} in the harness layers contract (pyproject.toml)"
