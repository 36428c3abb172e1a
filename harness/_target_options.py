"""The options that say how to reach a target, defined once for every front end.

`crm-harness conform/load/sweep/capacity` add them as `--NAME` (argparse, in `harness.cli`),
the pytest plugin as `--crm-NAME`; both hand the parsed values to
`harness.client.target_connection()`, which checks them and builds the one
`TargetConnection` everything downstream takes. Pure data (and `harness.spec`), so that the pytest
plugin, loaded by every pytest run, stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.spec import SOCKETIO_PATH

__all__ = ["ASYMMETRIC_ALGORITHMS", "SECRET_ENV", "TARGET_OPTIONS", "TargetOption"]

SECRET_ENV = "JWT_SECRET"
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True, slots=True)
class TargetOption:
    name: str  # `ca-cert` → --ca-cert / --crm-ca-cert; dest `ca_cert`
    help: str
    metavar: str | None = None
    kind: Literal["value", "flag", "append"] = "value"
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def add_argument_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of argparse's `add_argument` (pytest's `addoption` takes the
        same), so that every front end defines the option alike."""
        if self.kind == "flag":
            return {"action": "store_true", "default": False, "help": self.help}
        kwargs: dict[str, Any] = {"metavar": self.metavar, "help": self.help}
        if self.kind == "append":
            kwargs.update(action="append", default=[])
        if self.choices:
            kwargs["choices"] = self.choices
        return kwargs


TARGET_OPTIONS: tuple[TargetOption, ...] = (
    TargetOption("jwt-secret", f"HS256 secret the target trusts (env {SECRET_ENV})", "S"),
    TargetOption("jwt-private-key", "sign RS256/ES256 tokens with this PEM private key", "FILE"),
    TargetOption("jwt-alg", "with --jwt-private-key: RS256 or ES256 (default: the key's kind)",
                 "ALG", choices=ASYMMETRIC_ALGORITHMS),
    TargetOption("jwt-kid", "with --jwt-private-key: the key id put in tokens' header", "KID"),
    TargetOption("token-cmd", "shell command that reads a user's claims (JSON) on stdin and "
                 "prints its token: for identity providers that mint tokens", "CMD"),
    TargetOption("ca-cert", "trust this PEM CA for https:// targets (a private CA)", "FILE"),
    TargetOption("insecure", "do not verify TLS certificates (warned on every run)",
                 kind="flag"),
    TargetOption("header", "extra header on every REST call and WebSocket handshake, e.g. "
                 "'X-Api-Key: abc' (repeatable)", "'NAME: VALUE'", kind="append"),
    TargetOption("socketio-path", f"where the target mounts Socket.IO (default {SOCKETIO_PATH})",
                 "PATH"),
)  # fmt: skip
