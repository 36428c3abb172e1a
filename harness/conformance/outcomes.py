"""Outcomes a check can report besides pass and fail: not-run, non-strict, info.

`not_run(reason)` ends the check (a pytest skip the plugin reads as `not-run`); `note(...)`
records a `non-strict` or `info` outcome (or a remark on a pass) for one id and lets the
check go on.
"""

from __future__ import annotations

import json
from typing import NoReturn

import pytest

from ._model import Outcome

__all__ = ["EXERCISED_PROPERTY", "NOTE_PROPERTY", "NOT_RUN_PREFIX", "exercised", "not_run", "note"]

NOT_RUN_PREFIX = "not-run: "
NOTE_PROPERTY = "crm-note"
EXERCISED_PROPERTY = "crm-exercised"


def not_run(reason: str) -> NoReturn:
    """This check cannot run against this target or with these settings; say why."""
    pytest.skip(NOT_RUN_PREFIX + reason)


def note(item: pytest.Item, requirement: str, outcome: Outcome, message: str) -> None:
    """Attach an outcome for `requirement` to the running test, used if the test passes:
    NON_STRICT (a SHOULD missed), INFO (observed, nothing judged), or PASSED with a remark
    (e.g. a measured figure)."""
    if outcome not in (Outcome.NON_STRICT, Outcome.INFO, Outcome.PASSED):
        raise ValueError(f"a note is non-strict, info or a passed remark, not {outcome}")
    payload = {"requirement": requirement, "outcome": outcome.value, "message": message}
    item.user_properties.append((NOTE_PROPERTY, json.dumps(payload)))


def exercised(item: pytest.Item, requirement: str, *paths: str) -> None:
    """The running check drove `requirement` along `paths` (cells of the report's matrix)."""
    item.user_properties.append((EXERCISED_PROPERTY, json.dumps([requirement, list(paths)])))
