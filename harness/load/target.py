"""The run's target as every generator process gets it, remote Locust workers included.

The controller resolves the target options (`harness._target_options`: token source, TLS
trust, extra headers, Socket.IO path) once and writes them into the load config with the
files they name carried inline, so that a worker on another machine needs nothing but that
file: no `JWT_SECRET` in its environment, no copy of the CA or of the private key. Each
generator process rebuilds the one `TargetConnection` from it with `worker_connection`.

The config file therefore holds secrets (the HS256 secret or the private key, header values
such as API keys): the controller writes it readable by its owner only.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.client import TargetConnection, TokenFactory, TokenSource, target_connection

__all__ = ["EMBEDDED_FILES", "worker_connection", "worker_target"]

# Options that name a file whose content a worker needs.
EMBEDDED_FILES = ("ca_cert", "jwt_private_key")
_FILES_KEY = "files"


def worker_target(values: Mapping[str, Any], tokens: TokenSource) -> dict[str, Any]:
    """What the load config carries of the target: the option values given, the secret the
    controller resolved (`--jwt-secret`, env JWT_SECRET or the bundled server's), the
    content of the files named. `values` must have been checked (`target_connection`)."""
    data: dict[str, Any] = {k: v for k, v in values.items() if v not in (None, False, [], "")}
    if isinstance(tokens, TokenFactory):
        data["jwt_secret"] = tokens.secret
    data[_FILES_KEY] = {
        name: Path(data[name]).read_text() for name in EMBEDDED_FILES if data.get(name)
    }
    return data


def worker_connection(data: Mapping[str, Any], urls: Sequence[str]) -> TargetConnection:
    """The `TargetConnection` of a generator process; the embedded files go to a private
    scratch directory removed when the process exits."""
    values = {k: v for k, v in data.items() if k != _FILES_KEY}
    files: Mapping[str, str] = data.get(_FILES_KEY) or {}
    if files:
        scratch = Path(tempfile.mkdtemp(prefix="crm-load-target-"))  # mode 0700
        atexit.register(shutil.rmtree, scratch, True)
        for name, text in files.items():
            path = scratch / name
            path.write_text(text)
            values[name] = str(path)
    return target_connection(urls, values, env={})
