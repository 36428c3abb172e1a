"""`report.json`: `{"specVersion", "target", "summary", "requirements": {id: {...}}}`."""

from __future__ import annotations

import json
from pathlib import Path

from .._model import ConformanceResult

__all__ = ["JsonReport"]


class JsonReport:
    def write(self, result: ConformanceResult, path: Path) -> None:
        path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
