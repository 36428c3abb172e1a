"""The spec as a contract: OpenAPI/AsyncAPI documents and payload validation, both generated
from `harness.spec`.

```python
from harness.contract import PayloadValidator, render
print(render("asyncapi"))
PayloadValidator().event("escrow:created", payload)      # [Violation(...)] or []
```
"""

from __future__ import annotations

from ._documents import FORMATS, asyncapi_document, openapi_document, render
from ._validate import PayloadValidator, Violation, json_path

__all__ = [
    "FORMATS",
    "PayloadValidator",
    "Violation",
    "asyncapi_document",
    "json_path",
    "openapi_document",
    "render",
]
